/**
 * Protobuf-es schemas and service descriptors of the gRPC APIs TopoLVM speaks, generated from `proto/`:
 * `lvmd` (package `proto`: LVService, VGService), `csi` (package `csi.v1`: Identity, Controller,
 * GroupController, SnapshotMetadata, Node) and `health` (package `grpc.health.v1`: Health, served by lvmd).
 * Namespaced so every name says which API it belongs to: `lvmd.LVService`, `csi.CreateVolumeRequestSchema`,
 * `health.Health`.
 */
export * as lvmd from "./gen/lvmd_pb.js";
export * as csi from "./gen/csi_pb.js";
export * as health from "./gen/grpc/health/v1/health_pb.js";
