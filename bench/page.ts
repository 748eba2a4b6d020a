/**
 * The benchmark page. `bench/run.mjs` opens it in headless Chromium and calls the functions on
 * `window.bench` with `page.evaluate`: the platform baseline (raw `idb` and Comlink, no engine)
 * and the engine scenarios (scenarios.ts) through the real client and a real engine worker.
 */
import { type Remote, wrap } from 'comlink';
import { openDB } from 'idb';
import { connect } from '../src/client/index.ts';
import benchWorkerUrl from './bench.worker.ts?worker&url';
import echoWorkerUrl from './echo.worker.ts?worker&url';
import type { Counters } from './instrument.ts';
import {
  type BenchEngine,
  chain,
  coldStart,
  type EngineTuning,
  fanOut,
  fillClosed,
  firstPages,
  freshDb,
  type Harness,
  idleFill,
  openAndRun,
  type ReplaySetup,
  replayBuild,
  replayQuery,
  starts,
} from './scenarios.ts';

const now = (): number => performance.now();

function withQuery(url: string, query: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}${query}`;
}

/** Asks the bench worker's instrument (not Comlink) for its counters. */
let requestSeq = 0;
function request(worker: Worker, benchReq: 'stats' | 'reset'): Promise<Counters> {
  return new Promise((resolve, reject) => {
    const benchId = ++requestSeq;
    const timer = setTimeout(() => {
      worker.removeEventListener('message', onMessage);
      reject(new Error(`bench worker did not answer '${benchReq}' (is IndexedDB instrumented?)`));
    }, 10_000);
    const onMessage = (event: MessageEvent): void => {
      const data = event.data as { benchRes?: number; value?: Counters } | null;
      if (data?.benchRes !== benchId) return;
      clearTimeout(timer);
      worker.removeEventListener('message', onMessage);
      resolve(data.value!);
    };
    worker.addEventListener('message', onMessage);
    worker.postMessage({ benchReq, benchId });
  });
}

function deleteDatabase(name: string): Promise<void> {
  return new Promise((resolve) => {
    const request = indexedDB.deleteDatabase(name);
    // A terminated worker's connection closes shortly; do not wait for ever if it does not.
    const timer = setTimeout(resolve, 5_000);
    const done = (): void => {
      clearTimeout(timer);
      resolve();
    };
    request.onsuccess = done;
    request.onerror = done;
  });
}

/** Engines in this page: a module worker running `bench.worker.ts`, reached through `connect()`. */
const workers = new Set<Worker>();
const harness: Harness = {
  now,
  async open(db: string, tuning: EngineTuning = {}): Promise<BenchEngine> {
    let query = `db=${encodeURIComponent(db)}`;
    if (tuning.maxConcurrentActivities !== undefined)
      query += `&maxConcurrentActivities=${tuning.maxConcurrentActivities}`;
    const worker = new Worker(withQuery(benchWorkerUrl, query), {
      type: 'module',
      name: db,
    });
    workers.add(worker);
    const client = await connect(worker);
    return {
      workflow: client.workflow,
      async ready() {
        await client.workflow.list({ workflowId: '__ready__' });
      },
      stats: () => request(worker, 'stats'),
      async resetStats() {
        await request(worker, 'reset');
      },
      async close() {
        client.close();
        worker.terminate();
        workers.delete(worker);
      },
    };
  },
  drop: deleteDatabase,
};

// ---- platform baseline ----------------------------------------------------------------------

const smallRecord = (i: number) => ({ id: i, name: `record-${i}`, value: i * 2, flag: true });
const eventLike = (id: number) => ({
  eventId: id,
  eventType: 'ActivityTaskCompleted',
  eventTime: 1_700_000_000_000 + id,
  attributes: { scheduledEventId: id - 2, startedEventId: id - 1, result: { value: id } },
});

export interface PlatformResult {
  idbCommitMs: number;
  idbRecordsPerSec: number;
  idbPackedEventsPerSec: number;
  comlinkRoundTripMs: number;
  /** Extras. */
  idbOpenMs: number;
  idbUnpackedEventsPerSec: number;
  load10kEventsAs10RecordsOf1000Ms: number;
  load10kEventsAs10000RecordsMs: number;
  comlinkInFlight100PerSec: number;
  workerStartMs: number;
  /** A read-write transaction over 9 stores writing 4 records (one in a store with 5 indexes), sequential. */
  idbCommitWideMs: number;
  /** One awaited `get` after another inside one read-only transaction. */
  idbSequentialGetMs: number;
  /** The same gets issued together (pipelined) in one read-only transaction, per get. */
  idbPipelinedGetMs: number;
}

async function platform(sizes: {
  commits: number;
  records: number;
  roundTrips: number;
}): Promise<PlatformResult> {
  const name = freshDb('platform');
  const t0 = now();
  let db = await openDB(name, 1, {
    upgrade(database) {
      database.createObjectStore('commits');
      database.createObjectStore('records');
      database.createObjectStore('packed');
      database.createObjectStore('unpacked');
      database.createObjectStore('load');
      const indexed = database.createObjectStore('wide0', { keyPath: 'id' });
      for (const field of ['a', 'b', 'c', 'd', 'e']) indexed.createIndex(field, field);
      for (let i = 1; i < 9; i++) database.createObjectStore(`wide${i}`);
    },
  });
  const idbOpenMs = now() - t0;
  try {
    // Sequential read-write transactions, one small record each (idb's db.put awaits the commit).
    for (let i = 0; i < 20; i++) await db.put('commits', smallRecord(i), `warm-${i}`);
    let t = now();
    for (let i = 0; i < sizes.commits; i++) await db.put('commits', smallRecord(i), i);
    const idbCommitMs = (now() - t) / sizes.commits;

    // The shape of an engine commit: one transaction over 9 stores, 4 records, one store indexed.
    const wide = Array.from({ length: 9 }, (_, i) => `wide${i}`) as 'wide0'[];
    const wideCommit = async (i: number): Promise<void> => {
      const tx = db.transaction(wide, 'readwrite');
      void tx.objectStore('wide0').put({ id: i, a: `a${i}`, b: `b${i}`, c: i, d: 'RUNNING', e: 'type' });
      void tx.objectStore('wide1' as 'wide0').put(smallRecord(i), i);
      void tx.objectStore('wide2' as 'wide0').put(smallRecord(i), i);
      void tx.objectStore('wide3' as 'wide0').put(smallRecord(i), i);
      await tx.done;
    };
    for (let i = 0; i < 20; i++) await wideCommit(-1 - i);
    t = now();
    for (let i = 0; i < sizes.commits; i++) await wideCommit(i);
    const idbCommitWideMs = (now() - t) / sizes.commits;

    // Request latency: awaited gets one after another in one read-only transaction.
    t = now();
    {
      const tx = db.transaction('commits', 'readonly');
      for (let i = 0; i < sizes.commits; i++) await tx.store.get(i);
      await tx.done;
    }
    const idbSequentialGetMs = (now() - t) / sizes.commits;
    t = now();
    {
      const tx = db.transaction('commits', 'readonly');
      await Promise.all(Array.from({ length: sizes.commits }, (_, i) => tx.store.get(i)));
      await tx.done;
    }
    const idbPipelinedGetMs = (now() - t) / sizes.commits;

    // Many small records in one transaction.
    t = now();
    {
      const tx = db.transaction('records', 'readwrite');
      for (let i = 0; i < sizes.records; i++) void tx.store.put(smallRecord(i), i);
      await tx.done;
    }
    const idbRecordsPerSec = (sizes.records * 1000) / (now() - t);

    // 100 records of 100 event-like objects, one transaction; and the same events one per record.
    t = now();
    {
      const tx = db.transaction('packed', 'readwrite');
      for (let r = 0; r < 100; r++) {
        void tx.store.put({ events: Array.from({ length: 100 }, (_, i) => eventLike(r * 100 + i + 1)) }, r);
      }
      await tx.done;
    }
    const idbPackedEventsPerSec = (100 * 100 * 1000) / (now() - t);
    t = now();
    {
      const tx = db.transaction('unpacked', 'readwrite');
      for (let i = 1; i <= 10_000; i++) void tx.store.put(eventLike(i), i);
      await tx.done;
    }
    const idbUnpackedEventsPerSec = (10_000 * 1000) / (now() - t);

    // Loading 10,000 events: as 10 records of 1,000 events, and as 10,000 records (a new connection).
    {
      const tx = db.transaction('load', 'readwrite');
      for (let r = 0; r < 10; r++) {
        void tx.store.put({ events: Array.from({ length: 1000 }, (_, i) => eventLike(r * 1000 + i + 1)) }, r);
      }
      await tx.done;
    }
    db.close();
    db = await openDB(name, 1);
    t = now();
    const packed = (await db.getAll('load')) as { events: unknown[] }[];
    const load10kEventsAs10RecordsOf1000Ms = now() - t;
    t = now();
    const unpacked = await db.getAll('unpacked');
    const load10kEventsAs10000RecordsMs = now() - t;
    const loaded = packed.reduce((n, r) => n + r.events.length, 0);
    if (loaded !== 10_000 || unpacked.length !== 10_000) throw new Error('platform: load check failed');

    // A module worker with idb and Comlink: start to first answer, then round trips.
    t = now();
    const worker = new Worker(echoWorkerUrl, { type: 'module' });
    const echo = wrap<{ ping(): number; open(name: string): Promise<number> }>(worker) as Remote<{
      ping(): number;
      open(name: string): Promise<number>;
    }>;
    try {
      await echo.ping();
      const workerStartMs = now() - t;
      for (let i = 0; i < 50; i++) await echo.ping();
      t = now();
      for (let i = 0; i < sizes.roundTrips; i++) await echo.ping();
      const comlinkRoundTripMs = (now() - t) / sizes.roundTrips;
      t = now();
      let sent = 0;
      await Promise.all(
        Array.from({ length: 100 }, async () => {
          while (sent < sizes.roundTrips * 4) {
            sent++;
            await echo.ping();
          }
        }),
      );
      const comlinkInFlight100PerSec = (sent * 1000) / (now() - t);
      return {
        idbCommitMs,
        idbRecordsPerSec,
        idbPackedEventsPerSec,
        comlinkRoundTripMs,
        idbOpenMs,
        idbUnpackedEventsPerSec,
        load10kEventsAs10RecordsOf1000Ms,
        load10kEventsAs10000RecordsMs,
        comlinkInFlight100PerSec,
        workerStartMs,
        idbCommitWideMs,
        idbSequentialGetMs,
        idbPipelinedGetMs,
      };
    } finally {
      worker.terminate();
    }
  } finally {
    db.close();
    await deleteDatabase(name);
  }
}

// ---- idle10k: the heap is read from outside (the DevTools protocol), between these calls -------

let idle: { engine: BenchEngine; db: string } | undefined;

async function idleOpen(): Promise<{ db: string; url: string }> {
  const db = freshDb('idle');
  const engine = await harness.open(db);
  await engine.ready();
  idle = { engine, db };
  return { db, url: withQuery(new URL(benchWorkerUrl, location.href).href, `db=${encodeURIComponent(db)}`) };
}

async function idleClose(): Promise<void> {
  if (!idle) return;
  const { engine, db } = idle;
  idle = undefined;
  await engine.close();
  await deleteDatabase(db);
}

// ---- open100k / list100k: a database of closed executions, opened again and again ----------

let scale: { engine: BenchEngine } | undefined;
let scaleOpens = 0;

async function scaleFill(n: number, inFlight: number): Promise<{ db: string; ms: number; perSec: number }> {
  const db = freshDb('open');
  return { db, ...(await fillClosed(harness, db, n, inFlight)) };
}

/** Opens `db` in a new engine worker and runs a workflow; the engine stays open for the heap and list. */
async function scaleOpen(db: string): Promise<{ ms: number; url: string }> {
  await scaleClose();
  const { e, ms } = await openAndRun(harness, db, `${++scaleOpens}`);
  scale = { engine: e };
  return { ms, url: withQuery(new URL(benchWorkerUrl, location.href).href, `db=${encodeURIComponent(db)}`) };
}

/**
 * Waits until the open engine has folded the log it found (one entry left, the newest): what it
 * then holds is its steady state. Polls the database's `log` store.
 */
async function scaleSettled(db: string): Promise<{ ms: number }> {
  const t0 = now();
  const idb = await openDB(db);
  try {
    for (;;) {
      if ((await idb.count('log')) <= 1) return { ms: now() - t0 };
      if (now() - t0 > 20_000) throw new Error(`the log of ${db} was not folded within 20 s`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    idb.close();
  }
}

function scaleList(expected: number) {
  if (!scale) throw new Error('scaleOpen first');
  return firstPages(harness, scale.engine, expected);
}

async function scaleClose(drop?: string): Promise<void> {
  const open = scale;
  scale = undefined;
  await open?.engine.close();
  if (drop) await deleteDatabase(drop);
}

// ---- replay: one history, measured with several fresh workers ---------------------------------

const replays = new Map<string, ReplaySetup>();

const bench = {
  platform,
  fanOut: (n: number) => fanOut(harness, n),
  chain: (n: number) => chain(harness, n),
  starts: (n: number, inFlight: number) => starts(harness, n, inFlight),
  coldStart: () => coldStart(harness),
  async replayBuild(key: string, targetEvents: number, perBatch: number) {
    const setup = await replayBuild(harness, targetEvents, perBatch);
    replays.set(key, setup);
    return setup;
  },
  replayQuery(key: string) {
    const setup = replays.get(key);
    if (!setup) throw new Error(`no replay history '${key}': run replayBuild first`);
    return replayQuery(harness, setup);
  },
  async replayDrop(key: string) {
    const setup = replays.get(key);
    replays.delete(key);
    if (setup) await deleteDatabase(setup.db);
  },
  idleOpen,
  idleFill: (n: number) => {
    if (!idle) throw new Error('idleOpen first');
    return idleFill(harness, idle.engine, n);
  },
  idleClose,
  scaleFill,
  scaleOpen,
  scaleList,
  scaleSettled,
  scaleClose,
  emptyDb: () => freshDb('empty'),
  /** Terminates every engine worker this page started (after a timeout, before the next scenario). */
  reset() {
    for (const worker of workers) worker.terminate();
    workers.clear();
    idle = undefined;
    scale = undefined;
  },
};

export type BenchApi = typeof bench;

declare global {
  interface Window {
    bench: BenchApi;
  }
}

window.bench = bench;
document.title = 'weft bench: ready';
