/**
 * A deep copy with the semantics of `structuredClone` for what the engine stores, several
 * times faster for the common case: plain objects, arrays and primitives are copied here;
 * anything else (Date, Map, typed arrays, class instances...) goes to `structuredClone`, which
 * also throws its `DataCloneError` for functions and symbols found there. Cycles fall back to
 * `structuredClone` too (through the depth limit); an object reached twice is copied twice,
 * which the engine's records, built fresh for each write, never notice.
 */
export function copy<T>(value: T): T {
  try {
    return copyValue(value, 0) as T;
  } catch (error) {
    if (error !== SLOW_PATH) throw error;
    return structuredClone(value);
  }
}

/** Thrown inside the fast path to hand the whole value to `structuredClone`. */
const SLOW_PATH = Symbol('slow path');

/** Deep enough for any record the engine writes; deeper values take the slow path. */
const MAX_DEPTH = 64;

function copyValue(value: unknown, depth: number): unknown {
  if (typeof value === 'function' || typeof value === 'symbol') {
    throw new DOMException(`${String(value)} could not be cloned.`, 'DataCloneError');
  }
  if (typeof value !== 'object' || value === null) return value;
  if (depth > MAX_DEPTH) throw SLOW_PATH;
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) out[i] = copyValue(value[i], depth + 1);
    return out;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) throw SLOW_PATH;
  const out: Record<string, unknown> = {};
  for (const key in value) out[key] = copyValue((value as Record<string, unknown>)[key], depth + 1);
  return out;
}
