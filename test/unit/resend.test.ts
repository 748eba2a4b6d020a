/**
 * Calls sent again take effect once (issue 16): a follower forwards its clients' signals,
 * cancel requests, terminates and updates to the leader, and a leader that commits one and dies
 * before it answers leaves the follower to send it again to the next leader. Each call carries
 * a request ID (an update, its update ID) that the run keeps in the transaction of the call's
 * effect, so the next leader, reading the database, finds it and does nothing twice.
 *
 * Two hosts per test: `a` leads, `b` forwards; `a`'s answers to `b` are dropped once the call is
 * sent (as if `a` died between its commit and its answer), then `a` goes, `b` takes over and
 * sends the call again, to itself.
 */
import { IDBFactory } from 'fake-indexeddb';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createEngine,
  type Engine,
  type EngineApi,
  type HistoryEvent,
  indexedDbStore,
  memoryStore,
  type Reply,
  type Store,
} from '../../src/index.ts';
import type { BusNote } from '../../src/protocol/notes.ts';
import { localBus, type WakeBus } from '../../src/worker/bus.ts';
import {
  CancellationScope,
  condition,
  continueAsNew,
  defineSignal,
  defineUpdate,
  setHandler,
} from '../../src/workflow/index.ts';

const add = defineSignal<[string]>('add');
const release = defineSignal('release');
/** Counts its runs: a second run of the same update would answer 2. */
const bump = defineUpdate<number, []>('bump');
/** The same, once `release` came: an update still running when its leader dies. */
const bumpLater = defineUpdate<number, []>('bumpLater');

/**
 * Collects `add` signals until one is `done` (or `next`: continues as new), shrugging off
 * cancel requests (each is recorded in history all the same).
 */
async function collector(): Promise<{ items: string[]; bumps: number }> {
  const items: string[] = [];
  let bumps = 0;
  let released = false;
  setHandler(add, (item) => {
    items.push(item);
  });
  setHandler(release, () => {
    released = true;
  });
  setHandler(bump, () => ++bumps);
  setHandler(bumpLater, async () => {
    await condition(() => released);
    return ++bumps;
  });
  await CancellationScope.nonCancellable(() =>
    condition(() => items.includes('done') || items.includes('next')),
  );
  if (items.includes('next')) await continueAsNew<typeof collector>();
  return { items, bumps };
}

const workflows = { collector };

const engines: Engine[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.shutdown();
});

/** Each entry opens the database for `a`, then for `b` (once `a` leads, durably). */
const stores: [string, () => () => Promise<Store>][] = [
  [
    'memoryStore',
    () => {
      const store = memoryStore();
      return async () => store;
    },
  ],
  [
    'indexedDbStore (fake-indexeddb), two connections',
    () => {
      const factory = new IDBFactory();
      return () => indexedDbStore({ name: 'resend', indexedDB: factory });
    },
  ],
];

describe.each(stores)('a call sent again to the next leader, on %s', (_, database) => {
  /**
   * Leader `a` and follower `b` on one database (`b` reads what `a` wrote from its own
   * connection). `crashAfterCommit()` makes `a` drop its next answers to `b`; `die()` stops it.
   */
  async function pair() {
    const open = database();
    const storeA = await open();
    const shared = localBus(storeA);
    let dropping = false;
    const dropped: BusNote[] = [];
    const busA: WakeBus = {
      publish: (note) => {
        if (dropping && 'answer' in note && note.answer !== undefined) dropped.push(note);
        else shared.publish(note);
      },
      subscribe: (listener) => shared.subscribe(listener),
    };
    // A minute's lease: only `a`'s going lets `b` lead, at once.
    const options = { workflows, leaseTimeout: 60_000 };
    const a = await createEngine({ ...options, store: storeA, identity: 'a', bus: busA });
    engines.push(a);
    // The lease is on disk before `b` looks: `b` follows from the start.
    await storeA.flushed();
    const b = await createEngine({ ...options, store: await open(), identity: 'b', bus: shared });
    engines.push(b);
    return {
      a,
      b,
      api: b.host.api(),
      /**
       * Sends `call` through `b` to `a`, which commits it and dies before its answer leaves;
       * `b` then leads and sends the call again, to itself.
       * @returns the answer to the call, from `b`
       */
      async crashAfterCommit<T>(call: (api: EngineApi) => Promise<Reply<T>>): Promise<Reply<T>> {
        dropping = true;
        const answer = call(b.host.api());
        // `a` answered (so it had committed, durably), and nobody heard it.
        await expect.poll(() => dropped.length).toBe(1);
        await a.shutdown();
        return answer;
      },
    };
  }

  const historyOf = async (engine: Engine, workflowId: string): Promise<HistoryEvent[]> =>
    (await engine.client.workflow.getHandle(workflowId).fetchHistory()).events;
  const count = (events: HistoryEvent[], type: string) => events.filter((e) => e.eventType === type).length;

  it('a signal is delivered once', async () => {
    const { b, crashAfterCommit } = await pair();
    await b.client.workflow.start(collector, { workflowId: 'sig' });
    const answer = await crashAfterCommit((api) => api.signal('sig', undefined, 'add', ['first']));
    expect(answer).toEqual({ ok: undefined });
    await b.client.workflow.getHandle('sig').signal(add, 'done');
    // Sent twice and taken twice, the items would be first, first, done.
    expect(await b.client.workflow.getHandle('sig').result()).toEqual({ items: ['first', 'done'], bumps: 0 });
    expect(count(await historyOf(b, 'sig'), 'WorkflowExecutionSignaled')).toBe(2);
  });

  it('a cancel request is delivered once', async () => {
    const { b, crashAfterCommit } = await pair();
    await b.client.workflow.start(collector, { workflowId: 'cancel' });
    expect(await crashAfterCommit((api) => api.cancel('cancel', undefined, 'enough'))).toEqual({
      ok: undefined,
    });
    await b.client.workflow.getHandle('cancel').signal(add, 'done');
    await b.client.workflow.getHandle('cancel').result();
    const requested = (await historyOf(b, 'cancel')).filter(
      (e) => e.eventType === 'WorkflowExecutionCancelRequested',
    );
    expect(requested.map((e) => e.attributes)).toEqual([{ cause: 'enough' }]);
  });

  it('a terminate that closed the run answers success again, not that the run is closed', async () => {
    const { b, crashAfterCommit } = await pair();
    await b.client.workflow.start(collector, { workflowId: 'term' });
    expect(await crashAfterCommit((api) => api.terminate('term', undefined, 'stop'))).toEqual({
      ok: undefined,
    });
    const events = await historyOf(b, 'term');
    expect(count(events, 'WorkflowExecutionTerminated')).toBe(1);
    expect(events.at(-1)).toMatchObject({
      eventType: 'WorkflowExecutionTerminated',
      attributes: { reason: 'stop' },
    });
    // Another terminate (another request) is told the truth.
    await expect(b.client.workflow.getHandle('term').terminate()).rejects.toMatchObject({
      name: 'WorkflowNotFoundError',
      message: expect.stringContaining('already closed (TERMINATED)'),
    });
  });

  it('an update that completed before its leader died returns its outcome, and runs once', async () => {
    const { b, crashAfterCommit } = await pair();
    const handle = await b.client.workflow.start(collector, { workflowId: 'upd' });
    // Handled in the workflow task after the request's commit, so `a` answers once both are durable.
    expect(await crashAfterCommit((api) => api.update('upd', undefined, 'bump', []))).toEqual({ ok: 1 });
    await handle.signal(add, 'done');
    expect(await handle.result()).toEqual({ items: ['done'], bumps: 1 });
    const events = await historyOf(b, 'upd');
    expect(count(events, 'WorkflowExecutionUpdateAccepted')).toBe(1);
    expect(count(events, 'WorkflowExecutionUpdateCompleted')).toBe(1);
  });

  it('an update still running when its leader died is waited for, and runs once', async () => {
    const { a, b, api } = await pair();
    const handle = await b.client.workflow.start(collector, { workflowId: 'later' });
    const answer = api.update('later', undefined, 'bumpLater', []);
    // Accepted (its handler waits for `release`): `a` then dies, its answer never given.
    await expect
      .poll(async () => count(await historyOf(b, 'later'), 'WorkflowExecutionUpdateAccepted'))
      .toBe(1);
    await a.shutdown();
    // `b` leads and sent the update again: it waits for the one accepted, which `release` completes.
    await expect
      .poll(() => b.host.api().describe('later', undefined))
      .toMatchObject({ ok: { status: 'RUNNING' } });
    await handle.signal(release);
    expect(await answer).toEqual({ ok: 1 });
    await handle.signal(add, 'done');
    expect(await handle.result()).toEqual({ items: ['done'], bumps: 1 });
    const events = await historyOf(b, 'later');
    expect(count(events, 'WorkflowExecutionUpdateAccepted')).toBe(1);
    expect(count(events, 'WorkflowExecutionUpdateCompleted')).toBe(1);
  });
});

describe('request IDs on a run', () => {
  /** A leader and a follower on one memory store: each call through `b` is forwarded, as a resend is. */
  async function pair() {
    const store = memoryStore();
    const a = await createEngine({ workflows, store, identity: 'a' });
    engines.push(a);
    const b = await createEngine({ workflows, store, identity: 'b' });
    engines.push(b);
    const runOf = (workflowId: string) =>
      store.read(async (tx) =>
        (await tx.executions.list({ workflowId })).sort((x, y) => x.startTime - y.startTime),
      );
    return { a, b, api: b.host.api(), runOf };
  }

  it('a run keeps the last 32, and a forwarded call keeps one only then', async () => {
    const { a, api, runOf } = await pair();
    await a.client.workflow.start(collector, { workflowId: 'ids' });
    // The leader's own client is never sent again: its calls keep nothing.
    await a.client.workflow.getHandle('ids').signal(add, 'local');
    expect((await runOf('ids'))[0]?.requestIds).toBeUndefined();
    for (let i = 0; i < 40; i++)
      expect(await api.signal('ids', undefined, 'add', [`${i}`], `r-${i}`)).toEqual({ ok: undefined });
    const kept = (await runOf('ids'))[0]?.requestIds;
    expect(kept).toEqual(Array.from({ length: 32 }, (_, i) => `r-${i + 8}`));
    // The oldest of those is taken again if it comes again; the newest is not.
    await api.signal('ids', undefined, 'add', ['39'], 'r-39');
    await api.signal('ids', undefined, 'add', ['0'], 'r-0');
    await api.signal('ids', undefined, 'add', ['done']);
    const { items } = (await a.client.workflow.getHandle('ids').result()) as { items: string[] };
    expect(items).toEqual(['local', ...Array.from({ length: 40 }, (_, i) => `${i}`), '0', 'done']);
  });

  it('a signal sent again after its run continued as new is not delivered to the next run', async () => {
    const { a, api, runOf } = await pair();
    await a.client.workflow.start(collector, { workflowId: 'can' });
    expect(await api.signal('can', undefined, 'add', ['next'], 'r-next')).toEqual({ ok: undefined });
    await expect.poll(async () => (await runOf('can')).length).toBe(2);
    expect(await api.signal('can', undefined, 'add', ['next'], 'r-next')).toEqual({ ok: undefined });
    await api.signal('can', undefined, 'add', ['done']);
    expect(await a.client.workflow.getHandle('can').result()).toEqual({ items: ['done'], bumps: 0 });
    // Taken again, `next` would have continued the second run as new too.
    expect((await runOf('can')).map((run) => run.status)).toEqual(['CONTINUED_AS_NEW', 'COMPLETED']);
  });

  it('an update sent again with its ID by the client runs once and gives the first outcome', async () => {
    const { a, b } = await pair();
    const handle = await a.client.workflow.start(collector, { workflowId: 'uid' });
    // On the leader, and through the follower: one update ID, one run of the handler.
    expect(await handle.executeUpdate(bump, { updateId: 'u-1' })).toBe(1);
    expect(await b.client.workflow.getHandle('uid').executeUpdate(bump, { updateId: 'u-1' })).toBe(1);
    expect(await handle.executeUpdate(bump, { updateId: 'u-2' })).toBe(2);
    // Two at once with one ID: both wait for the one that runs.
    const later = await Promise.all([
      handle.executeUpdate(bumpLater, { updateId: 'u-3' }),
      b.client.workflow.getHandle('uid').executeUpdate(bumpLater, { updateId: 'u-3' }),
      handle.signal(release),
    ]);
    expect(later.slice(0, 2)).toEqual([3, 3]);
    await handle.signal(add, 'done');
    expect(await handle.result()).toEqual({ items: ['done'], bumps: 3 });
    await expect(handle.executeUpdate(bump, { updateId: 'u-1' })).resolves.toBe(1);
    await expect(handle.executeUpdate(bump, { updateId: 'u-4' })).rejects.toMatchObject({
      name: 'WorkflowNotFoundError',
    });
  });

  it('a request ID that is not a string is refused, and nothing is written', async () => {
    const { a, api, runOf } = await pair();
    await a.client.workflow.start(collector, { workflowId: 'bad' });
    const before = await runOf('bad');
    expect(await api.signal('bad', undefined, 'add', ['x'], 7 as never)).toMatchObject({
      error: { name: 'InvalidArgumentError' },
    });
    expect(await api.update('bad', undefined, 'bump', [], '' as never)).toMatchObject({
      error: { name: 'InvalidArgumentError' },
    });
    expect(await runOf('bad')).toEqual(before);
  });
});
