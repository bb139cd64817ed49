import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import net from "node:net";
import { Health, ServingStatus } from "./health.js";

/** A gRPC transport (Connect client side) to a server on a unix socket. */
export function unixSocketTransport(socketPath: string): ReturnType<typeof createGrpcTransport> {
  return createGrpcTransport({ baseUrl: "http://localhost", nodeOptions: { createConnection: () => net.connect(socketPath) } });
}

/** Asks the lvmd on `socketPath` for its health (grpc.health.v1 Check of the whole server). */
export async function checkHealth(socketPath: string, timeoutMs: number): Promise<ServingStatus> {
  const client = createClient(Health, unixSocketTransport(socketPath));
  const response = await client.check({ service: "" }, { timeoutMs });
  return response.status;
}

