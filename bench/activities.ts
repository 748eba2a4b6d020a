/**
 * The benchmark's activities: trivial, so the figures measure the engine, not the work.
 * Registered under their export names.
 */

/** fanOut1000's child activity: 2i + 1, so the parent's sum of n children is n². */
export async function value(i: number): Promise<number> {
  return 2 * i + 1;
}

/** chain1000's step activity. */
export async function increment(v: number): Promise<number> {
  return v + 1;
}

/** replay10k/50k's filler activity: each call adds three events (scheduled, started, completed). */
export async function one(): Promise<number> {
  return 1;
}
