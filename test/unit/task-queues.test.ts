import { describe, expect, it } from 'vitest';
import { createEngine, memoryStore } from '../../src/index.ts';
import {
  condition,
  defineQuery,
  defineSignal,
  executeChild,
  proxyActivities,
  setHandler,
} from '../../src/workflow/index.ts';

const status = defineQuery<string>('status');
const go = defineSignal('go');

const workflows = {
  async reportsWhere(): Promise<string> {
    const { where } = proxyActivities<{ where(): Promise<string> }>({ startToCloseTimeout: '5s' });
    return where();
  },
  async parentOnDefault(n: number): Promise<string[]> {
    const here = await proxyActivities<{ where(): Promise<string> }>({ startToCloseTimeout: '5s' }).where();
    const children = await Promise.all(
      Array.from({ length: n }, () => executeChild(workflows.reportsWhere, { taskQueue: 'other' })),
    );
    return [here, ...children];
  },
  async waiter(): Promise<string> {
    let done = false;
    setHandler(status, () => (done ? 'done' : 'waiting'));
    setHandler(go, () => {
      done = true;
    });
    await condition(() => done);
    return 'ok';
  },
};

describe('task queues', () => {
  it('a child on a queue nobody serves waits, visible; a host that serves it runs it', async () => {
    const store = memoryStore();
    const a = await createEngine({
      workflows,
      activities: { where: async () => 'host A' },
      store,
      taskQueues: ['default'],
    });
    const handle = await a.client.workflow.start('parentOnDefault', { workflowId: 'p', args: [5] });
    await expect.poll(async () => (await a.client.workflow.list({ parentWorkflowId: 'p' })).length).toBe(5);
    const waiting = await a.client.workflow.list({ parentWorkflowId: 'p' });
    expect(
      waiting.every((c) => c.status === 'RUNNING' && c.taskQueue === 'other' && c.historyLength === 1),
    ).toBe(true);

    const b = await createEngine({
      workflows,
      activities: { where: async () => 'host B' },
      store,
      taskQueues: ['other'],
    });
    expect(await handle.result()).toEqual(['host A', 'host B', 'host B', 'host B', 'host B', 'host B']);
    await a.shutdown();
    await b.shutdown();
  });

  it('a query on a run whose queue another host serves is answered by that host', async () => {
    const store = memoryStore();
    const a = await createEngine({ workflows, store, taskQueues: ['default'] });
    const b = await createEngine({ workflows, store, taskQueues: ['other'] });
    const handle = await a.client.workflow.start('waiter', { workflowId: 'q', taskQueue: 'other' });
    // Through the leader (a), then through the executor's own client (forwarded to a).
    expect(await handle.query(status)).toBe('waiting');
    expect(await b.client.workflow.getHandle('q').query(status)).toBe('waiting');
    await handle.signal(go);
    expect(await handle.result()).toBe('ok');
    await a.shutdown();
    await b.shutdown();
  });

  it('a start sent again with its request ID, through a host that forwards it, returns the run it started', async () => {
    const store = memoryStore();
    const a = await createEngine({ workflows, store });
    const b = await createEngine({ workflows, store });
    // b follows a: its starts are forwarded, as a resend to a new leader would be.
    const options = { workflowId: 'once', requestId: 'request-1' };
    const first = await b.host.api().start('waiter', options);
    const again = await b.host.api().start('waiter', options);
    expect('ok' in first && again).toEqual(first);
    const other = await b.host.api().start('waiter', { workflowId: 'once', requestId: 'request-2' });
    expect('error' in other && other.error.name).toBe('WorkflowExecutionAlreadyStartedError');
    // Without one, each start gets its own.
    await a.client.workflow.start('waiter', { workflowId: 'twice' });
    await expect(a.client.workflow.start('waiter', { workflowId: 'twice' })).rejects.toMatchObject({
      name: 'WorkflowExecutionAlreadyStartedError',
    });
    expect(await b.host.api().start('waiter', { workflowId: 'x', requestId: 7 as never })).toMatchObject({
      error: { name: 'InvalidArgumentError' },
    });
    await a.shutdown();
    await b.shutdown();
  });

  it('hosts on the same queue do not run an activity twice', async () => {
    const store = memoryStore();
    let runs = 0;
    const activities = {
      where: async () => {
        runs++;
        return 'somewhere';
      },
    };
    const a = await createEngine({ workflows, activities, store });
    const b = await createEngine({ workflows, activities, store });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        a.client.workflow.execute('reportsWhere', { workflowId: `w${i}` }),
      ),
    );
    expect(results).toEqual(Array.from({ length: 20 }, () => 'somewhere'));
    expect(runs).toBe(20);
    for (let i = 0; i < 20; i++) {
      const { events } = await b.client.workflow.getHandle(`w${i}`).fetchHistory();
      expect(events.map((e) => e.eventId)).toEqual(events.map((_, k) => k + 1));
      expect(events.filter((e) => e.eventType === 'WorkflowExecutionCompleted')).toHaveLength(1);
    }
    await a.shutdown();
    await b.shutdown();
  });
});

describe('takeover', () => {
  it("a dead host's running activity is taken over at once, not after its timeout", async () => {
    const store = memoryStore();
    let started = 0;
    const hanging = {
      where: () => {
        started++;
        return new Promise<string>(() => undefined);
      },
    };
    const longWorkflows = {
      async longActivity(): Promise<string> {
        const { where } = proxyActivities<{ where(): Promise<string> }>({ startToCloseTimeout: '1 hour' });
        return where();
      },
    };
    const a = await createEngine({
      workflows: longWorkflows,
      activities: hanging,
      store,
      identity: 'host-a',
    });
    await a.client.workflow.start('longActivity', { workflowId: 'orphan' });
    await expect.poll(() => started).toBe(1);
    await a.shutdown();

    const alive = new Set<string>();
    const b = await createEngine({
      workflows: longWorkflows,
      activities: { where: async () => 'host B took over' },
      store,
      identity: 'host-b',
      isHostAlive: async (hostId) => alive.has(hostId),
    });
    // The attempt's start-to-close timeout is an hour: only a takeover finishes it now.
    expect(await b.client.workflow.getHandle('orphan').result()).toBe('host B took over');
    await b.shutdown();
  });
});
