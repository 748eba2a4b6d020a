import { activeRuntime } from '../engine/index.ts';

/**
 * Workflow code sees the workflow task's time in `Date` and the run's seeded `Math.random`;
 * any other code (activities, the host) sees the real ones. The runtime is only active
 * inside an activation, which never spans a macrotask, so the two cannot mix.
 */
const RealDate = Date;
const realRandom = Math.random;

/** The real clock, whatever workflow code is running. */
export const realNow: () => number = () => RealDate.now();

/**
 * Patches the global `Date` and `Math.random` once per realm, even with several copies of
 * this module loaded (the flag is on the global). Idempotent.
 */
export function installDeterminism(): void {
  const realm = globalThis as { __weftDeterminism?: boolean };
  if (realm.__weftDeterminism) return;
  realm.__weftDeterminism = true;
  const now = () => activeRuntime()?.currentTime() ?? RealDate.now();
  function WeftDate(this: unknown, ...args: unknown[]): Date | string {
    // `Date()` is `new Date().toString()`.
    if (!new.target) return new RealDate(now()).toString();
    if (args.length === 0) return new RealDate(now());
    // The common `new Date(ms)` without Reflect.construct: same prototype, a fraction of the cost.
    if (args.length === 1 && new.target === WeftDate) return new RealDate(args[0] as number);
    return Reflect.construct(RealDate, args, new.target) as Date;
  }
  WeftDate.prototype = RealDate.prototype;
  WeftDate.now = now;
  WeftDate.parse = RealDate.parse;
  WeftDate.UTC = RealDate.UTC;
  Object.defineProperty(RealDate.prototype, 'constructor', {
    value: WeftDate,
    writable: true,
    configurable: true,
  });
  (globalThis as { Date: unknown }).Date = WeftDate;
  Math.random = () => activeRuntime()?.nextRandom() ?? realRandom();
}

/**
 * Real randomness drawn from the platform a few kilobytes at a time: one `getRandomValues`
 * call costs several microseconds whatever its size, and every run needs a seed.
 */
const pool = new Uint32Array(1024);
let poolIndex = pool.length;

/** A random 32-bit unsigned integer (from `crypto.getRandomValues`). */
export function randomUint32(): number {
  if (poolIndex === pool.length) {
    crypto.getRandomValues(pool);
    poolIndex = 0;
  }
  return pool[poolIndex++]!;
}
