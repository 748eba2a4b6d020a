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
 * Normalises a duration to milliseconds.
 * @example msToNumber('5 minutes') // 300000
 * @throws InvalidArgumentError for a malformed, negative or non-finite duration.
 */
export function msToNumber(duration: Duration): number {
  if (typeof duration === 'number') {
    if (!Number.isFinite(duration) || duration < 0) {
      throw new InvalidArgumentError(`Invalid duration ${duration}: expected a finite number of ms >= 0`);
    }
    return duration;
  }
  const match = pattern.exec(duration);
  const unit = (match?.[2] ?? '').toLowerCase() || 'ms';
  const factor = units[unit];
  if (!match || factor === undefined) {
    throw new InvalidArgumentError(
      `Invalid duration '${duration}': expected e.g. 500, '30s', '5 minutes', '1h'`,
    );
  }
  const value = Number(match[1]) * factor;
  if (value < 0) throw new InvalidArgumentError(`Invalid duration '${duration}': negative`);
  return Math.round(value);
}

/** Like {@link msToNumber} but passes `undefined` through. */
export function msOptional(duration: Duration | undefined): number | undefined {
  return duration === undefined ? undefined : msToNumber(duration);
}
