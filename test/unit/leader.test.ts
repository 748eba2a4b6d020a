/**
 * One executor per database (SPEC 5.9, issue 5), in Node: hosts on one store elect a leader
 * through the store's lease; the others forward their clients' calls to it and run, for it,
 * the tasks of queues it does not serve. A host that loses the lease cannot commit.
 */
import { IDBFactory } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import { createEngine, indexedDbStore, memoryStore } from '../../src/index.ts';
import type { BusNote } from '../../src/protocol/notes.ts';
import { ENGINE_LEASE, type LeaseRecord } from '../../src/store/types.ts';
import { localBus, type WakeBus } from '../../src/worker/bus.ts';
import { proxyActivities, sleep } from '../../src/workflow/index.ts';

const workflows = {
  async greet(name: string): Promise<string> {
    const { hello } = proxyActivities<{ hello(n: string): Promise<string> }>({ startToCloseTimeout: '10s' });
    return hello(name);
  },
  async nap(ms: number): Promise<string> {
    await sleep(ms);
    return 'rested';
  },
};

function activitiesOf(host: string, ran: string[]) {
  return {
    hello: async (name: string) => {
      ran.push(host);
      return `hello ${name} from ${host}`;
    },
  };
}

const leaseOf = (store: ReturnType<typeof memoryStore>) => store.read((tx) => tx.leases.get(ENGINE_LEASE));

describe('leader election', () => {
  it('the first host leads; a second follows and forwards its calls to the leader', async () => {
    const store = memoryStore();
    const ran: string[] = [];
    const a = await createEngine({ workflows, activities: activitiesOf('a', ran), store, identity: 'a' });
    const b = await createEngine({ workflows, activities: activitiesOf('b', ran), store, identity: 'b' });
    expect(await leaseOf(store)).toMatchObject({ holder: 'a', epoch: 1 });

    // Started, awaited, listed and described through the follower: the leader answers.
    expect(await b.client.workflow.execute('greet', { workflowId: 'g1', args: ['x'] })).toMatch(
      /^hello x from/,
    );
    expect((await b.client.workflow.getHandle('g1').describe()).status).toBe('COMPLETED');
    expect((await b.client.workflow.list()).map((d) => d.workflowId)).toEqual(['g1']);
    // Only the leader commits: its identity is on every workflow task.
    const { events } = await b.client.workflow.getHandle('g1').fetchHistory();
    const identities = events
      .filter((e) => e.eventType === 'WorkflowTaskStarted')
      .map((e) => (e.attributes as { identity: string }).identity);
    expect(new Set(identities)).toEqual(new Set(['a']));
    expect(ran).toHaveLength(1);
    await b.shutdown();
    await a.shutdown();
  });

  it('a leader that shuts down lets go of the lease: the follower takes over at once and finishes its work', async () => {
    const store = memoryStore();
    const a = await createEngine({ workflows, store, identity: 'a', leaseTimeout: 60_000 });
    const b = await createEngine({ workflows, store, identity: 'b', leaseTimeout: 60_000 });
    await a.client.workflow.start('nap', { workflowId: 'n1', args: [50] });
    await a.shutdown();
    // The lease would hold for a minute: only its release lets b lead now.
    expect(await b.client.workflow.getHandle('n1').result()).toBe('rested');
    expect(await leaseOf(store)).toMatchObject({ holder: 'b', epoch: 2 });
    await b.shutdown();
  });

  it('a lease whose holder stopped renewing it is taken over once it expires', async () => {
    const store = memoryStore();
    // A frozen host holds the lease (it never renews it, never says it is gone).
    const frozen: LeaseRecord = {
      name: ENGINE_LEASE,
      holder: 'frozen',
      epoch: 7,
      expiresAt: Date.now() + 300,
    };
    await store.write(async (tx) => tx.leases.put(frozen));
    const b = await createEngine({
      workflows,
      activities: activitiesOf('b', []),
      store,
      identity: 'b',
      leaseTimeout: 300,
    });
    expect(await leaseOf(store)).toMatchObject({ holder: 'frozen' });
    expect(await b.client.workflow.execute('greet', { workflowId: 'g2', args: ['y'] })).toBe(
      'hello y from b',
    );
    expect(await leaseOf(store)).toMatchObject({ holder: 'b', epoch: 8 });
    await b.shutdown();
  });

  it('a leader whose lease was taken over cannot commit: its write is refused and it follows', async () => {
    const store = memoryStore();
    // Records what the hosts say, to wait for a's step down without sleeping.
    const notes: BusNote[] = [];
    const shared = localBus(store);
    const bus: WakeBus = {
      publish: (note) => {
        notes.push(note);
        shared.publish(note);
      },
      subscribe: (listener) => shared.subscribe(listener),
    };
    const a = await createEngine({ workflows, store, identity: 'a', leaseTimeout: 60_000, bus });
    await a.client.workflow.start('nap', { workflowId: 'n2', args: [50] });
    const historyOf = () =>
      store.read(async (tx) =>
        tx.history.read((await tx.executions.list({ workflowId: 'n2' }))[0]?.runId ?? ''),
      );
    const before = await historyOf();
    // Another host takes the lease meanwhile (as while a was frozen): epoch 2.
    await store.write(async (tx) =>
      tx.leases.put({ name: ENGINE_LEASE, holder: 'elsewhere', epoch: 2, expiresAt: Date.now() + 60_000 }),
    );
    // a's timer comes due: its commit is fenced off; a steps down and offers to serve the new leader.
    await expect.poll(() => notes.some((n) => n.from === 'a' && 'serves' in n)).toBe(true);
    expect(await historyOf()).toEqual(before);
    expect((await historyOf()).map((e) => e.eventType)).not.toContain('TimerFired');
    expect(await leaseOf(store)).toMatchObject({ holder: 'elsewhere', epoch: 2 });
    await a.shutdown();
  });
});

describe('leader election over IndexedDB (fake-indexeddb), two connections', () => {
  it('hosts on two connections: one leads, the other forwards; the leader closing hands over at once', async () => {
    const factory = new IDBFactory();
    const storeA = await indexedDbStore({ name: 'lead', indexedDB: factory });
    const storeB = await indexedDbStore({ name: 'lead', indexedDB: factory });
    // Separate connections share no in-process bus: give them one, as a BroadcastChannel would.
    const bus = localBus(storeA);
    const a = await createEngine({
      workflows,
      activities: activitiesOf('a', []),
      store: storeA,
      identity: 'a',
      bus,
    });
    const b = await createEngine({
      workflows,
      activities: activitiesOf('b', []),
      store: storeB,
      identity: 'b',
      bus,
    });
    // The leader (a) commits; the activity runs on whichever host is less busy.
    expect(await b.client.workflow.execute('greet', { workflowId: 'i1', args: ['z'] })).toMatch(
      /^hello z from [ab]$/,
    );
    await b.client.workflow.start('nap', { workflowId: 'i2', args: [30] });
    await a.shutdown();
    expect(await b.client.workflow.getHandle('i2').result()).toBe('rested');
    expect(await storeB.read((tx) => tx.leases.get(ENGINE_LEASE))).toMatchObject({ holder: 'b' });
    await b.shutdown();
  });
});
