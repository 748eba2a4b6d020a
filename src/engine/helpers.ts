/** Small helpers the engine's modules share. */

/** Removes what `map` holds under `key`, and returns it. */
export function take<K, V>(map: Map<K, V>, key: K): V | undefined {
  const value = map.get(key);
  map.delete(key);
  return value;
}

/** What `fn()` returns, as a promise: a synchronous throw becomes a rejection. */
export function promiseOf<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(error);
  }
}
