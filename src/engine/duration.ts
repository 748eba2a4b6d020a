import { InvalidArgumentError } from './failure.ts';

/** A duration: milliseconds as a number, or a string such as `'30s'`, `'5 minutes'`, `'1h'`. */
export type Duration = number | string;

/**
 * A number, then optionally a unit: each group is one unit's spellings (case-insensitive),
 * in the order of `factors`; the last, milliseconds, is also what no unit means.
 */
const pattern =
  /^\s*(-?\d+(?:\.\d+)?)\s*(?:(s|secs?|seconds?)|(m|mins?|minutes?)|(h|hrs?|hours?)|(d|days?)|(w|weeks?)|(ms|msecs?|milliseconds?))?\s*$/i;
const factors = [1_000, 60_000, 3_600_000, 86_400_000, 604_800_000, 1];

/**
 * Normalises a duration to milliseconds (strings rounded to whole ms).
 * @example msToNumber('5 minutes') // 300000
 * @throws InvalidArgumentError for a malformed, negative or non-finite duration.
 */
export function msToNumber(duration: Duration): number {
  let ms = duration as number;
  if (typeof duration === 'string') {
    const match = pattern.exec(duration);
    // NaN (refused below) when it does not parse or names no known unit.
    ms = Number.NaN;
    if (match) {
      let unit = 0;
      while (unit < 5 && match[unit + 2] === undefined) unit++;
      ms = Number(match[1]) * factors[unit]!;
    }
  }
  if (!(ms >= 0 && ms < Number.POSITIVE_INFINITY)) {
    throw new InvalidArgumentError(
      `Invalid duration '${duration}': expected ms >= 0 or e.g. '30s', '5 minutes', '1h'`,
    );
  }
  return typeof duration === 'string' ? Math.round(ms) : ms;
}

/** Like {@link msToNumber} but passes `undefined` through. */
export function msOptional(duration: Duration | undefined): number | undefined {
  return duration === undefined ? undefined : msToNumber(duration);
}
