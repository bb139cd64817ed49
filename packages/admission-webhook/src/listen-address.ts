/** Where a server listens: host undefined means every interface. */
export interface ListenAddress {
  readonly host: string | undefined;
  readonly port: number;
}

const addressPattern = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]*)):(\d{1,5})$/;

/** Parses `host:port`, `:port` or `[ipv6]:port` (Go's net.Listen form, as upstream's flags use). */
export function parseListenAddress(text: string, flag: string): ListenAddress {
  const match = addressPattern.exec(text);
  const port = Number(match?.[3]);
  if (match === null || port > 65535) {
    throw new Error(`${flag}: ${JSON.stringify(text)} is not host:port, :port or [ipv6]:port with a port up to 65535`);
  }
  const host = match[1] ?? match[2];
  return { host: host === "" ? undefined : host, port };
}

/** The address as an operator writes it, for logs. */
export function formatListenAddress(address: ListenAddress): string {
  if (address.host === undefined) {
    return `:${address.port}`;
  }
  return address.host.includes(":") ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}
