/**
 * The engine scenarios, written once against a {@link Harness}: the page runs them through the
 * real client (`connect()`) and a real engine worker over IndexedDB (page.ts), the Node variant
 * in process with `createEngine` and the memory store (node.ts). Each scenario checks its own
 * result and throws when it is wrong.
 */
import type { WorkflowClient } from '../src/client/client.ts';

/** What the store was asked to do (IndexedDB requests in the browser, Store calls in Node). */
export interface Counters {
  /** Read-write transactions opened, committed and aborted. */
  readwrite: number;
  committed: number;
  aborted: number;
  /** Read-only transactions opened. */
  readonly: number;
  /** Records written (put, add, delete). */
  records: number;
  /** Read requests (IndexedDB get/getAll/openCursor...; Store reads in Node). */
  reads: number;
  /** The same by object store (`put`, `add`, `delete`, `read`; Node: the Store's verbs). */
  byStore: Record<string, Record<string, number>>;
}

/** One engine (a worker, or an in-process host) over one database. */
export interface BenchEngine {
  workflow: WorkflowClient;
  /** Resolves once the engine has opened its store and answers calls. */
  ready(): Promise<void>;
  stats(): Promise<Counters>;
  resetStats(): Promise<void>;
  /** Stops the engine (terminates the worker); the database stays. */
  close(): Promise<void>;
}

/** Engine options a scenario may set (the bench worker reads them from its URL). */
export interface EngineTuning {
  maxConcurrentActivities?: number;
}

export interface Harness {
  /** A new engine on database `db` (created if new), with the engine's defaults unless tuned. */
  open(db: string, tuning?: EngineTuning): Promise<BenchEngine>;
  /** Deletes database `db` (its engines are closed). */
  drop(db: string): Promise<void>;
  now(): number;
}

let dbSeq = 0;
const runTag = Math.random().toString(36).slice(2, 8);
/** A database name never used before. */
export function freshDb(scenario: string): string {
  return `weft-bench-${scenario}-${runTag}-${++dbSeq}`;
}

function check(ok: boolean, message: string): void {
  if (!ok) throw new Error(`check failed: ${message}`);
}

/** History events of a run and all its children (which must all be COMPLETED, `n` of them). */
async function treeEvents(e: BenchEngine, workflowId: string, n: number): Promise<number> {
  const parent = await e.workflow.getHandle(workflowId).describe();
  const children = await e.workflow.list({ parentWorkflowId: workflowId, pageSize: 1000 });
  check(children.length === n, `${workflowId} has ${children.length} children, expected ${n}`);
  const open = children.filter((c) => c.status !== 'COMPLETED').length;
  check(open === 0, `${open} children of ${workflowId} did not complete`);
  return children.reduce((sum, c) => sum + c.historyLength, parent.historyLength);
}

async function withEngine<T>(h: Harness, db: string, fn: (e: BenchEngine) => Promise<T>): Promise<T> {
  const e = await h.open(db);
  try {
    await e.ready();
    return await fn(e);
  } finally {
    await e.close();
    await h.drop(db);
  }
}

export interface TreeResult {
  ms: number;
  events: number;
  transactions: number;
  records: number;
  readTransactions: number;
  readRequests: number;
  abortedTransactions: number;
  children: number;
  requestsByStore: Record<string, Record<string, number>>;
}

/**
 * Children or workflows run, untimed, on the same engine before a scenario is timed: a fresh
 * worker runs its first few hundred of anything in the interpreter, before V8 has compiled the
 * engine's hot paths, and a real app's worker is long-lived. The cold figure is `coldStart`'s.
 */
const WARM_UP = 100;

/**
 * fanOut1000: a parent starts `n` children at once (`Promise.all` of `executeChild`), each runs
 * one activity, the parent sums. Timed from `start` to `result()` on the client side, after a
 * warm-up fan-out of {@link WARM_UP} children on the same engine (not counted).
 */
export function fanOut(h: Harness, n: number): Promise<TreeResult> {
  return withEngine(h, freshDb('fanOut'), async (e) => {
    const warm = Math.min(WARM_UP, n);
    check(
      (await e.workflow.execute('fanOut', { workflowId: 'warmup', args: [warm] })) === warm * warm,
      'warm-up',
    );
    await e.resetStats();
    const t0 = h.now();
    const handle = await e.workflow.start<number>('fanOut', { workflowId: 'fan', args: [n] });
    const sum = await handle.result();
    const ms = h.now() - t0;
    const stats = await e.stats();
    check(sum === n * n, `fan-out sum ${sum}, expected ${n * n}`);
    const events = await treeEvents(e, 'fan', n);
    return treeResult(ms, events, stats, n);
  });
}

/** A fan-out's or a chain's figures: time, events, and what IndexedDB was asked. */
function treeResult(ms: number, events: number, stats: Counters, children: number): TreeResult {
  return {
    ms,
    events,
    transactions: stats.committed,
    records: stats.records,
    readTransactions: stats.readonly,
    readRequests: stats.reads,
    abortedTransactions: stats.aborted,
    children,
    requestsByStore: stats.byStore,
  };
}

/** chain1000: a parent runs `n` children one after another (each one activity). After a warm-up chain. */
export function chain(h: Harness, n: number): Promise<TreeResult> {
  return withEngine(h, freshDb('chain'), async (e) => {
    const warm = Math.min(WARM_UP, n);
    check((await e.workflow.execute('chain', { workflowId: 'warmup', args: [warm] })) === warm, 'warm-up');
    await e.resetStats();
    const t0 = h.now();
    const handle = await e.workflow.start<number>('chain', { workflowId: 'chain', args: [n] });
    const last = await handle.result();
    const ms = h.now() - t0;
    const stats = await e.stats();
    check(last === n, `chain ended at ${last}, expected ${n}`);
    const events = await treeEvents(e, 'chain', n);
    return treeResult(ms, events, stats, n);
  });
}

/** Starts `n` echo workflows, `inFlight` start calls at a time, and checks every result. */
async function startMany(e: BenchEngine, prefix: string, n: number, inFlight: number): Promise<void> {
  const results: Promise<void>[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(inFlight, n) }, async () => {
      while (next < n) {
        const i = next++;
        const handle = await e.workflow.start('echo', { workflowId: `${prefix}-${i}`, args: [i] });
        results.push(handle.result().then((r) => check(r === i, `${prefix}-${i} returned ${String(r)}`)));
      }
    }),
  );
  await Promise.all(results);
}

export interface StartsResult {
  /** From the first `start` call to the last `start` resolved (every start committed). */
  ms: number;
  perSec: number;
  /** From the first `start` call to every `result()` in (all checked). */
  completedMs: number;
  completedPerSec: number;
  transactions: number;
  records: number;
  readRequests: number;
  requestsByStore: Record<string, Record<string, number>>;
}

/**
 * starts1000: `n` top-level `echo` workflows started from the client, at most `inFlight` start
 * calls pending at once; each result is awaited (and checked) as soon as its start resolves.
 * After a warm-up of the same shape ({@link WARM_UP} workflows).
 */
export function starts(h: Harness, n: number, inFlight: number): Promise<StartsResult> {
  return withEngine(h, freshDb('starts'), async (e) => {
    await startMany(e, 'warmup', Math.min(WARM_UP, n), inFlight);
    await e.resetStats();
    const results: Promise<void>[] = [];
    let next = 0;
    const t0 = h.now();
    await Promise.all(
      Array.from({ length: Math.min(inFlight, n) }, async () => {
        while (next < n) {
          const i = next++;
          const handle = await e.workflow.start('echo', { workflowId: `s-${i}`, args: [i] });
          results.push(
            handle
              .result()
              .then((r) => check(r === i, `workflow s-${i} returned ${String(r)}, expected ${i}`)),
          );
        }
      }),
    );
    const ms = h.now() - t0;
    await Promise.all(results);
    const completedMs = h.now() - t0;
    const stats = await e.stats();
    check(results.length === n, `${results.length} workflows started, expected ${n}`);
    return {
      ms,
      perSec: (n * 1000) / ms,
      completedMs,
      completedPerSec: (n * 1000) / completedMs,
      transactions: stats.committed,
      records: stats.records,
      readRequests: stats.reads,
      requestsByStore: stats.byStore,
    };
  });
}

export interface ReplaySetup {
  db: string;
  workflowId: string;
  events: number;
  activities: number;
  buildMs: number;
}

/**
 * Builds the history for replay10k/50k: one `historyOf` run grown to about `targetEvents`
 * events with batches of `perBatch` parallel activities, then left waiting. The engine is
 * closed (the worker terminated); the database stays for {@link replayQuery}. To build faster,
 * this engine runs up to `perBatch` activities at once (the default is 100); the engines that
 * replay use the defaults.
 */
export async function replayBuild(h: Harness, targetEvents: number, perBatch: number): Promise<ReplaySetup> {
  const db = freshDb(`replay${targetEvents}`);
  const e = await h.open(db, { maxConcurrentActivities: perBatch });
  try {
    await e.ready();
    const workflowId = 'history';
    const t0 = h.now();
    const handle = await e.workflow.start('historyOf', { workflowId, args: [targetEvents, perBatch] });
    // Polls describe() (an execution record read): a query while the run's task is in flight
    // would replay the whole history. Once the history stops growing, one query confirms.
    let progress: { total: number; done: boolean } | undefined;
    let last = -1;
    for (;;) {
      await new Promise((r) => setTimeout(r, 150));
      const d = await handle.describe();
      check(
        d.status === 'RUNNING' && !d.blocked,
        `history build stopped: ${d.status} ${d.blocked?.reason ?? ''}`,
      );
      if (d.historyLength === last && d.historyLength >= targetEvents * 0.9) {
        progress = await handle.query<{ total: number; done: boolean }>('progress');
        if (progress.done) break;
      }
      last = d.historyLength;
    }
    const buildMs = h.now() - t0;
    const { events } = await handle.fetchHistory();
    const completed = events.filter((ev) => ev.eventType === 'ActivityTaskCompleted').length;
    check(
      completed === progress.total,
      `history holds ${completed} completed activities, the run counted ${progress.total}`,
    );
    return { db, workflowId, events: events.length, activities: progress.total, buildMs };
  } finally {
    await e.close();
  }
}

/**
 * replay10k/50k, one measurement: a fresh engine on the built database; once it is ready, a
 * query on the run (not in its cache) loads the history and replays it. Timed from the query
 * call to its answer on the client, Comlink round trip included.
 */
export async function replayQuery(h: Harness, setup: ReplaySetup): Promise<{ ms: number }> {
  const e = await h.open(setup.db);
  try {
    await e.ready();
    const handle = e.workflow.getHandle(setup.workflowId);
    check((await handle.describe()).status === 'RUNNING', 'the history run is open');
    const t0 = h.now();
    const progress = await handle.query<{ total: number; done: boolean }>('progress');
    const ms = h.now() - t0;
    check(
      progress.done && progress.total === setup.activities,
      `replayed state ${JSON.stringify(progress)}, expected { total: ${setup.activities}, done: true }`,
    );
    return { ms };
  } finally {
    await e.close();
  }
}

/** coldStart: from creating the engine (new Worker + connect) to a trivial workflow's result. */
export async function coldStart(h: Harness): Promise<{ ms: number }> {
  const db = freshDb('coldStart');
  const t0 = h.now();
  const e = await h.open(db);
  try {
    const result = await e.workflow.execute('echo', { workflowId: 'cold', args: [42] });
    const ms = h.now() - t0;
    check(result === 42, `cold start workflow returned ${String(result)}`);
    return { ms };
  } finally {
    await e.close();
    await h.drop(db);
  }
}

/**
 * idle10k, the engine side: starts `n` `idler` workflows (100 start calls in flight) and waits
 * until every one has run its first workflow task and sits on its timer. The caller measures
 * the heap, then closes the engine.
 */
export async function idleFill(
  h: Harness,
  e: BenchEngine,
  n: number,
): Promise<{ startMs: number; settledMs: number }> {
  const t0 = h.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(100, n) }, async () => {
      while (next < n) {
        const i = next++;
        await e.workflow.start('idler', { workflowId: `idle-${i}`, args: [] });
      }
    }),
  );
  const startMs = h.now() - t0;
  // WorkflowExecutionStarted, WorkflowTask Scheduled/Started/Completed, TimerStarted.
  for (;;) {
    const runs = await e.workflow.list({ workflowType: 'idler', pageSize: 1000 });
    const waiting = runs.filter((r) => r.status === 'RUNNING' && r.historyLength >= 5).length;
    check(
      runs.every((r) => r.status === 'RUNNING' && !r.blocked),
      'idle workflows are running',
    );
    if (runs.length === n && waiting === n) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  return { startMs, settledMs: h.now() - t0 };
}

/**
 * open100k, the fill: `n` `echo` workflows started from the client, `inFlight` start calls
 * pending at once, each result awaited (and checked) as its start resolves, as `starts1000`
 * does, on a fresh engine over `db`. Timed until every result is in. The engine is then stopped
 * (its worker terminated, as a closed tab's), without waiting for anything.
 */
export async function fillClosed(
  h: Harness,
  db: string,
  n: number,
  inFlight = 1_000,
): Promise<{ ms: number; perSec: number; startsPerSec: number }> {
  const e = await h.open(db);
  try {
    await e.ready();
    const t0 = h.now();
    let next = 0;
    let results: Promise<void>[] = [];
    let startsMs = 0;
    await Promise.all(
      Array.from({ length: Math.min(inFlight, n) }, async () => {
        while (next < n) {
          const i = next++;
          const handle = await e.workflow.start('echo', { workflowId: `fill-${i}`, args: [i] });
          results.push(handle.result().then((r) => check(r === i, `fill-${i} returned ${String(r)}`)));
          // Results are collected as they come, so that a long fill holds a bounded number.
          if (results.length >= 5_000) {
            const batch = results;
            results = [];
            await Promise.all(batch);
          }
        }
      }),
    );
    startsMs = h.now() - t0;
    await Promise.all(results);
    const ms = h.now() - t0;
    return { ms, perSec: (n * 1000) / ms, startsPerSec: (n * 1000) / startsMs };
  } finally {
    await e.close();
  }
}

/**
 * open100k, one open: a new engine (new Worker + connect) on `db`, timed to the result of a
 * new workflow. The engine stays open for the caller (heap, list100k).
 */
export async function openAndRun(
  h: Harness,
  db: string,
  tag: string,
): Promise<{ e: BenchEngine; ms: number }> {
  const t0 = h.now();
  const e = await h.open(db);
  const result = await e.workflow.execute('echo', { workflowId: `open-${tag}`, args: [7] });
  const ms = h.now() - t0;
  check(result === 7, `the first workflow after opening returned ${String(result)}`);
  return { e, ms };
}

/** list100k: the first page of `list` (100, newest first), a filtered page and a count, each timed. */
export async function firstPages(
  h: Harness,
  e: BenchEngine,
  expected: number,
): Promise<{ ms: number; filteredMs: number; countMs: number; count: number }> {
  let t0 = h.now();
  const page = await e.workflow.listPage({ pageSize: 100 });
  const ms = h.now() - t0;
  t0 = h.now();
  const filtered = await e.workflow.listPage({ pageSize: 100, status: 'COMPLETED', workflowType: 'echo' });
  const filteredMs = h.now() - t0;
  t0 = h.now();
  const { count } = await e.workflow.count();
  const countMs = h.now() - t0;
  check(page.executions.length === Math.min(100, expected), `first page holds ${page.executions.length}`);
  check(
    filtered.executions.length === Math.min(100, expected),
    `filtered page holds ${filtered.executions.length}`,
  );
  check(count >= expected, `count ${count}, expected at least ${expected}`);
  return { ms, filteredMs, countMs, count };
}
