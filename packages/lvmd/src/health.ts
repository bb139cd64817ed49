import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { health } from "@topolvm/proto";

/** The grpc.health.v1.Health service descriptor (from @topolvm/proto, re-exported for lvmd's clients). */
export const Health = health.Health;
/** grpc.health.v1.HealthCheckResponse.ServingStatus, under its short name. */
export const ServingStatus = health.HealthCheckResponse_ServingStatus;
/** A grpc.health.v1.HealthCheckResponse.ServingStatus value. */
export type ServingStatus = health.HealthCheckResponse_ServingStatus;

/** The grpc.health.v1.Health service: SERVING until markNotServing(), then NOT_SERVING (while draining). */
export interface HealthState {
  readonly impl: ServiceImpl<typeof Health>;
  markNotServing(): void;
}

/** `services` are the full names a client may ask about; "" always means the whole server. */
export function createHealth(services: readonly string[]): HealthState {
  const known = new Set(["", ...services]);
  let status = ServingStatus.SERVING;
  const watchers = new Set<() => void>();

  function check(service: string): ServingStatus {
    if (!known.has(service)) {
      throw new ConnectError(`unknown service ${JSON.stringify(service)}`, Code.NotFound);
    }
    return status;
  }

  return {
    markNotServing() {
      status = ServingStatus.NOT_SERVING;
      for (const wake of watchers) {
        wake();
      }
    },
    impl: {
      check(req) {
        return { status: check(req.service) };
      },
      async *watch(req, context) {
        // The health protocol answers SERVICE_UNKNOWN on a watch of an unknown service instead of failing.
        if (!known.has(req.service)) {
          yield { status: ServingStatus.SERVICE_UNKNOWN };
          return;
        }
        let sent: ServingStatus | undefined;
        while (!context.signal.aborted) {
          if (sent !== status) {
            sent = status;
            yield { status };
            continue;
          }
          await new Promise<void>((resolve) => {
            const wake = (): void => {
              watchers.delete(wake);
              context.signal.removeEventListener("abort", wake);
              resolve();
            };
            watchers.add(wake);
            context.signal.addEventListener("abort", wake);
          });
        }
      },
    },
  };
}
