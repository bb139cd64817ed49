import { createServer, type Server } from "node:net";

/**
 * Loopback ports free right now. All listeners stay open until every port is known, so one call never hands out
 * the same port twice.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve, reject) => {
          const server = createServer();
          server.once("error", reject);
          server.listen(0, "127.0.0.1", () => {
            resolve(server);
          });
        }),
    ),
  );
  const ports = servers.map((server) => {
    const address = server.address();
    if (address === null || typeof address === "string") {
      throw new Error("could not read the port of a loopback listener");
    }
    return address.port;
  });
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/** One free loopback port. */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  if (port === undefined) {
    throw new Error("no free loopback port");
  }
  return port;
}

/** undefined when a plain HTTP GET of the URL answers 200 within 3 s; otherwise what it answered or why it failed. */
export async function httpStatus(url: string): Promise<string | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(3_000) });
    const body = await response.text();
    return response.status === 200 ? undefined : `GET ${url}: ${response.status} ${body.trim().slice(0, 300)}`;
  } catch (error) {
    return `GET ${url}: ${error instanceof Error ? error.message : String(error)}`;
  }
}
