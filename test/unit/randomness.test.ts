import { describe, expect, it } from 'vitest';
import { randomUint32, randomUuid } from '../../src/worker/determinism.ts';

describe('pooled real randomness', () => {
  it('makes version 4 UUIDs, all different', () => {
    const ids = Array.from({ length: 5_000 }, () => randomUuid());
    for (const id of ids)
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('hands out 32-bit integers across refills of the pool', () => {
    const values = Array.from({ length: 3_000 }, () => randomUint32());
    for (const v of values) expect(Number.isInteger(v) && v >= 0 && v < 2 ** 32).toBe(true);
    expect(new Set(values).size).toBeGreaterThan(2_990);
  });
});
