import { describe, expect, it } from 'vitest';
import { randomUint32 } from '../../src/worker/determinism.ts';

describe('pooled real randomness', () => {
  it('hands out 32-bit integers across refills of the pool', () => {
    const values = Array.from({ length: 3_000 }, () => randomUint32());
    for (const v of values) expect(Number.isInteger(v) && v >= 0 && v < 2 ** 32).toBe(true);
    expect(new Set(values).size).toBeGreaterThan(2_990);
  });
});
