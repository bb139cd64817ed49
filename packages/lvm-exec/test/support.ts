import { expect } from "vitest";
import { LvmError, type LvmErrorCode } from "../src/lvm-error.js";

/** The LvmError a promise rejects with; fails the test when it resolves or rejects with something else. */
export async function rejection(promise: Promise<unknown>): Promise<LvmError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(LvmError);
    return error as LvmError;
  }
  throw new Error("expected a rejection");
}

/** The LvmError of the given code that `fn` throws; fails the test otherwise. */
export function thrown(fn: () => unknown, code: LvmErrorCode = "InvalidArgument"): LvmError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(LvmError);
    expect((error as LvmError).code).toBe(code);
    return error as LvmError;
  }
  throw new Error(`expected an LvmError ${code}`);
}
