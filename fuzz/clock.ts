/**
 * The fuzzer's clock: real, monotonic milliseconds. Never `Date.now()`, which weft patches to
 * a workflow task's time while workflow code runs, and which code that shares the moment with
 * an activation could see.
 */
export const realTime = (): number => performance.timeOrigin + performance.now();
