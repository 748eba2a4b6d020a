/**
 * The fuzz page for the e2e tests: engine workers on the database `?db=`, one per host, that the
 * test starts (`start(host)`), kills (`kill(host)`: terminated, as a crash) or arms to crash inside
 * their next writes (`arm(host, point, n)`, see fuzz.worker.ts); and the client of each, that the
 * test calls through `call(host, call)`, which answers an outcome (an error as its name, message
 * and cause) rather than throwing, and `HostDied` when the worker died before it answered.
 * `inspect()` reads what the engine's database holds through a store of its own, `side()` the
 * side tables.
 */
import { realTime } from '../../../fuzz/clock.ts';
import { type Client, connect, type WorkflowStartOptions } from '../../../src/client/index.ts';
import type { HistoryEvent } from '../../../src/engine/events.ts';
import { indexedDbStore } from '../../../src/store/indexeddb.ts';
import type { ExecutionRecord } from '../../../src/store/types.ts';
import type { CrashPoint } from './fuzz.worker.ts';
import workerUrl from './fuzz.worker.ts?worker&url';
import { effectsDbName, readSide, type Side } from './fuzz-effects.ts';

export interface CallError {
  name: string;
  message: string;
  cause?: { name: string; message: string };
}

export type CallOutcome = { ok: true; value: unknown } | { ok: false; error: CallError };

export type Call =
  | { method: 'start'; workflowType: string; options: WorkflowStartOptions }
  | { method: 'signal'; workflowId: string; args: unknown[] }
  | { method: 'describe' | 'result' | 'cancel'; workflowId: string }
  | { method: 'query'; workflowId: string; name: string }
  | { method: 'terminate'; workflowId: string; reason: string };

/** A host killed: when (wall-clock ms), and where it was when it died. */
export interface Killed {
  host: string;
  time: number;
  at: string;
}

export interface FuzzPage {
  /** Resolves once the worker listens (its engine may still be opening). */
  start(host: string): Promise<void>;
  kill(host: string): Killed | undefined;
  /** Resolves once the host crashed there (and was terminated); never, if it never got there. */
  arm(host: string, point: CrashPoint, n: number): Promise<Killed>;
  call(host: string, call: Call): Promise<CallOutcome>;
  effectKeys(): Promise<string[]>;
  side(): Promise<Side>;
  inspect(): Promise<{ executions: ExecutionRecord[]; histories: [string, HistoryEvent[]][] }>;
  /** Deletes the seed's databases (every host killed first). */
  drop(): Promise<void>;
}

declare global {
  interface Window {
    fuzz?: FuzzPage;
  }
}

const db = new URL(location.href).searchParams.get('db') ?? 'fuzz';

interface Engine {
  worker: Worker;
  client: Client;
  /** Rejects once the worker is killed. */
  death: Promise<never>;
  die(): void;
}
const engines = new Map<string, Engine>();

class HostDied extends Error {
  override name = 'HostDied';
}

function serialize(error: unknown): CallError {
  const e = error as { name?: unknown; message?: unknown; cause?: { name?: unknown; message?: unknown } };
  return {
    name: String(e?.name),
    message: String(e?.message),
    ...(e?.cause !== undefined &&
      e.cause !== null && { cause: { name: String(e.cause.name), message: String(e.cause.message) } }),
  };
}

async function run(client: Client, call: Call): Promise<unknown> {
  const { workflow } = client;
  switch (call.method) {
    case 'start':
      await workflow.start(call.workflowType, call.options);
      return undefined;
    case 'signal': {
      const [name, ...args] = call.args as [string, ...unknown[]];
      await workflow.getHandle(call.workflowId).signal(name, ...args);
      return undefined;
    }
    case 'describe':
      return { status: (await workflow.getHandle(call.workflowId).describe()).status };
    case 'result':
      return workflow.getHandle(call.workflowId).result();
    case 'cancel':
      await workflow.getHandle(call.workflowId).cancel();
      return undefined;
    case 'query':
      return workflow.getHandle(call.workflowId).query(call.name);
    case 'terminate':
      await workflow.getHandle(call.workflowId).terminate(call.reason);
      return undefined;
  }
}

function kill(host: string, at: string): Killed | undefined {
  const engine = engines.get(host);
  if (!engine) return undefined;
  engine.worker.terminate();
  const time = realTime();
  engines.delete(host);
  engine.die();
  engine.client.close();
  return { host, time, at };
}

const control = new BroadcastChannel(`weft-fuzz:${db}`);
const crashed = new Map<string, (killed: Killed) => void>();
const up = new Map<string, () => void>();
control.onmessage = (event: MessageEvent<{ crashed?: string; at?: string; up?: string }>) => {
  if (event.data.up !== undefined) up.get(event.data.up)?.();
  const { crashed: host, at } = event.data;
  if (host === undefined) return;
  const killed = kill(host, at ?? 'crash');
  if (killed) crashed.get(host)?.(killed);
};

window.fuzz = {
  async start(host) {
    const query = new URLSearchParams({ db, host });
    const url = `${workerUrl}${workerUrl.includes('?') ? '&' : '?'}${query}`;
    const worker = new Worker(new URL(url, import.meta.url), { type: 'module', name: host });
    let die!: () => void;
    const death = new Promise<never>((_, reject) => {
      die = () => reject(new HostDied(`host ${host} died`));
    });
    death.catch(() => undefined);
    const listening = new Promise<void>((resolve) => up.set(host, resolve));
    const client = await connect(worker, { persist: false });
    engines.set(host, { worker, client, death, die });
    // Its module has run (the engine may still be opening): a crash can be armed.
    await listening;
  },
  kill: (host) => kill(host, 'terminated'),
  arm(host, point, n) {
    const killed = new Promise<Killed>((resolve) => crashed.set(host, resolve));
    control.postMessage({ arm: { host, point, n } });
    return killed;
  },
  async call(host, call) {
    const engine = engines.get(host);
    if (!engine) return { ok: false, error: { name: 'HostDied', message: `${host} is not running` } };
    try {
      return { ok: true, value: await Promise.race([run(engine.client, call), engine.death]) };
    } catch (error) {
      // Its worker gone before it answered: the call may or may not have taken effect.
      if (!engines.has(host)) return { ok: false, error: { name: 'HostDied', message: String(error) } };
      return { ok: false, error: serialize(error) };
    }
  },
  async effectKeys() {
    return [...new Set((await readSide(db)).effects.map((e) => e.key))];
  },
  side: () => readSide(db),
  async inspect() {
    const store = await indexedDbStore({ name: db });
    try {
      const executions = await store.read((tx) => tx.executions.list());
      const histories: [string, HistoryEvent[]][] = [];
      for (const run of executions)
        histories.push([run.runId, await store.read((tx) => tx.history.read(run.runId))]);
      return { executions, histories };
    } finally {
      store.close();
    }
  },
  async drop() {
    for (const host of [...engines.keys()]) kill(host, 'end');
    const remove = (name: string) =>
      new Promise<void>((resolve, reject) => {
        const request = indexedDB.deleteDatabase(name);
        request.onsuccess = () => resolve();
        request.onerror = () => reject(request.error);
      });
    await remove(db);
    await remove(effectsDbName(db));
  },
};
