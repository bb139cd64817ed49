import { describe, expect, it } from "vitest";
import { formatListenAddress, parseListenAddress } from "./listen-address.js";

describe("parseListenAddress", () => {
  it.each([
    [":9443", undefined, 9443],
    ["0.0.0.0:9443", "0.0.0.0", 9443],
    ["127.0.0.1:0", "127.0.0.1", 0],
    ["localhost:8080", "localhost", 8080],
    ["[::1]:9443", "::1", 9443],
    ["[::]:65535", "::", 65535],
  ])("reads %s", (text, host, port) => {
    expect(parseListenAddress(text, "--listen")).toEqual({ host, port });
  });

  it.each(["9443", "host", ":", ":65536", "::1:9443", "[::1]", "a:b", ":-1", "[x]:1"])("rejects %j naming the flag", (text) => {
    expect(() => parseListenAddress(text, "--metrics-listen")).toThrow(
      `--metrics-listen: ${JSON.stringify(text)} is not host:port`,
    );
  });
});

describe("formatListenAddress", () => {
  it("writes addresses back as they are read", () => {
    for (const text of [":9443", "127.0.0.1:0", "[::1]:9443"]) {
      expect(formatListenAddress(parseListenAddress(text, "--listen"))).toBe(text);
    }
  });
});
