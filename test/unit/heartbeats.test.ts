/**
 * Activity heartbeats (issue 16), as Temporal's: `heartbeatTimeout` enforced by the host that
 * runs the attempt (an executor's heartbeats reach the leader), the last details handed to the
 * next attempt (stored at most every 0.8 x the timeout, so they survive the host), cancellation
 * delivered at once and, should that message be lost, through the heartbeat's answer, and the
 * late completion of a timed-out or cancelled attempt ignored.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  CancelledFailure,
  createEngine,
  type Engine,
  InvalidArgumentError,
  memoryStore,
  type Store,
  type StoreTx,
  TimeoutFailure,
} from '../../src/index.ts';
import type { BusNote } from '../../src/protocol/notes.ts';
import { fromTemporalHistory, type TemporalFailure, toTemporalHistory } from '../../src/temporal/index.ts';
import { TestWorkflowEnvironment } from '../../src/testing/index.ts';
import { Context } from '../../src/worker/activity.ts';
import { localBus, type WakeBus } from '../../src/worker/bus.ts';
import {
  type ActivityFailure,
  CancellationScope,
  condition,
  defineSignal,
  proxyActivities,
  setHandler,
} from '../../src/workflow/index.ts';

const engines: Engine[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0).reverse()) await engine.shutdown();
});

async function engine(options: Parameters<typeof createEngine>[0]): Promise<Engine> {
  const e = await createEngine(options);
  engines.push(e);
  return e;
}

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What the activity under test reports: its attempt, and the details it started from. */
interface Report {
  attempt: number;
  details: unknown;
}

/** Workflows that call `work` with the options each test passes. */
const workflows = {
  async calls(options: Parameters<typeof proxyActivities>[0], ...args: unknown[]): Promise<unknown> {
    const { work } = proxyActivities<{ work(...a: unknown[]): Promise<unknown> }>(options);
    try {
      return await work(...args);
    } catch (error) {
      const cause = (error as ActivityFailure).cause;
      return {
        failure: (error as Error).name,
        cause: cause?.name,
        timeoutType: cause instanceof TimeoutFailure ? cause.timeoutType : undefined,
        lastHeartbeatDetails: cause instanceof TimeoutFailure ? cause.lastHeartbeatDetails : undefined,
      };
    }
  },
  /** Runs `work` until the `stop` signal cancels it; returns how the activity call ended. */
  async cancels(options: Parameters<typeof proxyActivities>[0]): Promise<string> {
    const { work } = proxyActivities<{ work(): Promise<unknown> }>(options);
    let stop = false;
    setHandler(defineSignal('stop'), () => {
      stop = true;
    });
    const scope = new CancellationScope();
    const call = scope.run(() => work());
    await condition(() => stop);
    scope.cancel();
    try {
      return `completed: ${await call}`;
    } catch (error) {
      return `${(error as Error).name}/${(error as ActivityFailure).cause?.name}`;
    }
  },
};

async function historyOf(e: Engine, workflowId: string) {
  return (await e.client.workflow.getHandle(workflowId).fetchHistory()).events;
}

describe('heartbeat timeout', () => {
  it('an attempt silent for its heartbeat timeout times out (HEARTBEAT), its signal aborts, and the retry starts from its last details', async () => {
    const reasons: unknown[] = [];
    const activities = {
      async work(): Promise<Report> {
        const { info, cancellationSignal, heartbeat } = bound(Context.current());
        if (info.attempt === 1) {
          heartbeat({ step: 1 });
          heartbeat({ step: 2 });
          // Then silent, until the engine gives up on it.
          await new Promise((resolve) => cancellationSignal.addEventListener('abort', resolve));
          reasons.push(cancellationSignal.reason);
        }
        return { attempt: info.attempt, details: info.heartbeatDetails };
      },
    };
    const e = await engine({ workflows, activities });
    const result = await e.client.workflow.execute('calls', {
      workflowId: 'hb-1',
      args: [{ startToCloseTimeout: '1 minute', heartbeatTimeout: 50, retry: { initialInterval: 5 } }],
    });
    expect(result).toEqual({ attempt: 2, details: { step: 2 } });
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toBeInstanceOf(TimeoutFailure);
    expect((reasons[0] as TimeoutFailure).timeoutType).toBe('HEARTBEAT');
    // As Temporal: no event per attempt; the one that completed is attempt 2.
    const started = (await historyOf(e, 'hb-1')).filter((ev) => ev.eventType === 'ActivityTaskStarted');
    expect(started.map((ev) => ev.attributes)).toMatchObject([{ attempt: 2 }]);
  });

  it('an attempt that heartbeats runs on past its heartbeat timeout', async () => {
    const activities = {
      async work(): Promise<Report> {
        const context = Context.current();
        for (let i = 0; i < 15; i++) {
          context.heartbeat(i);
          await pause(20);
        }
        return { attempt: context.info.attempt, details: context.info.heartbeatDetails };
      },
    };
    const e = await engine({ workflows, activities });
    expect(
      await e.client.workflow.execute('calls', {
        workflowId: 'hb-2',
        args: [{ startToCloseTimeout: '1 minute', heartbeatTimeout: 100, retry: { maximumAttempts: 1 } }],
      }),
    ).toEqual({ attempt: 1 });
  });

  it('a heartbeat timeout of 0 is none, as Temporal’s', async () => {
    const activities = {
      async work(): Promise<Report> {
        const { attempt, heartbeatDetails } = Context.current().info;
        // Never heartbeats, and takes longer than a timeout of 0 would allow.
        await pause(50);
        return { attempt, details: heartbeatDetails };
      },
    };
    const e = await engine({ workflows, activities });
    expect(
      await e.client.workflow.execute('calls', {
        workflowId: 'hb-zero',
        args: [{ startToCloseTimeout: '1 minute', heartbeatTimeout: 0, retry: { maximumAttempts: 1 } }],
      }),
    ).toEqual({ attempt: 1 });
  });

  it('on the last attempt, the workflow gets an ActivityFailure caused by TimeoutFailure(HEARTBEAT) with the last details', async () => {
    const activities = {
      async work(): Promise<void> {
        const context = Context.current();
        context.heartbeat('halfway');
        await context.sleep(60_000);
      },
    };
    const e = await engine({ workflows, activities });
    expect(
      await e.client.workflow.execute('calls', {
        workflowId: 'hb-3',
        args: [{ startToCloseTimeout: '1 minute', heartbeatTimeout: 30, retry: { maximumAttempts: 1 } }],
      }),
    ).toEqual({
      failure: 'ActivityFailure',
      cause: 'TimeoutFailure',
      timeoutType: 'HEARTBEAT',
      lastHeartbeatDetails: 'halfway',
    });
    const events = await historyOf(e, 'hb-3');
    const timedOut = events.find((ev) => ev.eventType === 'ActivityTaskTimedOut');
    expect(timedOut?.attributes).toMatchObject({
      retryState: 'RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED',
      failure: { name: 'TimeoutFailure', timeoutType: 'HEARTBEAT', details: ['halfway'] },
    });
    // Temporal's JSON carries them as `timeoutFailureInfo.lastHeartbeatDetails`, both ways.
    const json = toTemporalHistory({ events });
    const attributes = json.events.find((ev) => ev.eventType === 'EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT')
      ?.activityTaskTimedOutEventAttributes as { failure?: TemporalFailure } | undefined;
    const failure = attributes?.failure;
    expect(failure?.timeoutFailureInfo).toMatchObject({ timeoutType: 'TIMEOUT_TYPE_HEARTBEAT' });
    expect(failure?.timeoutFailureInfo?.lastHeartbeatDetails?.payloads).toHaveLength(1);
    expect(fromTemporalHistory(json).events).toEqual(
      events.map((ev) => expect.objectContaining({ attributes: ev.attributes })),
    );
  });

  it('an executor’s heartbeats reach the leader, which enforces the timeout', async () => {
    const store = memoryStore();
    const reports: Report[] = [];
    const a = await engine({ workflows, store, identity: 'leader' });
    await engine({
      workflows,
      store,
      identity: 'executor',
      taskQueues: ['other'],
      activities: {
        async work(mode: string): Promise<Report> {
          const context = Context.current();
          const report = { attempt: context.info.attempt, details: context.info.heartbeatDetails };
          reports.push(report);
          if (mode === 'beats') {
            for (let i = 0; i < 15; i++) {
              context.heartbeat(i);
              await pause(20);
            }
          } else if (context.info.attempt === 1) {
            context.heartbeat({ upTo: 1 });
            context.heartbeat({ upTo: 7 });
            throw new Error('give me another go');
          }
          return report;
        },
      },
    });
    // Beats every 20 ms against a second: a loaded machine's stalls must not time it out.
    const options = { startToCloseTimeout: '1 minute', heartbeatTimeout: 1_000, taskQueue: 'other' };
    expect(
      await a.client.workflow.execute('calls', {
        workflowId: 'hb-4',
        args: [{ ...options, retry: { maximumAttempts: 1 } }, 'beats'],
      }),
    ).toEqual({ attempt: 1 });
    // A failed attempt's details, sent by the executor with its outcome, reach the next attempt.
    expect(
      await a.client.workflow.execute('calls', {
        workflowId: 'hb-5',
        args: [{ ...options, retry: { initialInterval: 5 } }, 'fails once'],
      }),
    ).toEqual({ attempt: 2, details: { upTo: 7 } });
  });

  it('time skipping does not skip over a heartbeat timeout while the activity runs', async () => {
    const env = await TestWorkflowEnvironment.createTimeSkipping({
      workflows,
      activities: {
        async work(): Promise<Report> {
          const context = Context.current();
          if (context.info.attempt === 1) {
            // Real time passes: 300 ms of beats against a timeout of 100 ms.
            for (let i = 0; i < 15; i++) {
              context.heartbeat(i);
              await pause(20);
            }
            // Then silent: the timeout fires, in real time too.
            await new Promise((resolve) => context.cancellationSignal.addEventListener('abort', resolve));
          }
          return { attempt: context.info.attempt, details: context.info.heartbeatDetails };
        },
      },
    });
    try {
      expect(
        await env.client.workflow.execute('calls', {
          workflowId: 'hb-skip',
          args: [
            { startToCloseTimeout: '1 day', heartbeatTimeout: 100, retry: { initialInterval: '1 hour' } },
          ],
        }),
      ).toEqual({ attempt: 2, details: 14 });
    } finally {
      await env.teardown();
    }
  });
});

describe('heartbeat details', () => {
  it('a failed attempt’s last details reach the next attempt, without a heartbeat timeout', async () => {
    const activities = {
      async work(): Promise<Report> {
        const { info, heartbeat } = bound(Context.current());
        if (info.attempt < 3) {
          // The first is stored at once; the last, held back by the throttle, goes with the failure.
          heartbeat(`attempt ${info.attempt} began`);
          heartbeat(`from attempt ${info.attempt}`);
          throw new Error('again');
        }
        return { attempt: info.attempt, details: info.heartbeatDetails };
      },
    };
    const e = await engine({ workflows, activities });
    expect(
      await e.client.workflow.execute('calls', {
        workflowId: 'hd-1',
        args: [{ startToCloseTimeout: '1 minute', retry: { initialInterval: 5 } }],
      }),
    ).toEqual({ attempt: 3, details: 'from attempt 2' });
  });

  it('are stored at most every 0.8 x heartbeatTimeout, the first at once', async () => {
    const inner = memoryStore();
    const stored: unknown[] = [];
    let elapsed = 0;
    const activities = {
      async work(): Promise<Report> {
        const context = Context.current();
        const started = Date.now();
        for (let i = 1; i <= 50; i++) {
          context.heartbeat(i);
          await pause(10);
        }
        elapsed = Date.now() - started;
        return { attempt: context.info.attempt, details: context.info.heartbeatDetails };
      },
    };
    const e = await engine({ workflows, activities, store: watchingHeartbeats(inner, stored) });
    await e.client.workflow.execute('calls', {
      workflowId: 'hd-2',
      args: [{ startToCloseTimeout: '1 minute', heartbeatTimeout: 250 }],
    });
    // Throttled to one write per 200 ms: 50 heartbeats over `elapsed` ms, a handful of writes.
    expect(stored[0]).toBe(1);
    expect(stored.length).toBeGreaterThanOrEqual(2);
    expect(stored.length).toBeLessThanOrEqual(Math.floor(elapsed / 200) + 2);
    expect(stored).toEqual([...stored].sort((x, y) => Number(x) - Number(y)));
  });

  it('survive their host: the next host’s attempt 2 starts from the last stored details', async () => {
    const store = memoryStore();
    const beating = deferred();
    const a = await createEngine({
      workflows,
      store,
      identity: 'a',
      activities: {
        async work(): Promise<Report> {
          const context = Context.current();
          // Stored at once; the next two wait for the throttle (48 s), which the host does not outlive.
          context.heartbeat({ done: 1 });
          context.heartbeat({ done: 2 });
          context.heartbeat({ done: 3 });
          beating.resolve();
          return new Promise(() => undefined);
        },
      },
    });
    await a.client.workflow.start('calls', {
      workflowId: 'hd-3',
      args: [{ startToCloseTimeout: '1 hour', heartbeatTimeout: '1 minute', retry: { initialInterval: 5 } }],
    });
    await beating.promise;
    await a.shutdown();
    const b = await engine({
      workflows,
      store,
      identity: 'b',
      activities: {
        async work(): Promise<Report> {
          const { info } = Context.current();
          return { attempt: info.attempt, details: info.heartbeatDetails };
        },
      },
    });
    expect(await b.client.workflow.getHandle('hd-3').result()).toEqual({ attempt: 2, details: { done: 1 } });
  });

  it('that cannot be stored are refused by heartbeat() with an InvalidArgumentError', async () => {
    const activities = {
      async work(): Promise<unknown> {
        const context = Context.current();
        try {
          context.heartbeat({ callback: () => 1 });
          return 'accepted';
        } catch (error) {
          return [
            (error as Error).name,
            error instanceof InvalidArgumentError,
            context.info.heartbeatDetails ?? null,
          ];
        }
      },
    };
    const e = await engine({ workflows, activities, payloadLimit: 1_000 });
    expect(
      await e.client.workflow.execute('calls', { workflowId: 'hd-4', args: [{ startToCloseTimeout: '1s' }] }),
    ).toEqual(['InvalidArgumentError', true, null]);
  });
});

describe('cancellation and late completions', () => {
  /** An activity that heartbeats until its signal aborts, then reports how it learned of it. */
  function heartbeatingUntilCancelled(seen: string[], started: () => void) {
    return {
      async work(): Promise<string> {
        const context = Context.current();
        context.cancelled.catch((error: Error) => seen.push(`cancelled: ${error.name} ${error.message}`));
        started();
        for (let i = 0; !context.cancellationSignal.aborted; i++) {
          context.heartbeat(i);
          await pause(5);
        }
        seen.push('signal aborted');
        // Finishes anyway: the cancelled attempt's result is ignored.
        return 'finished anyway';
      },
    };
  }

  async function cancelWhileRunning(client: Engine['client'], workflowId: string, taskQueue?: string) {
    const handle = await client.workflow.start('cancels', {
      workflowId,
      // A second: the attempt must be cancelled, not timed out by a loaded machine's stall.
      args: [{ startToCloseTimeout: '1 minute', heartbeatTimeout: 1_000, ...(taskQueue && { taskQueue }) }],
    });
    return handle;
  }

  it('a cancel request reaches a heartbeating activity at once: cancelled rejects, the signal aborts, its result is ignored', async () => {
    const seen: string[] = [];
    const running = deferred();
    const e = await engine({ workflows, activities: heartbeatingUntilCancelled(seen, running.resolve) });
    const handle = await cancelWhileRunning(e.client, 'c-1');
    await running.promise;
    await handle.signal('stop');
    expect(await handle.result()).toBe('ActivityFailure/CancelledFailure');
    await expect
      .poll(() => seen)
      .toEqual(['cancelled: CancelledFailure Activity cancelled', 'signal aborted']);
    const types = (await historyOf(e, 'c-1')).map((ev) => ev.eventType);
    expect(types).toContain('ActivityTaskCancelRequested');
    expect(types).not.toContain('ActivityTaskCompleted');
  });

  it('on an executor, through the abort call; and, when that is lost, through the heartbeat’s answer', async () => {
    for (const dropAborts of [false, true]) {
      const store = memoryStore();
      const seen: string[] = [];
      const running = deferred();
      const a = await engine({ workflows, store, identity: 'leader' });
      await engine({
        workflows,
        store,
        identity: 'executor',
        taskQueues: ['other'],
        activities: heartbeatingUntilCancelled(seen, running.resolve),
        // The executor hears no `abort` call: only its heartbeats can tell it.
        ...(dropAborts && { bus: droppingCalls(localBus(store), 'abort') }),
      });
      const handle = await cancelWhileRunning(a.client, `c-2-${dropAborts}`, 'other');
      await running.promise;
      await handle.signal('stop');
      expect(await handle.result()).toBe('ActivityFailure/CancelledFailure');
      await expect.poll(() => seen.length).toBe(2);
      // Told by the leader's call, or by its answer to a heartbeat: the attempt is cancelled, or
      // (once the cancellation is recorded) no longer known, in Temporal's words.
      expect(seen[0]).toMatch(
        dropAborts
          ? /^cancelled: CancelledFailure (CANCELLED|NOT_FOUND)$/
          : /^cancelled: CancelledFailure Activity cancelled$/,
      );
      expect(seen[1]).toBe('signal aborted');
    }
  });

  it('an executor’s attempt whose leader died is stopped by its next heartbeat once the executor leads', async () => {
    const store = memoryStore();
    const reasons: string[] = [];
    const beating = deferred();
    // The leader dies without a word: nothing it says reaches the executor any more.
    let cut = false;
    const shared = localBus(store);
    const leaderBus: WakeBus = {
      publish: (note) => {
        if (!cut) shared.publish(note);
      },
      subscribe: (listener) => shared.subscribe(listener),
    };
    const a = await createEngine({ workflows, store, identity: 'leader', bus: leaderBus, leaseTimeout: 300 });
    await engine({
      workflows,
      store,
      identity: 'executor',
      taskQueues: ['other'],
      leaseTimeout: 300,
      activities: {
        async work(): Promise<void> {
          const context = Context.current();
          beating.resolve();
          for (let i = 0; !context.cancellationSignal.aborted; i++) {
            context.heartbeat(i);
            await pause(20);
          }
          reasons.push(
            `${(context.cancellationSignal.reason as Error).name} ${(context.cancellationSignal.reason as Error).message}`,
          );
        },
      },
    });
    await a.client.workflow.start('calls', {
      workflowId: 'orphan',
      args: [
        {
          startToCloseTimeout: '1 hour',
          heartbeatTimeout: 200,
          taskQueue: 'other',
          retry: { maximumAttempts: 1 },
        },
      ],
    });
    await beating.promise;
    cut = true;
    await a.shutdown();
    // The executor takes the lease over once it expires; the attempt it runs was the old leader's.
    await expect
      .poll(async () => (await store.read((tx) => tx.leases.get('engine')))?.holder, { timeout: 5_000 })
      .toBe('executor');
    // It beats on, but its heartbeats now reach a leader (itself) that does not run it: told so,
    // as Temporal's server answers a heartbeat for an attempt it does not know, it stops.
    await expect.poll(() => reasons, { timeout: 5_000 }).toEqual(['CancelledFailure NOT_FOUND']);
  });

  it('a timed-out attempt’s late completion is ignored: the next attempt’s result is recorded', async () => {
    const lateDone = deferred();
    const activities = {
      async work(): Promise<string> {
        const context = Context.current();
        if (context.info.attempt === 1) {
          context.heartbeat('once');
          // Ignores its signal; finishes after the timeout, once attempt 2 has started.
          await secondStarted.promise;
          setTimeout(lateDone.resolve, 0);
          return 'late, from attempt 1';
        }
        secondStarted.resolve();
        await lateDone.promise;
        return `from attempt ${context.info.attempt}, which started from ${context.info.heartbeatDetails}`;
      },
    };
    const secondStarted = deferred();
    const e = await engine({ workflows, activities });
    expect(
      await e.client.workflow.execute('calls', {
        workflowId: 'late-1',
        args: [{ startToCloseTimeout: '1 minute', heartbeatTimeout: 30, retry: { initialInterval: 5 } }],
      }),
    ).toBe('from attempt 2, which started from once');
    const completed = (await historyOf(e, 'late-1')).filter((ev) => ev.eventType === 'ActivityTaskCompleted');
    expect(completed).toHaveLength(1);
  });

  it('heartbeat() on a cancelled context keeps cancelled rejecting with CancelledFailure', async () => {
    const controller = new AbortController();
    const context = new Context(
      {
        activityId: '1',
        activityType: 'x',
        attempt: 1,
        workflowExecution: { workflowId: 'w', runId: 'r' },
        workflowType: 't',
        taskQueue: 'q',
        scheduledTimestampMs: 0,
      },
      controller.signal,
    );
    controller.abort(new CancelledFailure('CANCELLED'));
    context.heartbeat('after');
    await expect(context.cancelled).rejects.toBeInstanceOf(CancelledFailure);
  });
});

/** The context's methods, callable without `this`. */
function bound(context: Context) {
  return {
    info: context.info,
    cancellationSignal: context.cancellationSignal,
    heartbeat: (details?: unknown) => context.heartbeat(details),
  };
}

/** A bus on which this host never hears calls of `method` (as if those messages were lost). */
function droppingCalls(shared: WakeBus, method: string): WakeBus {
  return {
    publish: (note) => shared.publish(note),
    subscribe: (listener) =>
      shared.subscribe((note: BusNote) => {
        if ('call' in note && note.call?.method === method) return;
        listener(note);
      }),
  };
}

/** `inner`, recording the heartbeat details of every activity task record written. */
function watchingHeartbeats(inner: Store, stored: unknown[]): Store {
  const watched = (tx: StoreTx): StoreTx => ({
    ...tx,
    activityTasks: {
      ...tx.activityTasks,
      put: (record) => {
        if ('heartbeatDetails' in record) stored.push(record.heartbeatDetails);
        tx.activityTasks.put(record);
      },
    },
  });
  return {
    ...inner,
    name: inner.name,
    read: (fn) => inner.read(fn),
    write: (fn, options) => inner.write((tx) => fn(watched(tx)), options),
    flushed: (options) => inner.flushed(options),
    refresh: () => inner.refresh(),
    onReload: (listener) => inner.onReload(listener),
    close: () => inner.close(),
  };
}
