/** Binary units as LVM uses them, largest first. */
const binaryUnits = [
  ["T", 2 ** 40],
  ["G", 2 ** 30],
  ["M", 2 ** 20],
  ["K", 2 ** 10],
] as const;

/**
 * Parses a size as LVM writes them: a whole number with an optional binary unit K, M, G or T (also Ki/KiB/KB...).
 * `field` names the option in the error message.
 */
export function parseSize(text: string, field: string): number {
  const match = /^(\d+)\s*([kmgt]?)(?:ib?|b)?$/i.exec(text.trim());
  if (match?.[1] === undefined) {
    throw new Error(`${field}: "${text}" is not a size; expected a whole number with an optional unit K, M, G or T`);
  }
  const unit = match[2]?.toUpperCase() ?? "";
  const multiplier = binaryUnits.find(([suffix]) => suffix === unit)?.[1] ?? 1;
  const bytes = Number(match[1]) * multiplier;
  if (bytes <= 0 || !Number.isSafeInteger(bytes)) {
    throw new Error(`${field}: "${text}" must be a positive size below 8 PiB`);
  }
  return bytes;
}

/** Formats bytes with the largest binary unit that divides them evenly, for messages and status output. */
export function formatSize(bytes: number): string {
  const unit = binaryUnits.find(([, multiplier]) => bytes >= multiplier && bytes % multiplier === 0);
  return unit === undefined ? `${bytes}B` : `${bytes / unit[1]}${unit[0]}`;
}
