/**
 * An engine worker that can be made to crash at a chosen point of its next commit to IndexedDB
 * that writes a given workflow ID (the test arms it through the BroadcastChannel
 * `weft-e2e-faults`: `{ arm: point, match }`):
 * - `before-writes`: the log's transaction is open, nothing put yet;
 * - `after-writes`: every put of the commit issued, not committed;
 * - `after-commit`: committed, and nothing told yet (no resolve, no note, no reply).
 * At the point the worker says so on the channel (`{ crashed: point }`) and spins, so that its
 * code goes no further, until the page terminates it: a crash there, as a tab killed there.
 * IndexedDB's prototypes are patched for it before weft runs; nothing else changes.
 */
import { startWorker } from '../../../src/worker/index.ts';
import * as workflows from './clock-workflows.ts';

type Point = 'before-writes' | 'after-writes' | 'after-commit';
let armed: { point: Point; match: string } | undefined;
const channel = new BroadcastChannel('weft-e2e-faults');
channel.onmessage = (event: MessageEvent<{ arm?: Point; match?: string }>) => {
  if (!event.data.arm) return;
  armed = { point: event.data.arm, match: event.data.match ?? '' };
  channel.postMessage({ armed: event.data.arm });
};

function crash(point: Point): never {
  channel.postMessage({ crashed: point });
  const until = performance.now() + 60_000;
  while (performance.now() < until) {
    // Held here until terminated (bounded, should the page never do it).
  }
  throw new Error(`faults worker: not terminated at ${point}`);
}

/** Commits armed to crash once committed: their `complete` listener is the first one. */
const crashOnComplete = new WeakSet<IDBTransaction>();
const transaction = IDBDatabase.prototype.transaction;
IDBDatabase.prototype.transaction = function (
  this: IDBDatabase,
  ...args: Parameters<IDBDatabase['transaction']>
) {
  const tx = transaction.apply(this, args);
  tx.addEventListener('complete', () => {
    if (crashOnComplete.has(tx)) crash('after-commit');
  });
  return tx;
} as IDBDatabase['transaction'];

const add = IDBObjectStore.prototype.add;
IDBObjectStore.prototype.add = function (this: IDBObjectStore, value: unknown, key?: IDBValidKey) {
  const fault = armed;
  if (!fault || this.name !== 'log' || !JSON.stringify(value).includes(fault.match))
    return add.call(this, value, key);
  armed = undefined;
  if (fault.point === 'before-writes') crash('before-writes');
  const request = add.call(this, value, key);
  // After this call the commit issues its other puts, synchronously; then it would commit.
  if (fault.point === 'after-writes') queueMicrotask(() => crash('after-writes'));
  else crashOnComplete.add(this.transaction);
  return request;
};

const params = new URL(globalThis.location.href).searchParams;
startWorker({ workflows, databaseName: params.get('db') ?? 'faults' }).catch((error: unknown) =>
  console.error('faults worker failed to start', error),
);
