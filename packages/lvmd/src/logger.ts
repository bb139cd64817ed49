import { pino, type Level, type Logger } from "pino";

/** pino levels accepted by --log-level. */
export const logLevels: readonly Level[] = ["fatal", "error", "warn", "info", "debug", "trace"];

/** lvmd's one logger: JSON lines on stdout with ISO timestamps. */
export function createLogger(level: Level, destination?: pino.DestinationStream): Logger {
  const options = { level, base: { component: "lvmd" }, timestamp: pino.stdTimeFunctions.isoTime };
  return destination === undefined ? pino(options) : pino(options, destination);
}
