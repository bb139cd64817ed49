import { pino, type Level, type Logger } from "pino";

/** pino levels accepted by --log-level. */
export const logLevels: readonly Level[] = ["fatal", "error", "warn", "info", "debug", "trace"];

/** The one logger of a csi-plugin process: JSON lines on stdout with ISO timestamps, tagged with the component. */
export function createLogger(component: string, level: Level, destination?: pino.DestinationStream): Logger {
  const options = { level, base: { component }, timestamp: pino.stdTimeFunctions.isoTime };
  return destination === undefined ? pino(options) : pino(options, destination);
}
