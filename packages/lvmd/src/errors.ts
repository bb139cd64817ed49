import { Code, ConnectError } from "@connectrpc/connect";
import { isLvmError, type LvmErrorCode } from "@topolvm/lvm-exec";

/** The gRPC code for each way an LVM operation fails. */
export const lvmErrorCodes: Readonly<Record<LvmErrorCode, Code>> = {
  InvalidArgument: Code.InvalidArgument,
  NotFound: Code.NotFound,
  AlreadyExists: Code.AlreadyExists,
  InsufficientSpace: Code.ResourceExhausted,
  Timeout: Code.DeadlineExceeded,
  CommandFailed: Code.Internal,
};

/**
 * The one mapping from anything a handler throws to the error a client sees: ConnectErrors pass through, LvmErrors
 * get their gRPC code and keep LVM's stderr in the message, an abort is Canceled, anything else is Internal.
 */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) {
    return err;
  }
  if (isLvmError(err)) {
    const stderr = err.stderr.trim();
    const message = stderr === "" || err.message.includes(stderr) ? err.message : `${err.message}\n${stderr}`;
    return new ConnectError(message, lvmErrorCodes[err.code], undefined, undefined, err);
  }
  // A call whose client went away stops its LVM command with the signal's AbortError.
  if (err instanceof Error && err.name === "AbortError") {
    return new ConnectError(err.message, Code.Canceled, undefined, undefined, err);
  }
  return new ConnectError(err instanceof Error ? err.message : String(err), Code.Internal, undefined, undefined, err);
}

/** Shorthands for the errors lvmd raises itself. */
export const invalidArgument = (message: string): ConnectError => new ConnectError(message, Code.InvalidArgument);
export const notFound = (message: string): ConnectError => new ConnectError(message, Code.NotFound);
