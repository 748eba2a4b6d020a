import { IDBFactory } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import { createEngine, indexedDbStore, memoryStore, type Store } from '../../src/index.ts';
import { Context } from '../../src/worker/activity.ts';
import { condition, defineSignal, proxyActivities, setHandler, sleep } from '../../src/workflow/index.ts';

function counters() {
  const calls: Record<string, number> = {};
  const bump = (name: string) => {
    calls[name] = (calls[name] ?? 0) + 1;
  };
  return { calls, bump };
}

const stores: [string, () => Promise<Store>][] = [
  ['memoryStore', async () => memoryStore()],
  [
    'indexedDbStore (fake-indexeddb)',
    () => indexedDbStore({ name: 'durability', indexedDB: new IDBFactory() }),
  ],
];

describe.each(stores)('durability on %s', (_, makeStore) => {
  it('resumes after the host stops mid-timer, without re-running a finished activity', async () => {
    const store = await makeStore();
    const { calls, bump } = counters();
    const activities = {
      async step(name: string) {
        bump(name);
        return name;
      },
    };
    const workflows = {
      async twoSteps(): Promise<string> {
        const { step } = proxyActivities<typeof activities>({ startToCloseTimeout: '5s' });
        const a = await step('first');
        await sleep(300);
        const b = await step('second');
        return `${a}+${b}`;
      },
    };
    const first = await createEngine({ workflows, activities, store });
    const handle = await first.client.workflow.start('twoSteps', { workflowId: 'd1' });
    await expect
      .poll(async () => (await handle.fetchHistory()).events.some((e) => e.eventType === 'TimerStarted'))
      .toBe(true);
    await first.shutdown();
    expect(calls).toEqual({ first: 1 });

    const second = await createEngine({ workflows, activities, store });
    expect(await second.client.workflow.getHandle('d1').result()).toBe('first+second');
    expect(calls).toEqual({ first: 1, second: 1 });
    await second.shutdown();
  });

  it('evicts cached instances and replays them from history', async () => {
    const store = await makeStore();
    const workflows = {
      async waits(n: number): Promise<number> {
        await sleep(20);
        await sleep(20);
        return n * 2;
      },
    };
    const engine = await createEngine({ workflows, store, maxCachedWorkflows: 1 });
    const results = await Promise.all(
      [1, 2, 3, 4].map((n) => engine.client.workflow.execute('waits', { workflowId: `w${n}`, args: [n] })),
    );
    expect(results).toEqual([2, 4, 6, 8]);
    await engine.shutdown();
  });
});

describe('activities', () => {
  it('times out an attempt (start-to-close), aborts its signal, and retries', async () => {
    let attempts = 0;
    let aborted = 0;
    const activities = {
      async slow(): Promise<string> {
        const { cancellationSignal, info } = Context.current();
        attempts++;
        if (info.attempt < 3) {
          await new Promise((_, reject) =>
            cancellationSignal.addEventListener('abort', () => {
              aborted++;
              reject(new Error('aborted'));
            }),
          );
        }
        return `attempt ${info.attempt}`;
      },
    };
    const workflows = {
      async timing(): Promise<string> {
        const { slow } = proxyActivities<typeof activities>({
          startToCloseTimeout: 30,
          retry: { initialInterval: 5, maximumAttempts: 5 },
        });
        return slow();
      },
    };
    const engine = await createEngine({ workflows, activities });
    expect(await engine.client.workflow.execute('timing', { workflowId: 't' })).toBe('attempt 3');
    expect(attempts).toBe(3);
    await expect.poll(() => aborted).toBe(2);
    await engine.shutdown();
  });

  it('reports ActivityTaskTimedOut when attempts run out', async () => {
    const activities = {
      async never(): Promise<void> {
        await new Promise(() => undefined);
      },
    };
    const workflows = {
      async timesOut(): Promise<string> {
        const { never } = proxyActivities<typeof activities>({
          startToCloseTimeout: 20,
          retry: { maximumAttempts: 2, initialInterval: 1 },
        });
        try {
          await never();
          return 'no';
        } catch (error) {
          const e = error as Error & { cause?: Error & { timeoutType?: string } };
          return `${e.name}/${e.cause?.name}/${e.cause?.timeoutType}`;
        }
      },
    };
    const engine = await createEngine({ workflows, activities });
    expect(await engine.client.workflow.execute('timesOut', { workflowId: 't2' })).toBe(
      'ActivityFailure/TimeoutFailure/START_TO_CLOSE',
    );
    const { events } = await engine.client.workflow.getHandle('t2').fetchHistory();
    expect(events.find((e) => e.eventType === 'ActivityTaskTimedOut')?.attributes).toMatchObject({
      retryState: 'RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED',
    });
    await engine.shutdown();
  });

  it('cancels a running activity through its AbortSignal (workflow cancelled)', async () => {
    let sawAbort = false;
    const activities = {
      async longRunning(): Promise<void> {
        const { cancellationSignal } = Context.current();
        await new Promise<void>((resolve) =>
          cancellationSignal.addEventListener('abort', () => {
            sawAbort = true;
            resolve();
          }),
        );
      },
    };
    const workflows = {
      async holdsActivity(): Promise<void> {
        const { longRunning } = proxyActivities<typeof activities>({ startToCloseTimeout: '1 minute' });
        await longRunning();
      },
    };
    const engine = await createEngine({ workflows, activities });
    const handle = await engine.client.workflow.start('holdsActivity', { workflowId: 'c' });
    await expect
      .poll(async () =>
        (await handle.fetchHistory()).events.some((e) => e.eventType === 'ActivityTaskScheduled'),
      )
      .toBe(true);
    await handle.cancel();
    await expect(handle.result()).rejects.toMatchObject({ name: 'WorkflowFailedError' });
    await expect.poll(() => sawAbort).toBe(true);
    const types = (await handle.fetchHistory()).events.map((e) => e.eventType);
    expect(types).toContain('ActivityTaskCancelRequested');
    expect(types.at(-1)).toBe('WorkflowExecutionCanceled');
    await engine.shutdown();
  });

  it('fails an unregistered activity type clearly, without retrying forever', async () => {
    const workflows = {
      async missing(): Promise<string> {
        const { ghost } = proxyActivities<{ ghost(): Promise<void> }>({ startToCloseTimeout: '1s' });
        try {
          await ghost();
          return 'ran';
        } catch (error) {
          return String((error as Error & { cause?: Error }).cause?.message);
        }
      },
    };
    const engine = await createEngine({ workflows, activities: {} });
    expect(await engine.client.workflow.execute('missing', { workflowId: 'm' })).toMatch(
      /'ghost' is not registered/,
    );
    await engine.shutdown();
  });
});

describe('history limits', () => {
  it('terminates a run past the cap with a reason, truncating nothing', async () => {
    const workflows = {
      async chatty(): Promise<void> {
        for (;;) await sleep(1);
      },
    };
    const engine = await createEngine({ workflows, historyLimit: 40 });
    const handle = await engine.client.workflow.start('chatty', { workflowId: 'h' });
    const error = (await handle.result().catch((e: unknown) => e)) as Error & { cause?: Error };
    expect(error.cause?.name).toBe('TerminatedFailure');
    expect(error.cause?.message).toMatch(/History size limit exceeded: a run may have at most 40 events/);
    const { events } = await handle.fetchHistory();
    expect(events.length).toBeLessThanOrEqual(41);
    expect(events.map((e) => e.eventId)).toEqual(events.map((_, i) => i + 1));
    await engine.shutdown();
  });
});

describe('a blocked run', () => {
  it('records signals on arrival, the failure once, and a fixed deployment sees every signal', async () => {
    const store = memoryStore();
    const make = (fixed: boolean) => ({
      async approvals(): Promise<number> {
        let n = 0;
        setHandler(defineSignal('approve'), () => {
          n++;
        });
        await condition(() => n > 0);
        if (!fixed) throw new TypeError('a bug after the first approval');
        await condition(() => n >= 2);
        return n;
      },
    });
    const buggy = await createEngine({ workflows: make(false), store });
    const handle = await buggy.client.workflow.start('approvals', { workflowId: 'blocked' });
    await handle.signal('approve');
    await expect
      .poll(async () => (await handle.describe()).blocked?.reason)
      .toBe('a bug after the first approval');
    await handle.signal('approve');
    await expect
      .poll(
        async () =>
          (await handle.fetchHistory()).events.filter((e) => e.eventType === 'WorkflowExecutionSignaled')
            .length,
      )
      .toBe(2);
    const types = (await handle.fetchHistory()).events.map((e) => e.eventType);
    expect(types.filter((t) => t === 'WorkflowTaskFailed')).toHaveLength(1);
    expect(types.slice(-5)).toEqual([
      'WorkflowExecutionSignaled',
      'WorkflowTaskScheduled',
      'WorkflowTaskStarted',
      'WorkflowTaskFailed',
      'WorkflowExecutionSignaled',
    ]);
    expect((await handle.describe()).status).toBe('RUNNING');
    await buggy.shutdown();

    const fixed = await createEngine({ workflows: make(true), store });
    expect(await fixed.client.workflow.getHandle('blocked').result()).toBe(2);
    const { events } = await fixed.client.workflow.getHandle('blocked').fetchHistory();
    expect(events.map((e) => e.eventId)).toEqual(events.map((_, i) => i + 1));
    await fixed.shutdown();
  });
});

it('createEngine takes indexedDbStore(...) as it is, without awaiting it first', async () => {
  const engine = await createEngine({
    workflows: {
      async hi(): Promise<string> {
        return 'hi';
      },
    },
    store: indexedDbStore({ name: 'as-is', indexedDB: new IDBFactory() }),
  });
  expect(await engine.client.workflow.execute('hi', { workflowId: 'h' })).toBe('hi');
  await engine.shutdown();
});

/**
 * A factory whose connections can be cut at once, as when a worker is killed: from then on
 * every transaction they try fails, so whatever was only in memory never reaches the database.
 */
function crashableFactory(): { factory: IDBFactory; crash(): void } {
  const factory = new IDBFactory();
  const connections: IDBDatabase[] = [];
  let crashed = false;
  const open = factory.open.bind(factory);
  factory.open = (name: string, version?: number) => {
    const request = open(name, version);
    request.addEventListener('success', () => {
      const db = request.result;
      const transaction = db.transaction.bind(db);
      db.transaction = ((...args: Parameters<IDBDatabase['transaction']>) => {
        if (crashed && connections.includes(db)) throw new DOMException('killed', 'InvalidStateError');
        return transaction(...args);
      }) as IDBDatabase['transaction'];
      connections.push(db);
    });
    return request;
  };
  return {
    factory,
    crash() {
      crashed = true;
      // Later connections (the next host's) work normally.
      const cut = [...connections];
      factory.open = ((name: string, version?: number) => {
        const request = open(name, version);
        return request;
      }) as IDBFactory['open'];
      connections.splice(0, connections.length, ...cut);
    },
  };
}

describe('a host killed with writes still in memory', () => {
  const steps = 12;
  for (const killAfter of [1, 3, 5, 8, 11]) {
    it(`killed as activity ${killAfter} of ${steps} runs: the run resumes elsewhere, linear, each step at least once`, async () => {
      const { factory, crash } = crashableFactory();
      const runs = new Map<number, number>();
      let killed: (() => void) | undefined;
      const isKilled = new Promise<void>((resolve) => {
        killed = resolve;
      });
      const activities = {
        async step(i: number): Promise<number> {
          runs.set(i, (runs.get(i) ?? 0) + 1);
          if (i === killAfter && killed) {
            crash();
            killed();
            killed = undefined;
          }
          return i;
        },
      };
      const workflows = {
        async stepper(n: number): Promise<number> {
          const { step } = proxyActivities<typeof activities>({ startToCloseTimeout: '5s' });
          let sum = 0;
          for (let i = 1; i <= n; i++) sum += await step(i);
          return sum;
        },
      };
      const first = await createEngine({
        workflows,
        activities,
        store: indexedDbStore({ name: 'killed', indexedDB: factory }),
      });
      await first.client.workflow.start('stepper', { workflowId: 'k', args: [steps] });
      await isKilled;
      await first.shutdown();

      const second = await createEngine({
        workflows,
        activities,
        store: indexedDbStore({ name: 'killed', indexedDB: factory }),
        // The first host is gone (in a browser, its Web Lock says so): take its attempts over now.
        isHostAlive: async () => false,
      });
      const handle = second.client.workflow.getHandle('k');
      expect(await handle.result()).toBe((steps * (steps + 1)) / 2);
      const { events } = await handle.fetchHistory();
      expect(events.map((e) => e.eventId)).toEqual(events.map((_, i) => i + 1));
      const completed = events.filter((e) => e.eventType === 'ActivityTaskCompleted');
      expect(completed).toHaveLength(steps);
      // The database kept a prefix of what the host did: the steps run again are the ones
      // after the last durable completion, up to the one it was killed in; none twice more.
      const again = [...runs].filter(([, n]) => n > 1).map(([i]) => i);
      expect([...runs.values()].every((n) => n === 1 || n === 2)).toBe(true);
      expect(runs.size).toBe(steps);
      expect(again.at(-1)).toBe(killAfter);
      expect(again).toEqual(again.map((_, j) => killAfter - again.length + 1 + j));
      await second.shutdown();
    });
  }
});
