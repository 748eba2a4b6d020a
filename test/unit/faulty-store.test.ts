import { describe, expect, it } from 'vitest';
import { faultyStore, type StoreOperation } from '../../src/store/faulty.ts';
import { memoryStore } from '../../src/store/memory.ts';
import { ENGINE_LEASE, type LeaseRecord } from '../../src/store/types.ts';

const lease = (holder: string): LeaseRecord => ({ name: ENGINE_LEASE, holder, epoch: 1, expiresAt: 0 });

describe('faultyStore', () => {
  it('shows every operation to its hook, store calls and the calls inside transactions', async () => {
    const seen: string[] = [];
    const store = faultyStore(memoryStore(), { before: (op) => void seen.push(op.name) });
    await store.write(async (tx) => tx.leases.put(lease('a')));
    expect(await store.read((tx) => tx.leases.get(ENGINE_LEASE))).toEqual(lease('a'));
    await store.flushed();
    expect(seen).toEqual(['write', 'leases.put', 'read', 'leases.get', 'flushed']);
  });

  it('a hook that throws inside a transaction fails it, and nothing of it is written, even if caught', async () => {
    const inner = memoryStore();
    const store = faultyStore(inner, {
      before: (op) => {
        if (op.name === 'executions.get') throw new Error('injected');
      },
    });
    await expect(
      store.write(async (tx) => {
        tx.leases.put(lease('a'));
        await tx.executions.get('r').catch(() => undefined);
      }),
    ).rejects.toThrow('injected');
    expect(await inner.read((tx) => tx.leases.get(ENGINE_LEASE))).toBeUndefined();
  });

  it('holds an operation on a promise, and an answer after it ended (a process that died there)', async () => {
    const inner = memoryStore();
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const ended: StoreOperation[] = [];
    const store = faultyStore(inner, {
      after: (op) => {
        ended.push(op);
        return op.name === 'write' ? held : undefined;
      },
    });
    let told = false;
    const writing = store
      .write(async (tx) => tx.leases.put(lease('a')))
      .then(() => {
        told = true;
      });
    // Committed, and the caller not told.
    await expect.poll(() => inner.read((tx) => tx.leases.get(ENGINE_LEASE))).toEqual(lease('a'));
    expect(ended.map((op) => op.name)).toEqual(['write']);
    expect(told).toBe(false);
    release();
    await writing;
    expect(told).toBe(true);
  });

  it("'skip' drops a write of a transaction; a write inside one cannot be held", async () => {
    const inner = memoryStore();
    const store = faultyStore(inner, { before: (op) => (op.name === 'leases.put' ? 'skip' : undefined) });
    await store.write(async (tx) => tx.leases.put(lease('a')));
    expect(await inner.read((tx) => tx.leases.get(ENGINE_LEASE))).toBeUndefined();
    const holding = faultyStore(inner, {
      before: (op) => (op.name === 'leases.put' ? new Promise<void>(() => undefined) : undefined),
    });
    await expect(holding.write(async (tx) => tx.leases.put(lease('b')))).rejects.toThrow(TypeError);
    expect(await inner.read((tx) => tx.leases.get(ENGINE_LEASE))).toBeUndefined();
  });
});
