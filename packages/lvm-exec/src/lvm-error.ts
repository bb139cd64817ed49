/**
 * Why an LVM operation failed:
 * - `InvalidArgument`: a bad name, tag, size or extra argument, found before any command runs;
 * - `NotFound`: the volume group, logical volume, thin pool or snapshot origin does not exist;
 * - `AlreadyExists`: a logical volume of that name already exists in the volume group;
 * - `InsufficientSpace`: the volume group has too few free extents for the request;
 * - `Timeout`: the command ran longer than `timeoutMs` and was killed;
 * - `CommandFailed`: anything else (the command could not start, failed otherwise, or printed a report that
 *   does not parse).
 */
export type LvmErrorCode = "InvalidArgument" | "NotFound" | "AlreadyExists" | "InsufficientSpace" | "Timeout" | "CommandFailed";

export interface LvmErrorDetails {
  /** The full argv that ran (prefix or lvm binary included); empty when no command ran. */
  argv?: readonly string[];
  /** The exit code; null when no command ran or it was killed by a signal. */
  exitCode?: number | null;
  stderr?: string;
  cause?: unknown;
}

/** The one error type of this library: a code for programs, a message for people, and what ran. */
export class LvmError extends Error {
  override readonly name = "LvmError";
  readonly code: LvmErrorCode;
  readonly argv: readonly string[];
  readonly exitCode: number | null;
  readonly stderr: string;

  constructor(code: LvmErrorCode, message: string, details: LvmErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.argv = details.argv ?? [];
    this.exitCode = details.exitCode ?? null;
    this.stderr = details.stderr ?? "";
  }
}

/** Type guard for LvmError, optionally of one code. */
export function isLvmError(value: unknown, code?: LvmErrorCode): value is LvmError {
  return value instanceof LvmError && (code === undefined || value.code === code);
}

// stderr texts of lvm2 2.03 (recorded from the real commands, see src/fixtures/stderr.ts), most specific first.
const stderrCodes: readonly (readonly [RegExp, LvmErrorCode])[] = [
  [/Logical Volume "[^"]*" already exists in volume group/i, "AlreadyExists"],
  [/insufficient free space|Insufficient suitable allocatable extents/i, "InsufficientSpace"],
  [/Volume group "[^"]*" not found/, "NotFound"],
  [/Failed to find logical volume "/, "NotFound"],
  [/Logical volume \S+ not found in volume group/, "NotFound"],
  [/Snapshot origin LV \S+ not found in Volume group/, "NotFound"],
  [/Pool \S+ not found in Volume group/, "NotFound"],
];

/** The code for a failed command, from LVM's messages on stderr; CommandFailed when none is recognised. */
export function classifyFailure(stderr: string): LvmErrorCode {
  for (const [pattern, code] of stderrCodes) {
    if (pattern.test(stderr)) return code;
  }
  return "CommandFailed";
}
