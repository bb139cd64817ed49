/** Divisors of the score formula: one per device-class key, and the one used for every other class. */
export interface Divisors {
  readonly defaultDivisor: number;
  readonly byDeviceClass: ReadonlyMap<string, number>;
}

/** The divisor for a device-class key. */
export function divisorFor(divisors: Divisors, deviceClass: string): number {
  return divisors.byDeviceClass.get(deviceClass) ?? divisors.defaultDivisor;
}
