import { InvalidArgumentError } from '../engine/failure.ts';

/** Temporal's default blob size limit: a payload past it is refused. */
export const DEFAULT_PAYLOAD_LIMIT = 2 * 1024 * 1024;

/**
 * Roughly the bytes a value takes once stored (UTF-16 strings, 8-byte numbers, binary data at
 * its length), counting shared references once. Stops counting past `limit`. Sets
 * `seen.exotic` when the value holds anything but plain objects, arrays and primitives.
 */
export function payloadSize(value: unknown, limit: number, seen: { exotic: boolean }): number {
  let size = 0;
  const visited = new Set<object>();
  const stack: unknown[] = [value];
  // Keys then reads, in Object.entries' order, without its array of pairs per object.
  const addProperties = (o: Record<string, unknown>): void => {
    for (const k of Object.keys(o)) {
      size += 2 * k.length;
      stack.push(o[k]);
    }
  };
  while (stack.length > 0 && size <= limit) {
    const v = stack.pop();
    switch (typeof v) {
      case 'string':
        size += 2 * v.length;
        break;
      case 'boolean':
      case 'undefined':
        size += 1;
        break;
      case 'object': {
        if (v === null || visited.has(v)) {
          size += 1;
          break;
        }
        visited.add(v);
        // Plain objects and arrays, nearly every value here, skip the class checks below.
        const proto: unknown = Object.getPrototypeOf(v);
        if (proto === Object.prototype || proto === Array.prototype) {
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
        else if (v instanceof Map) for (const [k, x] of v) stack.push(k, x);
        else if (v instanceof Set) for (const x of v) stack.push(x);
        else if (v instanceof Date) size += 8;
        else addProperties(v as Record<string, unknown>);
        break;
      }
      case 'function':
      case 'symbol':
        throw new InvalidArgumentError(`a ${typeof v} cannot be stored (not structured-cloneable)`);
      default: // number, bigint
        size += 8;
    }
  }
  return size;
}

export function tooLargeMessage(what: string, limit: number, size: number): string {
  return `${what} is too large: over ${limit} bytes (${size} counted); store large data elsewhere (e.g. IndexedDB) and pass a key`;
}
