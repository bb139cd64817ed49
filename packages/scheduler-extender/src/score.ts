/** Lowest and highest score an extender may return (kube-scheduler's MinExtenderPriority and MaxExtenderPriority). */
export const minScore = 0;
export const maxScore = 10;

/**
 * Scores free capacity as `min(10, max(0, floor(log2((capacityBytes >> 30) / divisor))))`: whole GiB, so a node with
 * less than 1 GiB free scores 0 (log2 of 0 is -Infinity), and one more point per doubling of free space. The shift
 * stays in BigInt because byte counts go past 2^53; whole GiB fit a double.
 */
export function capacityScore(capacityBytes: bigint, divisor: number): number {
  const score = Math.floor(Math.log2(Number(capacityBytes >> 30n) / divisor));
  return Math.min(maxScore, Math.max(minScore, score));
}
