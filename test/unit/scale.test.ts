/**
 * Scale: a connection opens in proportion to its open work, reads closed executions from the
 * store's indexes on demand, pages visibility, and deletes closed executions after their
 * retention. In Node, over fake-indexeddb (the browser's figures are in `npm run bench`).
 */
import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createEngine,
  type Engine,
  InvalidArgumentError,
  indexedDbStore,
  memoryStore,
  type Store,
  WorkflowNotFoundError,
} from '../../src/index.ts';
import {
  condition,
  continueAsNew,
  defineSignal,
  executeChild,
  setHandler,
  sleep,
} from '../../src/workflow/index.ts';
import { rawGet, rawGetAll, rawOpen } from './raw-idb.ts';

const done = defineSignal('done');

const workflows = {
  async quick(n: number): Promise<number> {
    return n * 2;
  },
  async sleeper(): Promise<void> {
    await sleep('1 day');
  },
  /** Continues as new until `n` reaches 0: runs of one ID that follow each other at once. */
  async countdown(n: number): Promise<number> {
    if (n > 0) await continueAsNew<typeof workflows.countdown>(n - 1);
    return n;
  },
  /** A parent that outlives its closed child until it is told to finish. */
  async parentWaits(): Promise<number> {
    const result = await executeChild(workflows.quick, { workflowId: 'kept-child', args: [5] });
    let finished = false;
    setHandler(done, () => {
      finished = true;
    });
    await condition(() => finished);
    return result;
  },
};

let engines: Engine[] = [];
afterEach(async () => {
  for (const engine of engines) await engine.shutdown();
  engines = [];
});

async function engine(store: Store | Promise<Store>, retention?: number | string): Promise<Engine> {
  const e = await createEngine({ workflows, store, ...(retention !== undefined && { retention }) });
  engines.push(e);
  return e;
}

async function stop(e: Engine): Promise<void> {
  engines = engines.filter((x) => x !== e);
  await e.shutdown();
}

/** Starts `n` quick workflows, at most 50 at a time, and waits for them all. */
async function fill(e: Engine, n: number, prefix = 'q'): Promise<void> {
  for (let i = 0; i < n; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, n - i) }, (_, j) =>
        e.client.workflow.execute('quick', { workflowId: `${prefix}-${i + j}`, args: [i + j] }),
      ),
    );
  }
}

/** Waits until the log is folded into the stores (only its newest entry is left). */
async function folded(factory: IDBFactory, name: string): Promise<void> {
  const db = await rawOpen(factory, name);
  try {
    await vi.waitFor(async () => expect(await rawGetAll(db, 'log')).toHaveLength(1), { timeout: 10_000 });
  } finally {
    db.close();
  }
}

/** Counts the records every read request hands back while `fn` runs. */
async function countReads<T>(fn: () => Promise<T>): Promise<{ value: T; records: number }> {
  let records = 0;
  const patched: [object, string, unknown][] = [];
  for (const proto of [IDBObjectStore.prototype, IDBIndex.prototype]) {
    for (const method of ['get', 'getAll', 'openCursor'] as const) {
      const original = (proto as unknown as Record<string, (...a: unknown[]) => IDBRequest>)[method]!;
      patched.push([proto, method, original]);
      (proto as unknown as Record<string, unknown>)[method] = function (this: unknown, ...args: unknown[]) {
        const request = original.apply(this, args);
        request.addEventListener('success', () => {
          const result = request.result as unknown;
          if (Array.isArray(result)) records += result.length;
          else if (result !== undefined && result !== null) records++;
        });
        return request;
      };
    }
  }
  try {
    return { value: await fn(), records };
  } finally {
    for (const [proto, method, original] of patched) (proto as Record<string, unknown>)[method] = original;
  }
}

describe('opening in proportion to open work (fake-indexeddb)', () => {
  it('loads the open runs only, and reads closed ones from the indexes on demand', async () => {
    const factory = new IDBFactory();
    const open = () => indexedDbStore({ name: 'scale', indexedDB: factory });
    const first = await engine(open());
    await fill(first, 300);
    for (let i = 0; i < 3; i++) await first.client.workflow.start('sleeper', { workflowId: `s-${i}` });
    await stop(first);
    await folded(factory, 'scale');

    // Opening reads the 3 open runs and their timers, the lease, the log's one entry: not 300 runs.
    const { value: store, records } = await countReads(open);
    expect(records).toBeLessThan(20);
    const second = await engine(store);
    expect(await second.client.workflow.execute('quick', { workflowId: 'new', args: [21] })).toBe(42);
    // A closed run is read from disk, with its history.
    const old = second.client.workflow.getHandle('q-123');
    expect(await old.result()).toBe(246);
    expect((await old.describe()).status).toBe('COMPLETED');
    expect((await old.fetchHistory()).events.at(-1)?.eventType).toBe('WorkflowExecutionCompleted');
    expect(await second.client.workflow.count()).toEqual({ count: 304 });
    expect(await second.client.workflow.count({ status: 'RUNNING' })).toEqual({ count: 3 });
    expect(await second.client.workflow.count({ status: 'COMPLETED', workflowType: 'quick' })).toEqual({
      count: 301,
    });
    // A start of a closed run's ID, with a reuse policy that looks at it, finds it on disk.
    await expect(
      second.client.workflow.start('quick', {
        workflowId: 'q-7',
        args: [1],
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
      }),
    ).rejects.toThrow(/already used/);
    // Signals to closed runs on disk are refused as before.
    await expect(second.client.workflow.getHandle('q-8').signal(done)).rejects.toBeInstanceOf(
      WorkflowNotFoundError,
    );
  }, 30_000);

  it('keeps closed runs out of memory once the log is folded, and counts right on both sides', async () => {
    const factory = new IDBFactory();
    const e = await engine(indexedDbStore({ name: 'scale-2', indexedDB: factory }));
    await fill(e, 120, 'a');
    await folded(factory, 'scale-2');
    // Some on disk, some only in the log and memory: counts and pages agree with a full list.
    await fill(e, 30, 'b');
    await e.client.workflow.start('sleeper', { workflowId: 'sleepy' });
    const all = await e.client.workflow.list();
    expect(all).toHaveLength(151);
    expect(new Set(all.map((d) => d.runId)).size).toBe(151);
    expect(await e.client.workflow.count()).toEqual({ count: 151 });
    expect(await e.client.workflow.count({ status: 'COMPLETED' })).toEqual({ count: 150 });
    expect(await e.client.workflow.count({ workflowType: 'sleeper' })).toEqual({ count: 1 });
    // Newest first.
    const times = all.map((d) => d.startTime.getTime());
    expect([...times].sort((x, y) => y - x)).toEqual(times);
    await folded(factory, 'scale-2');
    expect(await e.client.workflow.count({ status: 'COMPLETED' })).toEqual({ count: 150 });
    expect((await e.client.workflow.getHandle('b-3').describe()).status).toBe('COMPLETED');
  }, 30_000);
});

describe("a workflow ID's current run, once its runs are on disk (fake-indexeddb)", () => {
  it('is the last of a continue-as-new chain, and a later plain start after it', async () => {
    const factory = new IDBFactory();
    const e = await engine(indexedDbStore({ name: 'current', indexedDB: factory }));
    expect(await e.client.workflow.execute('countdown', { workflowId: 'cd', args: [3] })).toBe(0);
    await folded(factory, 'current');
    const chain = await e.client.workflow.list({ workflowId: 'cd' });
    expect(chain).toHaveLength(4);
    const last = await e.client.workflow.getHandle('cd').describe();
    expect([
      last.status,
      (await e.client.workflow.getHandle('cd').fetchHistory()).events[0]?.attributes,
    ]).toMatchObject(['COMPLETED', { input: [0] }]);
    // A plain start after the chain: the ID's current run is the new one, on disk too.
    await e.client.workflow.execute('quick', { workflowId: 'cd', args: [1] });
    await e.client.workflow.execute('quick', { workflowId: 'other', args: [1] });
    await folded(factory, 'current');
    expect((await e.client.workflow.getHandle('cd').describe()).type).toBe('quick');
  }, 30_000);
});

describe.each([
  ['memoryStore', () => memoryStore()],
  ['indexedDbStore (fake-indexeddb)', () => indexedDbStore({ name: 'paging', indexedDB: new IDBFactory() })],
] as const)('listPage and count on %s', (_, makeStore) => {
  it('pages newest first, with tokens, and neither skips nor repeats under concurrent starts', async () => {
    const e = await engine(makeStore());
    await fill(e, 95, 'p');
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await e.client.workflow.listPage({ pageSize: 10, ...(token && { nextPageToken: token }) });
      seen.push(...page.executions.map((d) => d.workflowId));
      token = page.nextPageToken;
      pages++;
      // Starts between pages: newer than every page, so never on a later one.
      await e.client.workflow.start('sleeper', { workflowId: `late-${pages}` });
    } while (token !== undefined);
    expect(pages).toBe(10);
    expect(seen).toHaveLength(95);
    expect(new Set(seen).size).toBe(95);
    expect(seen.every((id) => id.startsWith('p-'))).toBe(true);
  });

  it('filters by each field, and by start time', async () => {
    const e = await engine(makeStore());
    const parent = await e.client.workflow.start('parentWaits', { workflowId: 'pw' });
    await expect.poll(async () => (await e.client.workflow.count({ parentWorkflowId: 'pw' })).count).toBe(1);
    await fill(e, 5, 'f');
    // A time after every start so far, and the clock past it before the next start.
    const starts = (await e.client.workflow.list()).map((d) => d.startTime.getTime());
    const middle = Math.max(...starts) + 1;
    while (Date.now() < middle) await new Promise((resolve) => setTimeout(resolve, 1));
    await e.client.workflow.start('sleeper', { workflowId: 'sl' });
    const ids = async (query: Parameters<typeof e.client.workflow.listPage>[0]) =>
      (await e.client.workflow.listPage(query)).executions.map((d) => d.workflowId).sort();
    expect(await ids({ workflowType: 'sleeper' })).toEqual(['sl']);
    expect(await ids({ status: 'RUNNING' })).toEqual(['pw', 'sl']);
    expect(await ids({ parentWorkflowId: 'pw' })).toEqual(['kept-child']);
    expect(await ids({ workflowId: 'f-3' })).toEqual(['f-3']);
    expect(await ids({ startTimeFrom: middle })).toEqual(['sl']);
    expect((await ids({ startTimeTo: new Date(middle) })).length).toBe(7);
    expect(await ids({ status: 'COMPLETED', workflowType: 'quick', startTimeTo: middle })).toHaveLength(6);
    expect(await e.client.workflow.count({ status: 'COMPLETED', workflowType: 'quick' })).toEqual({
      count: 6,
    });
    expect(await e.client.workflow.count({ startTimeFrom: middle })).toEqual({ count: 1 });
    await parent.signal(done);
    expect(await parent.result()).toBe(10);
  });

  it('refuses bad queries with a typed error', async () => {
    const e = await engine(makeStore());
    const wf = e.client.workflow;
    await expect(wf.listPage({ pageSize: 0 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(wf.listPage({ pageSize: 5000 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(wf.listPage({ nextPageToken: 'nope' })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(wf.listPage({ status: 'DONE' as never })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(wf.count({ workflowType: 3 as never })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(wf.count({ startTimeFrom: 'soon' as never })).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});

describe.each([
  ['memoryStore', () => memoryStore()],
  [
    'indexedDbStore (fake-indexeddb)',
    () => indexedDbStore({ name: 'retention', indexedDB: new IDBFactory() }),
  ],
] as const)('retention on %s', (_, makeStore) => {
  it('deletes expired closed runs and nothing else', async () => {
    const store = await makeStore();
    const e = await engine(store, 0);
    await fill(e, 3, 'gone');
    const parent = await e.client.workflow.start('parentWaits', { workflowId: 'pw' });
    await expect.poll(async () => (await e.client.workflow.count({ parentWorkflowId: 'pw' })).count).toBe(1);
    await e.client.workflow.start('sleeper', { workflowId: 'sleeps' });
    const goneRun = (await e.client.workflow.getHandle('gone-1').describe()).runId;

    // (The leader sweeps by itself too, so the counts here are at most what this call deletes.)
    await e.host.sweep();
    await expect(e.client.workflow.getHandle('gone-1').describe()).rejects.toBeInstanceOf(
      WorkflowNotFoundError,
    );
    await expect(e.client.workflow.getHandle('gone-1', goneRun).fetchHistory()).rejects.toBeInstanceOf(
      WorkflowNotFoundError,
    );
    // Every record the run had is gone.
    await store.read(async (tx) => {
      expect(await tx.executions.get(goneRun)).toBeUndefined();
      expect(await tx.workflowIds.get('gone-1')).toBeUndefined();
      expect(await tx.history.read(goneRun)).toEqual([]);
    });
    // The open runs stay, and so does the closed child of the open parent.
    expect((await e.client.workflow.getHandle('kept-child').describe()).status).toBe('COMPLETED');
    expect((await e.client.workflow.getHandle('sleeps').describe()).status).toBe('RUNNING');
    expect(await e.client.workflow.count()).toEqual({ count: 3 });
    // The ID can be started again.
    expect(await e.client.workflow.execute('quick', { workflowId: 'gone-1', args: [4] })).toBe(8);

    await parent.signal(done);
    expect(await parent.result()).toBe(10);
    // The parent closed: now its child goes too (and the new gone-1).
    await e.host.sweep();
    expect((await e.client.workflow.list()).map((d) => d.workflowId)).toEqual(['sleeps']);
  });

  it('keeps unexpired runs, and everything with Infinity', async () => {
    const hour = await engine(makeStore(), '1h');
    await fill(hour, 4);
    expect(await hour.host.sweep()).toBe(0);
    expect(await hour.client.workflow.count()).toEqual({ count: 4 });
    const forever = await engine(memoryStore(), Number.POSITIVE_INFINITY);
    await fill(forever, 2);
    expect(await forever.host.sweep()).toBe(0);
    await expect(createEngine({ workflows, retention: 'soon' })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('deletes in small transactions, past runs it keeps', async () => {
    const e = await engine(makeStore(), 0);
    const parent = await e.client.workflow.start('parentWaits', { workflowId: 'pw' });
    await expect.poll(async () => (await e.client.workflow.count({ parentWorkflowId: 'pw' })).count).toBe(1);
    await fill(e, 130, 'x');
    // Three batches of at most 50, or fewer if the leader's own sweep got some first.
    expect(await e.host.sweep()).toBeLessThanOrEqual(130);
    expect(await e.client.workflow.count()).toEqual({ count: 2 });
    await parent.signal(done);
    await parent.result();
  });

  it('the leader sweeps by itself when retention runs out', async () => {
    const e = await engine(makeStore(), 0);
    await fill(e, 5);
    await expect.poll(async () => (await e.client.workflow.count()).count, { timeout: 10_000 }).toBe(0);
  }, 20_000);

  it('delete() removes one closed execution now, and refuses an open one', async () => {
    const e = await engine(makeStore());
    await fill(e, 2, 'd');
    const watched: unknown[] = [];
    const unwatch = e.client.workflow.watch((changes) => watched.push(...changes));
    await e.client.workflow.getHandle('d-0').delete();
    await expect(e.client.workflow.getHandle('d-0').describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
    expect((await e.client.workflow.getHandle('d-1').describe()).status).toBe('COMPLETED');
    await expect
      .poll(() => watched)
      .toContainEqual(expect.objectContaining({ workflowId: 'd-0', deleted: true }));
    unwatch();
    const open = await e.client.workflow.start('sleeper', { workflowId: 'open' });
    await expect(open.delete()).rejects.toBeInstanceOf(InvalidArgumentError);
    expect((await open.describe()).status).toBe('RUNNING');
    await expect(e.client.workflow.delete('nobody')).rejects.toBeInstanceOf(WorkflowNotFoundError);
  });
});

describe('compaction that a crash cuts short (fake-indexeddb)', () => {
  it('a compaction cut short by a crash changes nothing, and the next folds each entry once', async () => {
    const factory = new IDBFactory();
    const open = () => indexedDbStore({ name: 'crash', indexedDB: factory });
    const first = await engine(open());
    await fill(first, 60, 'c');
    // The log entries cannot leave the log: as if the tab died in the middle of compacting.
    const original = IDBObjectStore.prototype.delete;
    let refused = 0;
    IDBObjectStore.prototype.delete = function (this: IDBObjectStore, key: IDBValidKey | IDBKeyRange) {
      if (this.name === 'log' && key instanceof IDBKeyRange) {
        refused++;
        throw new DOMException('crashed', 'AbortError');
      }
      return original.call(this, key);
    };
    const error = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      await vi.waitFor(() => expect(refused).toBeGreaterThan(0), { timeout: 10_000 });
      // Written after the fold: a run that starts and ends, deleted again before the next fold.
      await first.client.workflow.execute('quick', { workflowId: 'late', args: [1] });
      await first.client.workflow.getHandle('late').delete();
    } finally {
      IDBObjectStore.prototype.delete = original;
      error.mockRestore();
    }
    await stop(first);
    const second = await engine(open());
    expect(await second.client.workflow.count()).toEqual({ count: 60 });
    await expect(second.client.workflow.getHandle('late').describe()).rejects.toBeInstanceOf(
      WorkflowNotFoundError,
    );
    await second.client.workflow.execute('quick', { workflowId: 'after', args: [2] });
    await folded(factory, 'crash');
    // Folded from where the stores were: the deleted run stays deleted.
    const db = await rawOpen(factory, 'crash');
    // What the stores hold, and the young open work the fold carried (see `Carry`) instead.
    const carry = (await rawGet(db, 'meta', 'carry')) as
      | { puts: { table: string; value: object }[] }
      | undefined;
    const stored = [
      ...((await rawGetAll(db, 'executions')) as { workflowId: string }[]),
      ...(carry?.puts ?? [])
        .filter((p) => p.table === 'executions')
        .map((p) => p.value as { workflowId: string }),
    ];
    db.close();
    expect(stored.map((e) => e.workflowId).filter((id) => id === 'late')).toEqual([]);
    expect(stored).toHaveLength(61);
    expect(await second.client.workflow.count()).toEqual({ count: 61 });
  }, 30_000);
});
