import { InvalidArgumentError } from './failure.ts';

/** A duration: milliseconds as a number, or a string such as `'30s'`, `'5 minutes'`, `'1h'`. */
export type Duration = number | string;

const units: Record<string, number> = {
  ms: 1,
  msec: 1,
  msecs: 1,
  millisecond: 1,
  milliseconds: 1,
  s: 1_000,
  sec: 1_000,
  secs: 1_000,
  second: 1_000,
  seconds: 1_000,
  m: 60_000,
  min: 60_000,
  mins: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hr: 3_600_000,
  hrs: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000,
  w: 604_800_000,
  week: 604_800_000,
  weeks: 604_800_000,
};

const pattern = /^\s*(-?\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i;

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
    ms = match ? Number(match[1]) * (units[match[2]!.toLowerCase() || 'ms'] ?? Number.NaN) : Number.NaN;
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
