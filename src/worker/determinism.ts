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

let installed = false;

/** Patches the global `Date` and `Math.random` once per realm. Idempotent. */
export function installDeterminism(): void {
  if (installed || (globalThis as { __weftDeterminism?: boolean }).__weftDeterminism) return;
  installed = true;
  (globalThis as { __weftDeterminism?: boolean }).__weftDeterminism = true;
  function WeftDate(this: unknown, ...args: unknown[]): Date | string {
    const runtime = activeRuntime();
    if (!new.target) {
      return runtime ? new RealDate(runtime.currentTime()).toString() : RealDate();
    }
    if (args.length === 0) return new RealDate(runtime ? runtime.currentTime() : RealDate.now());
    // The common `new Date(ms)` without Reflect.construct: same prototype, a fraction of the cost.
    if (args.length === 1 && new.target === WeftDate) return new RealDate(args[0] as number);
    return Reflect.construct(RealDate, args, new.target) as Date;
  }
  WeftDate.prototype = RealDate.prototype;
  WeftDate.now = () => activeRuntime()?.currentTime() ?? RealDate.now();
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
 * call costs several microseconds whatever its size, and every run needs a seed and an ID.
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

const hex = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** A random (version 4) UUID, as `crypto.randomUUID()` makes, from the same pool. */
export function randomUuid(): string {
  const a = randomUint32();
  const b = randomUint32();
  const c = randomUint32();
  const d = randomUint32();
  const byte = (word: number, shift: number): string => hex[(word >>> shift) & 0xff]!;
  return (
    `${byte(a, 24)}${byte(a, 16)}${byte(a, 8)}${byte(a, 0)}-${byte(b, 24)}${byte(b, 16)}-` +
    `${hex[0x40 | ((b >>> 8) & 0x0f)]}${byte(b, 0)}-${hex[0x80 | ((c >>> 24) & 0x3f)]}${byte(c, 16)}-` +
    `${byte(c, 8)}${byte(c, 0)}${byte(d, 24)}${byte(d, 16)}${byte(d, 8)}${byte(d, 0)}`
  );
}
