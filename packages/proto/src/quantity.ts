/**
 * Kubernetes resource quantities (`10Gi`, `1G`, `500M`, `1.5Gi`, `1e9`, `1500m`) parsed exactly with BigInt, following
 * the grammar of k8s.io/apimachinery's resource.Quantity: a signed decimal number, then a binary-SI suffix
 * (Ki…Ei), a decimal-SI suffix (m, k, M…E) or a decimal exponent (e/E and a signed integer).
 */

/** The largest value a Kubernetes int64 quantity holds; consumers of our annotations parse int64. */
export const maxQuantityValue = (1n << 63n) - 1n;

/** Longer strings are refused so a request body cannot make us build huge numbers. */
const maxQuantityLength = 64;

const numberPattern = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(.*)$/;
const exponentPattern = /^[eE]([+-]?\d+)$/;

const binarySuffixes: Readonly<Record<string, bigint>> = { Ki: 10n, Mi: 20n, Gi: 30n, Ti: 40n, Pi: 50n, Ei: 60n };
const decimalSuffixes: Readonly<Record<string, number>> = { m: -3, "": 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

/** Thrown for text that is not a Kubernetes quantity, or one out of the int64 range. */
export class QuantityError extends Error {
  constructor(
    readonly text: string,
    reason: string,
  ) {
    super(`invalid quantity ${JSON.stringify(text)}: ${reason}`);
    this.name = "QuantityError";
  }
}

/**
 * The value of a quantity as a whole number, fractions rounded away from zero as Kubernetes' Quantity.Value() does
 * (`1.5` → 2, `1500m` → 2, `1e-9` → 1).
 */
export function parseQuantity(text: string): bigint {
  if (text.length === 0) {
    throw new QuantityError(text, "empty");
  }
  if (text.length > maxQuantityLength) {
    throw new QuantityError(text.slice(0, maxQuantityLength) + "…", `longer than ${maxQuantityLength} characters`);
  }
  const match = numberPattern.exec(text);
  if (match === null) {
    throw new QuantityError(text, "expected a decimal number such as 10, 1.5 or .5 before the suffix");
  }
  const [, sign = "", number = "", suffix = ""] = match;
  const [integerDigits = "", fractionDigits = ""] = number.split(".");
  const digits = BigInt(integerDigits + fractionDigits || "0");
  const { decimalExponent, binaryExponent } = parseSuffix(text, suffix);
  const magnitude = scale(text, digits, decimalExponent - fractionDigits.length, binaryExponent);
  if (magnitude > maxQuantityValue) {
    throw new QuantityError(text, `larger than ${maxQuantityValue}`);
  }
  return sign === "-" ? -magnitude : magnitude;
}

function parseSuffix(text: string, suffix: string): { decimalExponent: number; binaryExponent: bigint } {
  const binaryExponent = binarySuffixes[suffix];
  if (binaryExponent !== undefined) {
    return { decimalExponent: 0, binaryExponent };
  }
  const decimalExponent = decimalSuffixes[suffix];
  if (decimalExponent !== undefined) {
    return { decimalExponent, binaryExponent: 0n };
  }
  const exponent = exponentPattern.exec(suffix);
  if (exponent?.[1] !== undefined) {
    return { decimalExponent: Number(exponent[1]), binaryExponent: 0n };
  }
  throw new QuantityError(text, `unknown suffix ${JSON.stringify(suffix)} (expected Ki…Ei, m, k, M…E or an exponent)`);
}

/** digits × 10^decimalExponent × 2^binaryExponent, rounded up to a whole number. */
function scale(text: string, digits: bigint, decimalExponent: number, binaryExponent: bigint): bigint {
  if (digits === 0n) {
    return 0n;
  }
  const numerator = digits << binaryExponent;
  if (decimalExponent >= 0) {
    // digits ≥ 1, so 10^19 already exceeds the int64 range: refuse before building a huge power of ten.
    if (decimalExponent > 19) {
      throw new QuantityError(text, `larger than ${maxQuantityValue}`);
    }
    return numerator * 10n ** BigInt(decimalExponent);
  }
  // Once 10^-exponent exceeds the numerator the value lies in (0, 1) and rounds up to 1 whatever the exponent, so a
  // huge negative exponent is clamped instead of computed.
  const numeratorDigits = numerator.toString().length;
  const divisor = 10n ** BigInt(Math.min(-decimalExponent, numeratorDigits + 1));
  return (numerator + divisor - 1n) / divisor;
}
