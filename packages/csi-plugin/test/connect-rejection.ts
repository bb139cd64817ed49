import { ConnectError, type Code } from "@connectrpc/connect";

/** The code and raw message of the ConnectError a synchronous call throws; any other outcome fails the test. */
export function rejection(fn: () => unknown): { code: Code; message: string } {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConnectError) {
      return { code: error.code, message: error.rawMessage };
    }
    throw error;
  }
  throw new Error("expected a ConnectError");
}
