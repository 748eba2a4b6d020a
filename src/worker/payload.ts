import { InvalidArgumentError } from '../engine/failure.ts';

/** Temporal's default blob size limit: a payload past it is refused. */
export const DEFAULT_PAYLOAD_LIMIT = 2 * 1024 * 1024;

/** Temporal's blob size warn limit: a payload past it is taken, with a warning. */
export const PAYLOAD_WARN_SIZE = 256 * 1024;

/** Long strings with none of these are counted at their length, by a regular expression. */
const NEEDS_COUNTING = /[^\x20\x21\x23-\x5b\x5d-\x7e]/;
/** Shorter ones are counted character by character (cheaper than the expression for them). */
const SHORT_STRING = 64;

/** The bytes of each ASCII character in a JSON string: `\"`, `\\`, `\n`..., `\u0001`... */
const ASCII_BYTES = Uint8Array.from({ length: 0x80 }, (_, c) =>
  c === 0x22 || c === 0x5c || c === 0x08 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d
    ? 2
    : c < 0x20
      ? 6
      : 1,
);

/**
 * The bytes a value takes encoded as Temporal's default data converter encodes it, as UTF-8
 * JSON: for JSON data, exactly `new TextEncoder().encode(JSON.stringify(value)).length` (an
 * `undefined` property left out, `undefined` in an array as `null`, a `Date` as its ISO string,
 * `NaN` and infinities as `null`), without building the string. Stops counting past `limit`
 * (the count is then a lower bound). What JSON cannot hold and structured cloning can: binary
 * data (`ArrayBuffer`, typed arrays, `DataView`, `Blob`) at its length in bytes (Temporal would
 * base64 it, a third more), a `Map` as an array of `[key, value]` pairs, a `Set` as an array, a
 * bigint as its digits; an object reached twice is counted once (it is stored once), and an
 * `undefined` value alone takes nothing (Temporal's `binary/null`). Sets `seen.exotic` when the
 * value holds anything but plain objects, arrays and primitives.
 */
export function payloadSize(value: unknown, limit: number, seen: { exotic: boolean }): number {
  let size = 0;
  const visited = new Set<object>();
  const stack: unknown[] = value === undefined ? [] : [value];
  // An array's elements: `undefined` and holes are `null`.
  const addItems = (items: ArrayLike<unknown>): void => {
    const n = items.length;
    size += n === 0 ? 2 : n + 1;
    for (let i = 0; i < n; i++) {
      const item = items[i];
      if (item === undefined) size += 4;
      else stack.push(item);
    }
  };
  // An object's properties, in Object.entries' order, without its array of pairs per object.
  const addProperties = (o: Record<string, unknown>): void => {
    let n = 0;
    for (const k of Object.keys(o)) {
      const v = o[k];
      if (v === undefined) continue;
      n++;
      size += stringBytes(k, limit - size) + 1;
      stack.push(v);
    }
    size += n === 0 ? 2 : n + 1;
  };
  while (stack.length > 0 && size <= limit) {
    const v = stack.pop();
    switch (typeof v) {
      case 'string':
        size += stringBytes(v, limit - size);
        break;
      case 'number':
        size += numberBytes(v);
        break;
      case 'boolean':
        size += v ? 4 : 5;
        break;
      case 'bigint':
        size += String(v).length;
        break;
      case 'object': {
        if (v === null) {
          size += 4;
          break;
        }
        if (visited.has(v)) break;
        visited.add(v);
        // Plain objects and arrays, nearly every value here, skip the class checks below.
        const proto: unknown = Object.getPrototypeOf(v);
        if (proto === Array.prototype) {
          addItems(v as unknown[]);
          break;
        }
        if (proto === Object.prototype) {
          addProperties(v as Record<string, unknown>);
          break;
        }
        seen.exotic = true;
        if (v instanceof Promise || v instanceof WeakMap || v instanceof WeakSet) {
          throw new InvalidArgumentError(
            `a ${v.constructor.name} cannot be stored (not structured-cloneable)`,
          );
        }
        if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) size += v.byteLength;
        else if (typeof Blob !== 'undefined' && v instanceof Blob) size += v.size;
        else if (Array.isArray(v)) addItems(v);
        // Its `[key, value]` pairs, or its values, as an array (fresh arrays: each is counted).
        else if (v instanceof Map || v instanceof Set) addItems([...v]);
        else if (v instanceof Date) size += Number.isNaN(v.getTime()) ? 4 : v.toISOString().length + 2;
        else addProperties(v as Record<string, unknown>);
        break;
      }
      case 'function':
      case 'symbol':
        throw new InvalidArgumentError(`a ${typeof v} cannot be stored (not structured-cloneable)`);
    }
  }
  return size;
}

/**
 * A string's bytes as JSON in UTF-8: its quotes, two bytes for `\"`, `\\` and the short
 * escapes of control characters, six for the others (`\u0001`) and for a lone surrogate
 * (`\ud800`, as `JSON.stringify` writes it), four for a surrogate pair, and 1 to 3 for each
 * other character. Counting stops past `budget`: each character takes a byte at least.
 */
export function stringBytes(s: string, budget = Number.POSITIVE_INFINITY): number {
  const n = s.length;
  if (n + 2 > budget) return n + 2;
  if (n > SHORT_STRING && !NEEDS_COUNTING.test(s)) return n + 2;
  let size = 2;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) size += ASCII_BYTES[c]!;
    else if (c < 0x800) size += 2;
    else if (c < 0xd800 || c > 0xdfff) size += 3;
    else if (c <= 0xdbff && i + 1 < n && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      size += 4;
      i++;
    } else size += 6;
    if (size > budget) return size;
  }
  return size;
}

/** A number's bytes as JSON: its shortest round-trip digits; `null` for NaN and infinities. */
function numberBytes(v: number): number {
  if (!Number.isFinite(v)) return 4;
  // Integers, the usual case, without making a string.
  const a = v < 0 ? -v : v;
  if (a >= 1e21 || !Number.isInteger(v)) return String(v).length;
  let digits = 1;
  for (let bound = 10; a >= bound && digits < 21; bound *= 10) digits++;
  return v < 0 ? digits + 1 : digits;
}

export function tooLargeMessage(what: string, limit: number, size: number): string {
  return `${what} is too large: over ${limit} bytes (${size} counted); store large data elsewhere (e.g. IndexedDB) and pass a key`;
}
