/**
 * `client.workflow.signalWithStart`, as Temporal's: the ID's running execution gets the signal
 * (no new run, the start options unused); otherwise a run starts with the signal recorded right
 * after `WorkflowExecutionStarted` and handed to its first activation. The check, the start and
 * the signal are one transaction, so concurrent calls make one run that has every signal, and a
 * call sent again to a new leader (with its request ID) neither starts nor signals twice.
 */
import { IDBFactory } from 'fake-indexeddb';
import { afterEach, describe, expect, it } from 'vitest';
import { createEngine, type Engine, indexedDbStore, memoryStore, type Store } from '../../src/index.ts';
import { condition, defineQuery, defineSignal, setHandler } from '../../src/workflow/index.ts';

const add = defineSignal<[string]>('add');
const items = defineQuery<string[]>('items');

/** Called once by the next `add` signal a workflow handles: lets a test act while a task runs. */
let onNextSignal: (() => void) | undefined;

/** Collects `add` signals until it has `expected` of them; the handler is set at the top. */
async function collect(expected: number): Promise<string[]> {
  const seen: string[] = [];
  setHandler(add, (item) => {
    seen.push(item);
    const hook = onNextSignal;
    onNextSignal = undefined;
    hook?.();
  });
  setHandler(items, () => seen);
  await condition(() => seen.length >= expected);
  return seen;
}

const workflows = { collect };

const engines: Engine[] = [];
afterEach(async () => {
  onNextSignal = undefined;
  for (const engine of engines.splice(0)) await engine.shutdown();
});

/** Every store table a signal-with-start could write to. */
function snapshot(store: Store) {
  return store.read(async (tx) => {
    const executions = await tx.executions.list();
    return {
      executions,
      tasks: await tx.workflowTasks.list(),
      timers: await tx.timers.list(),
      inbox: (await Promise.all(executions.map((e) => tx.inbox.list(e.runId)))).flat(),
    };
  });
}

const stores: [string, () => Promise<Store>][] = [
  ['memoryStore', async () => memoryStore()],
  ['indexedDbStore (fake-indexeddb)', () => indexedDbStore({ name: 'sws', indexedDB: new IDBFactory() })],
];

describe.each(stores)('signalWithStart on %s', (_, makeStore) => {
  /** An engine on `store`, or on a store of its own. */
  async function engine(options: { store?: Store; payloadLimit?: number } = {}) {
    const created = await createEngine({
      workflows,
      ...options,
      store: options.store ?? (await makeStore()),
    });
    engines.push(created);
    return created;
  }

  it('starts a run whose history has the signal right after its start, seen by its first activation', async () => {
    const { client } = await engine();
    const handle = await client.workflow.signalWithStart(collect, {
      workflowId: 'new',
      args: [1],
      signal: add,
      signalArgs: ['first'],
    });
    expect(await handle.result()).toEqual(['first']);
    const { events } = await handle.fetchHistory();
    // One workflow task: the signal came with the start, in the first activation.
    expect(events.map((e) => e.eventType)).toEqual([
      'WorkflowExecutionStarted',
      'WorkflowExecutionSignaled',
      'WorkflowTaskScheduled',
      'WorkflowTaskStarted',
      'WorkflowTaskCompleted',
      'WorkflowExecutionCompleted',
    ]);
    expect(events[0]?.attributes).toMatchObject({ workflowType: 'collect', input: [1] });
    expect(events[1]?.attributes).toEqual({ signalName: 'add', input: ['first'], identity: 'client' });
    const { runId } = await handle.describe();
    expect(handle.signaledRunId).toBe(runId);
    expect(handle.firstExecutionRunId).toBe(runId);
    expect(handle.runId).toBeUndefined();
  });

  it('signals a running execution and starts nothing, whatever the start options say', async () => {
    const { client } = await engine();
    const running = await client.workflow.start(collect, { workflowId: 'busy', args: [2] });
    await expect.poll(() => running.query(items)).toEqual([]);
    const { runId } = await running.describe();

    const handle = await client.workflow.signalWithStart(collect, {
      workflowId: 'busy',
      args: [1],
      signal: add,
      signalArgs: ['a'],
      // The reuse policy concerns closed runs: a running one is signaled anyway.
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      memo: { ignored: true },
    });
    expect(handle.signaledRunId).toBe(runId);
    // Found running: it may not be the first of its chain.
    expect(handle.firstExecutionRunId).toBeUndefined();
    await expect.poll(() => running.query(items)).toEqual(['a']);
    const again = await client.workflow.signalWithStart('collect', {
      workflowId: 'busy',
      signal: 'add',
      signalArgs: ['b'],
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
    expect(again.signaledRunId).toBe(runId);
    // Its own arguments (2) still hold: the second signal completes it.
    expect(await again.result()).toEqual(['a', 'b']);
    const runs = await client.workflow.list({ workflowId: 'busy' });
    expect(runs.map((r) => r.runId)).toEqual([runId]);
    expect((await running.describe()).memo).toBeUndefined();
  });

  it('starts a new run after a closed one, under the reuse policy', async () => {
    const { client } = await engine();
    const first = await client.workflow.start(collect, { workflowId: 'again', args: [0] });
    expect(await first.result()).toEqual([]);
    const closed = first.firstExecutionRunId;

    // The default, ALLOW_DUPLICATE: a new run, with the signal.
    const handle = await client.workflow.signalWithStart(collect, {
      workflowId: 'again',
      args: [1],
      signal: add,
      signalArgs: ['x'],
    });
    expect(handle.signaledRunId).not.toBe(closed);
    expect(await handle.result()).toEqual(['x']);
    const runs = await client.workflow.list({ workflowId: 'again' });
    // (Both may have started in the same millisecond: their order is not the point.)
    expect(runs.map((r) => r.runId).sort()).toEqual([handle.signaledRunId, closed].sort());

    for (const workflowIdReusePolicy of ['REJECT_DUPLICATE', 'ALLOW_DUPLICATE_FAILED_ONLY'] as const) {
      await expect(
        client.workflow.signalWithStart(collect, {
          workflowId: 'again',
          args: [1],
          signal: add,
          signalArgs: ['y'],
          workflowIdReusePolicy,
        }),
      ).rejects.toMatchObject({ name: 'WorkflowExecutionAlreadyStartedError' });
    }
    expect(await client.workflow.count({ workflowId: 'again' })).toEqual({ count: 2 });
  });

  it('with TERMINATE_IF_RUNNING, terminates the running execution and starts one with the signal', async () => {
    const { client } = await engine();
    const old = await client.workflow.start(collect, { workflowId: 'restart', args: [5] });
    const handle = await client.workflow.signalWithStart(collect, {
      workflowId: 'restart',
      args: [1],
      signal: add,
      signalArgs: ['fresh'],
      workflowIdReusePolicy: 'TERMINATE_IF_RUNNING',
    });
    expect(handle.signaledRunId).not.toBe(old.firstExecutionRunId);
    expect(await handle.result()).toEqual(['fresh']);
    const oldRun = client.workflow.getHandle('restart', old.firstExecutionRunId);
    expect((await oldRun.describe()).status).toBe('TERMINATED');
  });

  it('refuses bad input with InvalidArgumentError and writes nothing', async () => {
    const store = await makeStore();
    const { client, host } = await engine({ store, payloadLimit: 1_000 });
    const running = await client.workflow.start(collect, { workflowId: 'running', args: [3] });
    await expect.poll(() => running.query(items)).toEqual([]);
    const before = await snapshot(store);
    const historyBefore = await running.fetchHistory();
    const base = { workflowId: 'running', args: [1] as [number] };

    const refused = async (call: Promise<unknown>, message: RegExp) =>
      expect(call).rejects.toMatchObject({
        name: 'InvalidArgumentError',
        message: expect.stringMatching(message),
      });
    await refused(
      client.workflow.signalWithStart('nope', { ...base, signal: 'add' }),
      /Unknown workflow type 'nope'/,
    );
    await refused(
      client.workflow.signalWithStart('collect', { ...base, signal: 'add', signalArgs: [() => 1] }),
      /not structured-cloneable/,
    );
    await refused(
      client.workflow.signalWithStart(collect, { ...base, signal: add, signalArgs: ['z'.repeat(2_000)] }),
      /Signal arguments is too large/,
    );
    await refused(
      client.workflow.signalWithStart(collect, {
        ...base,
        workflowId: 'other',
        args: ['z'.repeat(2_000)] as never,
        signal: add,
        signalArgs: ['a'],
      }),
      /Workflow arguments is too large/,
    );
    await refused(client.workflow.signalWithStart('collect', { ...base } as never), /needs options.signal/);
    await refused(
      client.workflow.signalWithStart('collect', { ...base, signal: '' }),
      /needs options.signal/,
    );
    await refused(
      client.workflow.signalWithStart('collect', { ...base, signal: 'add', signalArgs: 'a' as never }),
      /signalArgs must be an array/,
    );
    await refused(
      client.workflow.signalWithStart('collect', {
        ...base,
        signal: 'add',
        workflowIdConflictPolicy: 'FAIL',
      }),
      /USE_EXISTING \(the default\) only, not FAIL/,
    );
    await refused(
      client.workflow.signalWithStart('collect', {
        ...base,
        signal: 'add',
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'TERMINATE_IF_RUNNING',
      }),
      /cannot be used together/,
    );
    await refused(
      client.workflow.signalWithStart('collect', { ...base, workflowId: '', signal: 'add' }),
      /signalWithStart needs options.workflowId/,
    );
    await refused(
      client.workflow.signalWithStart('collect', { ...base, signal: 'add', workflowRunTimeout: 'soon' }),
      /soon/,
    );
    // The engine checks for itself what a caller that skips the client's check sends.
    const direct = await host
      .api()
      .signalWithStart('collect', { ...base, signal: 'add', signalArgs: [Symbol('s')] });
    expect(direct).toMatchObject({ error: { name: 'InvalidArgumentError' } });

    expect(await snapshot(store)).toEqual(before);
    expect(await running.fetchHistory()).toEqual(historyBefore);
  });

  it('concurrent calls with one ID make one run that gets every signal', async () => {
    const store = await makeStore();
    const a = await engine({ store });
    // A second host: its calls go to the leader (a) and share its transactions' order.
    const b = await engine({ store });
    const n = 12;
    const handles = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        (i % 2 ? b : a).client.workflow.signalWithStart(collect, {
          workflowId: 'together',
          args: [n],
          signal: add,
          signalArgs: [`s${i}`],
        }),
      ),
    );
    const runIds = new Set(handles.map((h) => h.signaledRunId));
    expect(runIds.size).toBe(1);
    const seen = await handles[0]!.result();
    expect([...seen].sort()).toEqual(Array.from({ length: n }, (_, i) => `s${i}`).sort());
    const { events } = await handles[0]!.fetchHistory();
    expect(events.filter((e) => e.eventType === 'WorkflowExecutionSignaled')).toHaveLength(n);
    expect(events[1]?.eventType).toBe('WorkflowExecutionSignaled');
    expect(await a.client.workflow.count({ workflowId: 'together' })).toEqual({ count: 1 });
  });

  it('a signal that lands while the running execution’s closing task runs is not lost with the close', async () => {
    const { client } = await engine();
    const options = { workflowId: 'closing', args: [1] as [number], signal: add };
    let late: Promise<{ signaledRunId: string }> | undefined;
    // Sent from inside the task that completes the run: it may commit before that task does.
    onNextSignal = () => {
      late = client.workflow.signalWithStart(collect, { ...options, signalArgs: ['late'] });
    };
    const first = await client.workflow.signalWithStart(collect, { ...options, signalArgs: ['first'] });
    await first.result();
    expect(late).toBeDefined();
    const second = await late!;
    // Each call's signal is in the history of the run it says it signaled.
    for (const [handle, item] of [
      [first, 'first'],
      [second, 'late'],
    ] as const) {
      const { events } = await client.workflow.getHandle('closing', handle.signaledRunId).fetchHistory();
      const signaled = events.filter((e) => e.eventType === 'WorkflowExecutionSignaled');
      expect(signaled.map((e) => e.attributes)).toContainEqual(expect.objectContaining({ input: [item] }));
    }
  });

  it('so does a plain signal the run accepted while its closing task ran', async () => {
    const { client } = await engine();
    let late: Promise<string> | undefined;
    onNextSignal = () => {
      late = client.workflow
        .getHandle('closing-plain')
        .signal(add, 'late')
        .then(
          () => 'accepted',
          (error: Error) => error.name,
        );
    };
    const handle = await client.workflow.start(collect, { workflowId: 'closing-plain', args: [1] });
    await handle.signal(add, 'first');
    await handle.result();
    const { events } = await handle.fetchHistory();
    const inputs = events.filter((e) => e.eventType === 'WorkflowExecutionSignaled').map((e) => e.attributes);
    // Accepted, it is in the run's history; refused (it came after the close), the caller knows.
    if ((await late) === 'accepted')
      expect(inputs).toEqual([
        expect.objectContaining({ input: ['first'] }),
        expect.objectContaining({ input: ['late'] }),
      ]);
    else {
      expect(await late).toBe('WorkflowNotFoundError');
      expect(inputs).toEqual([expect.objectContaining({ input: ['first'] })]);
    }
  });

  it('racing a plain start, one run exists and it has the signal', async () => {
    const { client } = await engine();
    const [started, signaled] = await Promise.allSettled([
      client.workflow.start(collect, { workflowId: 'race', args: [1] }),
      client.workflow.signalWithStart(collect, {
        workflowId: 'race',
        args: [1],
        signal: add,
        signalArgs: ['won'],
      }),
    ]);
    expect(signaled.status).toBe('fulfilled');
    const handle = (
      signaled as PromiseFulfilledResult<Awaited<ReturnType<typeof client.workflow.signalWithStart>>>
    ).value;
    // Whichever came first, the start either made the run the signal went to, or found it taken.
    if (started.status === 'fulfilled') expect(started.value.firstExecutionRunId).toBe(handle.signaledRunId);
    else expect(started.reason).toMatchObject({ name: 'WorkflowExecutionAlreadyStartedError' });
    expect(await handle.result()).toEqual(['won']);
    expect(await client.workflow.count({ workflowId: 'race' })).toEqual({ count: 1 });
  });

  it('sent again with its request ID through a host that forwards it, neither starts nor signals twice', async () => {
    const store = await makeStore();
    const a = await engine({ store });
    const b = await engine({ store });
    const signals = async (workflowId: string) =>
      (await a.client.workflow.getHandle(workflowId).fetchHistory()).events.filter(
        (e) => e.eventType === 'WorkflowExecutionSignaled',
      ).length;

    // It started the run: sent again, the same run, signaled once.
    const starting = {
      workflowId: 'once',
      args: [3],
      signal: 'add',
      signalArgs: ['1'],
      requestId: 'r-start',
    };
    const first = await b.host.api().signalWithStart('collect', starting);
    expect(first).toMatchObject({ ok: { workflowId: 'once', started: true } });
    expect(await b.host.api().signalWithStart('collect', starting)).toEqual(first);
    await expect.poll(() => a.client.workflow.getHandle('once').query(items)).toEqual(['1']);
    expect(await signals('once')).toBe(1);

    // It signaled the running run: sent again, not delivered again; another request is.
    const signaled = { ok: { ...('ok' in first && first.ok), started: false } };
    const signaling = { ...starting, signalArgs: ['2'], requestId: 'r-signal' };
    expect(await b.host.api().signalWithStart('collect', signaling)).toEqual(signaled);
    expect(await b.host.api().signalWithStart('collect', signaling)).toEqual(signaled);
    await expect.poll(() => a.client.workflow.getHandle('once').query(items)).toEqual(['1', '2']);
    const closing = { ...starting, signalArgs: ['3'], requestId: 'r-close' };
    expect(await b.host.api().signalWithStart('collect', closing)).toEqual(signaled);
    expect(await a.client.workflow.getHandle('once').result()).toEqual(['1', '2', '3']);
    // Sent again once the run it signaled has closed: that run, and no new one.
    expect(await b.host.api().signalWithStart('collect', closing)).toEqual(signaled);
    expect(await signals('once')).toBe(3);
    expect(await a.client.workflow.count({ workflowId: 'once' })).toEqual({ count: 1 });

    // A new request is a new signal-with-start: the ID's run is closed, so a new run.
    const third = await b.host.api().signalWithStart('collect', { ...starting, requestId: 'r-new' });
    expect(third).toMatchObject({ ok: { started: true } });
    expect(await a.client.workflow.count({ workflowId: 'once' })).toEqual({ count: 2 });
  });
});
