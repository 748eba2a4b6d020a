/**
 * An engine worker running the crash fuzzer's workflows (fuzz/workflows.ts) and activities
 * (fuzz/activities.ts) on the IndexedDB database `?db=`, as host `?host=`. Each activity execution
 * records its effect in the side tables (fuzz-effects.ts) before it goes on, with the leader as
 * this host last heard (a lease note on the engine's channel, its own included).
 *
 * A crash inside the engine's writes: the page arms it through the BroadcastChannel
 * `weft-fuzz:<db>` (`{ arm: { host, point, n } }`), and at this host's n-th read-write transaction
 * on the engine's database from then on the worker says so on the channel (`{ crashed: host }`)
 * and spins until the page terminates it:
 * - `before`: the transaction is being opened, nothing put;
 * - `writes`: the transaction's requests issued and not committed (they abort with the worker);
 * - `commit`: committed, and nothing told yet (no resolve, no note, no reply).
 * IndexedDB's and BroadcastChannel's prototypes are patched for it before weft runs; nothing else
 * changes.
 */
import { fuzzActivities } from '../../../fuzz/activities.ts';
import { realTime } from '../../../fuzz/clock.ts';
import { outcomeWatch } from '../../../fuzz/outcomes.ts';
import * as workflows from '../../../fuzz/workflows.ts';
import { faultyStore } from '../../../src/store/faulty.ts';
import { indexedDbStore } from '../../../src/store/indexeddb.ts';
import { startWorker } from '../../../src/worker/index.ts';
import { addEffect, addReload, addResolutions, openEffects } from './fuzz-effects.ts';

export type CrashPoint = 'before' | 'writes' | 'commit';

const params = new URL(globalThis.location.href).searchParams;
const db = params.get('db') ?? 'fuzz';
const host = params.get('host') ?? 'h1';
const side = openEffects(db);

let leader: string | undefined;
const engineChannel = `weft:${db}`;
const heard = (note: unknown): void => {
  const holder = (note as { lease?: { holder?: unknown } } | null)?.lease?.holder;
  if (typeof holder === 'string') leader = holder;
};
new BroadcastChannel(engineChannel).onmessage = (event: MessageEvent) => heard(event.data);
const postMessage = BroadcastChannel.prototype.postMessage;
BroadcastChannel.prototype.postMessage = function (this: BroadcastChannel, message: unknown) {
  if (this.name === engineChannel) heard(message);
  return postMessage.call(this, message);
};

let armed: { point: CrashPoint; left: number } | undefined;
const control = new BroadcastChannel(`weft-fuzz:${db}`);
control.onmessage = (event: MessageEvent<{ arm?: { host: string; point: CrashPoint; n: number } }>) => {
  const arm = event.data.arm;
  if (arm?.host === host) armed = { point: arm.point, left: arm.n };
};

function crash(point: CrashPoint): never {
  control.postMessage({ crashed: host, at: point });
  const until = performance.now() + 30_000;
  while (performance.now() < until) {
    // Held here until terminated (bounded, should the page never do it).
  }
  throw new Error(`fuzz worker ${host}: not terminated at ${point}`);
}

const transaction = IDBDatabase.prototype.transaction;
IDBDatabase.prototype.transaction = function (
  this: IDBDatabase,
  ...args: Parameters<IDBDatabase['transaction']>
) {
  const fault = this.name === db && args[1] === 'readwrite' && armed && --armed.left <= 0 ? armed : undefined;
  if (fault) armed = undefined;
  if (fault?.point === 'before') crash('before');
  const tx = transaction.apply(this, args);
  // A microtask later the store has issued its requests (some or all), and none can have
  // committed: committing needs this thread back in its event loop.
  if (fault?.point === 'writes') queueMicrotask(() => crash('writes'));
  // The first `complete` listener: before the store's own hears of the commit.
  if (fault?.point === 'commit') tx.addEventListener('complete', () => crash('commit'));
  return tx;
} as IDBDatabase['transaction'];

// A promise, not awaited here: a top-level await would make the worker miss its page's first
// messages. The store is watched for when activity outcomes become durable, as in Node's fuzzer.
const store = indexedDbStore({ name: db }).then((base) => {
  base.onReload(() => {
    const time = realTime();
    void side.then((database) => addReload(database, { host, time }));
  });
  const watch = outcomeWatch(base, (resolutions) => {
    void side.then((database) => addResolutions(database, resolutions));
  });
  return faultyStore(base, {
    before: (op) => {
      watch.before(op);
      return undefined;
    },
    after: (op, outcome) => {
      watch.after(op, outcome);
      return undefined;
    },
  });
});

startWorker({
  workflows,
  activities: fuzzActivities({
    record: async (effect) => {
      const time = realTime();
      const heardLeader = leader;
      return addEffect(await side, {
        ...effect,
        host,
        time,
        ...(heardLeader !== undefined && { leader: heardLeader }),
      });
    },
    work: (key) => new Promise<void>((resolve) => setTimeout(resolve, key.length % 3)),
  }),
  databaseName: db,
  store,
  identity: host,
}).catch((error: unknown) => console.error('fuzz worker failed to start', error));
// Listening: the page may arm a crash now.
control.postMessage({ up: host });
