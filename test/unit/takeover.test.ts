/**
 * An activity attempt whose host goes away mid-attempt (issue 16): the host that takes over
 * runs the next attempt, as Temporal's server does once the lost attempt times out: one more in
 * `info.attempt` and in `ActivityTaskStarted`, counted against `maximumAttempts`, after the
 * retry policy's backoff.
 */
import { IDBFactory } from 'fake-indexeddb';
import { afterEach, describe, expect, it } from 'vitest';
import { createEngine, type Engine, indexedDbStore, memoryStore, TimeoutFailure } from '../../src/index.ts';
import { Context } from '../../src/worker/activity.ts';
import { type ActivityFailure, proxyActivities } from '../../src/workflow/index.ts';

const engines: Engine[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0).reverse()) await engine.shutdown();
});

async function engine(options: Parameters<typeof createEngine>[0]): Promise<Engine> {
  const e = await createEngine(options);
  engines.push(e);
  return e;
}

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const workflows = {
  async calls(options: Parameters<typeof proxyActivities>[0]): Promise<unknown> {
    const { work } = proxyActivities<{ work(): Promise<unknown> }>(options);
    try {
      return await work();
    } catch (error) {
      const cause = (error as ActivityFailure).cause;
      return {
        failure: (error as Error).name,
        retryState: (error as ActivityFailure).retryState,
        timeoutType: cause instanceof TimeoutFailure ? cause.timeoutType : undefined,
        lastHeartbeatDetails: cause instanceof TimeoutFailure ? cause.lastHeartbeatDetails : undefined,
      };
    }
  },
};

/** An activity that starts, says so, heartbeats once and never finishes. */
function hanging(started: () => void) {
  return {
    work: () => {
      Context.current().heartbeat('progress of attempt 1');
      started();
      return new Promise<never>(() => undefined);
    },
  };
}

const reportsAttempt = {
  async work(): Promise<string> {
    const { attempt, heartbeatDetails } = Context.current().info;
    return `attempt ${attempt} from ${String(heartbeatDetails)}`;
  },
};

async function startedEvents(e: Engine, workflowId: string) {
  const { events } = await e.client.workflow.getHandle(workflowId).fetchHistory();
  return events.filter((ev) => ev.eventType === 'ActivityTaskStarted').map((ev) => ev.attributes);
}

describe('a taken-over activity attempt', () => {
  it('runs as the next attempt, in its info and in history', async () => {
    const store = memoryStore();
    const started = deferred();
    const a = await createEngine({
      workflows,
      store,
      identity: 'host-a',
      activities: hanging(started.resolve),
    });
    await a.client.workflow.start('calls', {
      workflowId: 'next',
      args: [{ startToCloseTimeout: '1 hour', retry: { initialInterval: 5 } }],
    });
    await started.promise;
    await a.shutdown();
    const b = await engine({ workflows, store, identity: 'host-b', activities: reportsAttempt });
    expect(await b.client.workflow.getHandle('next').result()).toBe('attempt 2 from progress of attempt 1');
    expect(await startedEvents(b, 'next')).toMatchObject([{ attempt: 2, identity: 'host-b' }]);
  });

  it('counts against maximumAttempts: the lost last attempt times out and is not run again', async () => {
    const store = memoryStore();
    for (const heartbeatTimeout of [undefined, '1 minute']) {
      const workflowId = `last-${heartbeatTimeout ?? 'none'}`;
      const started = deferred();
      const a = await createEngine({
        workflows,
        store,
        identity: 'host-a',
        activities: hanging(started.resolve),
      });
      await a.client.workflow.start('calls', {
        workflowId,
        args: [
          {
            startToCloseTimeout: '1 hour',
            retry: { maximumAttempts: 1 },
            ...(heartbeatTimeout && { heartbeatTimeout }),
          },
        ],
      });
      await started.promise;
      await a.shutdown();
      let ran = 0;
      const b = await createEngine({
        workflows,
        store,
        identity: 'host-b',
        activities: {
          async work() {
            ran++;
          },
        },
      });
      expect(await b.client.workflow.getHandle(workflowId).result()).toEqual({
        failure: 'ActivityFailure',
        retryState: 'RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED',
        // As Temporal would see it: the attempt went silent until its heartbeat (or start-to-close) timeout.
        timeoutType: heartbeatTimeout ? 'HEARTBEAT' : 'START_TO_CLOSE',
        lastHeartbeatDetails: 'progress of attempt 1',
      });
      expect(ran).toBe(0);
      // The attempt that was lost is the one recorded, with the host that ran it.
      expect(await startedEvents(b, workflowId)).toMatchObject([{ attempt: 1, identity: 'host-a' }]);
      await b.shutdown();
    }
  });

  it('on an executor that goes away, runs as the next attempt on another', async () => {
    const store = memoryStore();
    const started = deferred();
    const a = await engine({ workflows, store, identity: 'leader' });
    const b = await createEngine({
      workflows,
      store,
      identity: 'executor-b',
      taskQueues: ['other'],
      activities: hanging(started.resolve),
    });
    const handle = await a.client.workflow.start('calls', {
      workflowId: 'executor-gone',
      args: [{ startToCloseTimeout: '1 hour', taskQueue: 'other', retry: { initialInterval: 5 } }],
    });
    await started.promise;
    await engine({
      workflows,
      store,
      identity: 'executor-c',
      taskQueues: ['other'],
      activities: reportsAttempt,
    });
    await b.shutdown();
    expect(await handle.result()).toBe('attempt 2 from progress of attempt 1');
    expect(await startedEvents(a, 'executor-gone')).toMatchObject([{ attempt: 2 }]);
  });

  it('with bounded attempts, is counted even when its host crashes the moment the attempt starts', async () => {
    // The attempt waits until its claim is durable: the crash cannot take the claim with it.
    const { factory, crash } = crashableFactory();
    const started = deferred();
    const first = await createEngine({
      workflows,
      store: indexedDbStore({ name: 'crash-claim', indexedDB: factory }),
      activities: {
        work: () => {
          crash();
          started.resolve();
          return new Promise<never>(() => undefined);
        },
      },
    });
    await first.client.workflow.start('calls', {
      workflowId: 'crashed',
      args: [{ startToCloseTimeout: '1 hour', retry: { maximumAttempts: 3, initialInterval: 5 } }],
    });
    await started.promise;
    await first.shutdown();
    const second = await engine({
      workflows,
      store: indexedDbStore({ name: 'crash-claim', indexedDB: factory }),
      activities: reportsAttempt,
      isHostAlive: async () => false,
    });
    expect(await second.client.workflow.getHandle('crashed').result()).toBe('attempt 2 from undefined');
  });
});

/** An IndexedDB factory whose connections die at `crash()`, as a killed worker's (later ones work). */
function crashableFactory(): { factory: IDBFactory; crash(): void } {
  const factory = new IDBFactory();
  const connections: IDBDatabase[] = [];
  let crashed = false;
  const open = factory.open.bind(factory);
  factory.open = (name: string, version?: number) => {
    const request = open(name, version);
    request.addEventListener('success', () => {
      const db = request.result;
      if (crashed) return;
      const transaction = db.transaction.bind(db);
      db.transaction = ((...args: Parameters<IDBDatabase['transaction']>) => {
        if (crashed) throw new DOMException('killed', 'InvalidStateError');
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
    },
  };
}
