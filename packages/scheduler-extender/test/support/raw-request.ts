import { request as httpRequest, type ClientRequest, type IncomingHttpHeaders } from "node:http";

/** A response read whole. */
export interface RawResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/**
 * Opens a POST whose body the caller writes piecewise and ends, for tests of body limits, framing and requests still in
 * flight when the server drains. The response resolves as soon as it arrives, even before the body is all written.
 */
export function openRequest(
  url: string,
  headers: Record<string, string | number> = {},
): { request: ClientRequest; response: Promise<RawResponse> } {
  const request = httpRequest(url, { method: "POST", headers });
  const response = new Promise<RawResponse>((resolve, reject) => {
    request.on("error", reject);
    request.on("response", (incoming) => {
      let body = "";
      incoming.setEncoding("utf8");
      incoming.on("data", (chunk: string) => (body += chunk));
      incoming.on("end", () => {
        resolve({ status: incoming.statusCode ?? 0, headers: incoming.headers, body });
      });
    });
  });
  return { request, response };
}
