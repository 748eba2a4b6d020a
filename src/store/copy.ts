/**
 * A deep copy with the semantics of `structuredClone` for what the engine stores, several
 * times faster for the common case: plain objects, arrays and primitives are copied here;
 * anything else (Date, Map, typed arrays, class instances...) goes to `structuredClone`, which
 * also throws its `DataCloneError` for functions and symbols found there. Cycles fall back to
 * `structuredClone` too (through the depth limit); an object reached twice is copied twice,
 * which the engine's records, built fresh for each write, never notice.
 */
export function copy<T>(value: T): T {
  if (typeof value !== 'object' || value === null) {
    if (typeof value === 'function' || typeof value === 'symbol') throw uncloneable(value);
    return value;
  }
  try {
    return copyObject(value, 0) as T;
  } catch (error) {
    if (error !== SLOW_PATH) throw error;
    return structuredClone(value);
  }
}

/** Thrown inside the fast path to hand the whole value to `structuredClone`. */
const SLOW_PATH = Symbol('slow path');

/** Deep enough for any record the engine writes; deeper values take the slow path. */
const MAX_DEPTH = 64;

function copyObject(value: object, depth: number): unknown {
  if (depth > MAX_DEPTH) throw SLOW_PATH;
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) out[i] = copyValue(value[i], depth);
    return out;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) throw SLOW_PATH;
  const out: Record<string, unknown> = {};
  for (const key in value) {
    const v = copyValue((value as Record<string, unknown>)[key], depth);
    // A `__proto__` key (JSON.parse makes one, a foreign record may hold one) stays a key, as
    // structured cloning keeps it: assigned, it would set the copy's prototype instead.
    if (key === '__proto__')
      Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
    else out[key] = v;
  }
  return out;
}

function copyValue(v: unknown, depth: number): unknown {
  switch (typeof v) {
    case 'object':
      return v === null ? null : copyObject(v, depth + 1);
    case 'function':
    case 'symbol':
      throw uncloneable(v);
    default:
      return v;
  }
}

function uncloneable(v: unknown): DOMException {
  return new DOMException(`${String(v)} could not be cloned.`, 'DataCloneError');
}

/**
 * `record` itself, with a copy of everything it holds (objects `levels` deep are kept, what
 * they hold is copied). A write keeps the records and events the engine builds fresh for it,
 * and copies only what they hold: payloads, policies and references may be shared with code
 * that changes them later. The shells were most of what a write copied.
 */
export function own<T extends object>(record: T, levels = 1): T {
  const fields = record as Record<string, unknown>;
  for (const key in fields) {
    const value = fields[key];
    if (typeof value === 'object' && value !== null) {
      fields[key] = levels > 1 ? own(value, levels - 1) : copy(value);
    } else if (typeof value === 'function' || typeof value === 'symbol') {
      throw uncloneable(value);
    }
  }
  return record;
}
