/**
 * The Node variant: the same engine scenarios in process, `createEngine` over `memoryStore()`
 * (what an edge runtime or a server would run). run.mjs bundles this file with Vite into
 * bench/dist-node/node.mjs and calls {@link runNode}. Store calls are counted by wrapping the
 * store: a `write()` is a transaction, each put/add/delete/append a record.
 */
import { createEngine, memoryStore } from '../src/index.ts';
import type { Store, StoreTx } from '../src/store/types.ts';
import * as activities from './activities.ts';
import {
  type BenchEngine,
  type Counters,
  chain,
  coldStart,
  fanOut,
  freshDb,
  type Harness,
  idleFill,
  replayBuild,
  replayQuery,
  starts,
} from './scenarios.ts';
import * as workflows from './workflows.ts';

const WRITES = new Set(['put', 'add', 'delete', 'append']);

function zero(): Counters {
  return { readwrite: 0, committed: 0, aborted: 0, readonly: 0, records: 0, reads: 0, byStore: {} };
}

function countingTx(tx: StoreTx, counters: Counters): StoreTx {
  return new Proxy(tx, {
    get(target, noun: string) {
      const table = (target as unknown as Record<string, object>)[noun];
      if (typeof table !== 'object' || table === null) return table;
      return new Proxy(table, {
        get(t, verb: string) {
          const member = (t as Record<string, unknown>)[verb];
          if (typeof member !== 'function') return member;
          const tally = (): void => {
            const entry = counters.byStore[noun] ?? {};
            counters.byStore[noun] = entry;
            entry[verb] = (entry[verb] ?? 0) + 1;
          };
          if (!WRITES.has(verb)) {
            return (...args: unknown[]) => {
              counters.reads++;
              tally();
              return member.apply(t, args);
            };
          }
          return (...args: unknown[]) => {
            counters.records++;
            tally();
            return member.apply(t, args);
          };
        },
      });
    },
  });
}

function countingStore(inner: Store, counters: () => Counters): Store {
  return {
    name: inner.name,
    flushed: (options) => inner.flushed(options),
    refresh: () => inner.refresh(),
    onReload: (listener) => inner.onReload(listener),
    read(fn) {
      counters().readonly++;
      return inner.read((tx) => fn(countingTx(tx, counters())));
    },
    async write(fn, options) {
      const c = counters();
      c.readwrite++;
      try {
        const value = await inner.write((tx) => fn(countingTx(tx, c)), options);
        c.committed++;
        return value;
      } catch (error) {
        c.aborted++;
        throw error;
      }
    },
    close: () => inner.close(),
  };
}

const stores = new Map<string, Store>();

const harness: Harness = {
  now: () => performance.now(),
  async open(db, tuning = {}) {
    let counters = zero();
    let store = stores.get(db);
    if (!store) {
      store = memoryStore({ name: db });
      stores.set(db, store);
    }
    const engine = await createEngine({
      workflows,
      activities,
      store: countingStore(store, () => counters),
      historyLimit: 100_000,
      ...tuning,
    });
    const e: BenchEngine = {
      workflow: engine.client.workflow,
      ready: async () => undefined,
      stats: async () => ({ ...counters }),
      resetStats: async () => {
        counters = zero();
      },
      close: () => engine.shutdown(),
    };
    return e;
  },
  async drop(db) {
    stores.delete(db);
  },
};

export interface NodeOptions {
  only: Set<string>;
  runs: { small: number; big: number; idle: number };
  sizes: {
    fanOut: number;
    chain: number;
    starts: number;
    replaySmall: number;
    replayBig: number;
    idle: number;
  };
  /** A full garbage collection (`--expose-gc`), for the idle heap. */
  gc?: () => void;
  /** Called with each scenario's runs (for progress output). */
  log?: (line: string) => void;
  /** Each measurement's time limit. */
  timeoutMs: (scenario: string) => number;
}

async function timed<T>(label: string, ms: number, fn: () => Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      fn(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${label}: timed out after ${ms / 1000} s`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs the scenarios in `options.only`; each entry is an array of runs, or `{ error }`. */
export async function runNode(options: NodeOptions): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const log = options.log ?? (() => undefined);
  const { sizes, runs } = options;

  async function repeat<T>(name: string, count: number, fn: () => Promise<T>): Promise<void> {
    if (!options.only.has(name)) return;
    const results: T[] = [];
    try {
      for (let i = 0; i < count; i++) {
        results.push(await timed(`node ${name} run ${i + 1}`, options.timeoutMs(name), fn));
        const rounded = (key: string, v: unknown) =>
          key === 'requestsByStore' ? undefined : typeof v === 'number' ? Math.round(v * 100) / 100 : v;
        log(`node ${name} run ${i + 1}/${count}: ${JSON.stringify(results.at(-1), rounded)}`);
      }
      out[name] = results;
    } catch (error) {
      out[name] = { error: error instanceof Error ? error.message : String(error), runs: results };
      log(`node ${name} FAILED: ${String(error)}`);
    }
  }

  // idle10k first and once: an engine's memory is only reclaimed once another engine has run
  // (something module-level keeps the last one), so a heap delta taken after other scenarios
  // would be off by whatever the previous engine left.
  await repeat('idle10k', runs.idle, async () => {
    const gc = options.gc ?? (() => undefined);
    gc();
    const before = process.memoryUsage().heapUsed;
    const db = freshDb('idle');
    const e = await harness.open(db);
    try {
      const { startMs, settledMs } = await idleFill(harness, e, sizes.idle);
      gc();
      const after = process.memoryUsage().heapUsed;
      return {
        heapMB: (after - before) / 2 ** 20,
        heapTotalMB: after / 2 ** 20,
        gc: options.gc !== undefined,
        startMs,
        settledMs,
      };
    } finally {
      await e.close();
      await harness.drop(db);
    }
  });
  await repeat('fanOut1000', runs.big, () => fanOut(harness, sizes.fanOut));
  await repeat('chain1000', runs.big, () => chain(harness, sizes.chain));
  await repeat('starts1000', runs.big, () => starts(harness, sizes.starts, 100));
  for (const [name, target] of [
    ['replay10k', sizes.replaySmall],
    ['replay50k', sizes.replayBig],
  ] as const) {
    if (!options.only.has(name)) continue;
    try {
      const setup = await timed(`node ${name} build`, options.timeoutMs(`${name}:build`), () =>
        replayBuild(harness, target, 1000),
      );
      log(`node ${name} history: ${setup.events} events in ${Math.round(setup.buildMs)} ms`);
      const warmup = await replayQuery(harness, setup);
      log(`node ${name} warm-up (not counted): ${warmup.ms.toFixed(1)} ms`);
      await repeat(name, runs.small, async () => ({
        ...(await replayQuery(harness, setup)),
        events: setup.events,
      }));
      await harness.drop(setup.db);
    } catch (error) {
      out[name] = { error: error instanceof Error ? error.message : String(error) };
      log(`node ${name} FAILED: ${String(error)}`);
    }
  }
  await repeat('coldStart', runs.small, () => coldStart(harness));
  return out;
}
