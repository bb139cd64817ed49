/**
 * Protobuf-es schemas and service descriptors of the two gRPC APIs TopoLVM speaks, generated from `proto/`:
 * `lvmd` (package `proto`: LVService, VGService) and `csi` (package `csi.v1`: Identity, Controller,
 * GroupController, SnapshotMetadata, Node).
 * Namespaced so every name says which API it belongs to: `lvmd.LVService`, `csi.CreateVolumeRequestSchema`.
 */
export * as lvmd from "./gen/lvmd_pb.js";
export * as csi from "./gen/csi_pb.js";
