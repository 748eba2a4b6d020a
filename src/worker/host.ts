import { defined } from '../engine/defined.ts';
import {
  ApplicationFailure,
  type Duration,
  EXECUTION_STATUSES,
  failedTaskEvents,
  fromErrorRecord,
  fromFailureRecord,
  type HistoryEvent,
  InvalidArgumentError,
  type MachineInit,
  msOptional,
  msToNumber,
  type TaskResult,
  TimeoutFailure,
  toErrorRecord,
  toFailureRecord,
  type WorkflowFunction,
  WorkflowMachine,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
} from '../engine/index.ts';
import type {
  EngineApi,
  Reply,
  WorkflowChange,
  WorkflowDescription,
  WorkflowListFilter,
  WorkflowListPage,
  WorkflowListQuery,
  WorkflowOutcome,
  WorkflowStartOptions,
} from '../protocol/api.ts';
import type { BusNote, UpdateOutcome, WakeNote } from '../protocol/notes.ts';
import { copy } from '../store/copy.ts';
import { LeaseLostError, StoreConflictError } from '../store/errors.ts';
import {
  type ActivityTaskRecord,
  ENGINE_LEASE,
  type ExecutionFilter,
  type ExecutionRecord,
  type InboxRecord,
  type LeaseRecord,
  type Store,
  type StoreTx,
  type TimerRecord,
} from '../store/types.ts';
import { Context, runWithContext } from './activity.ts';
import { localBus, type WakeBus } from './bus.ts';
import { installDeterminism, randomUint32, realNow } from './determinism.ts';
import { DEFAULT_PAYLOAD_LIMIT, payloadSize, tooLargeMessage } from './payload.ts';
import {
  type ActivityOutcome,
  claimActivity,
  completeActivity,
  completeWorkflowTask,
  deleteExpired,
  deleteRun,
  type Effects,
  failWorkflowTask,
  findRun,
  fireTimer,
  newEffects,
  requestCancelWorkflow,
  requestUpdate,
  type ServiceContext,
  signalWorkflow,
  startWorkflow,
  type TaskCommit,
  terminateWorkflow,
} from './service.ts';
import { TimerQueue } from './timers.ts';

/** A registered function; its arguments come from stored, structured-cloned data. */
type AnyFunction = (...args: unknown[]) => unknown;

export interface HostOptions {
  store: Store;
  /** Usually `import * as workflows`: functions are registered under their export name; other exports (signal definitions...) are ignored. */
  workflows: Record<string, unknown>;
  activities?: Record<string, unknown>;
  /** Queues this host serves (default `['default']`); the first is the default for starts. */
  taskQueues?: string[];
  identity?: string;
  /** Live workflow instances kept in memory (default 1,000); others replay from history when needed. */
  maxCachedWorkflows?: number;
  maxConcurrentActivities?: number;
  /** Events per run before it is terminated (default 50,000). */
  historyLimit?: number;
  /** `continueAsNewSuggested` from this many events (default 10,000). */
  suggestContinueAsNewAt?: number;
  /** Children open at once per run (default 2,000). */
  maxPendingChildren?: number;
  /** How hosts sharing the store wake each other (default: in-process, per store object). */
  bus?: WakeBus;
  /**
   * Whether another host is still alive (e.g. it holds its Web Lock). Without it, a lease is
   * taken over only once it has expired.
   */
  isHostAlive?: (hostId: string) => Promise<boolean>;
  /** Resolves when another host is gone (e.g. its Web Lock is released): its work is taken over at once. */
  whenHostGone?: (hostId: string) => Promise<void>;
  /**
   * How long the database's lease holds without renewal, in ms (default 5,000). A leader that
   * stops renewing it (a frozen tab) is replaced after this long; one that closes, at once
   * where `whenHostGone` tells.
   */
  leaseTimeout?: number;
  /** Largest payload (arguments, results, signal data) in bytes (default 2 MiB). */
  payloadLimit?: number;
  /**
   * How long a closed execution is kept, as a Temporal namespace's retention (default 7 days):
   * then it is deleted with its history. `0` keeps nothing beyond close; `Infinity` keeps all.
   */
  retention?: Duration;
}

/** The default retention: a week, long enough to look back on what ran, short enough to stay small. */
export const DEFAULT_RETENTION = 7 * 24 * 3_600_000;
/** Closed runs deleted per transaction: small, so workflow tasks never wait long behind one. */
const SWEEP_BATCH = 50;
/** Page sizes of `listPage`. */
const DEFAULT_PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 1_000;

const MAX_TIMEOUT = 2 ** 31 - 1;
type WriteOp<T> = (tx: StoreTx, fx: Effects, ctx: ServiceContext) => Promise<T>;
const TASK_BATCH = 128;
/** Attempts of a client call whose writes were lost with the lease, before it gives up. */
const CONFLICT_ATTEMPTS = 5;
/**
 * The client API methods a host that does not lead forwards to the leader: the writes, then,
 * from index `FIRST_READ`, the reads.
 */
const FORWARDED = [
  'start',
  'signal',
  'update',
  'cancel',
  'terminate',
  'delete',
  'query',
  'describe',
  'history',
  'result',
  'listPage',
  'count',
] as const;
const FIRST_READ = 6;
type Forwarded = (typeof FORWARDED)[number];
/** What the leader asks of a host that runs a task queue for it. */
// Not named like a client method: `#answer` tells the two apart by name.
type ExecutorMethod = 'task' | 'activity' | 'abort' | 'queryRun';
interface RemoteTask {
  exec: ExecutionRecord;
  inbox: InboxRecord[];
  /** Undefined when the executor last ran this run's task (it keeps the instance). */
  history: HistoryEvent[] | undefined;
  time: number;
}
interface PendingCall {
  to: string;
  method: string;
  args: unknown[];
  /** The host the call went to; for `to: ''`, the leader at the time. */
  sentTo?: string;
  resolve(reply: Reply<unknown>): void;
  reject(error: unknown): void;
}

/**
 * Runs workflows and activities from a store: the task loop, the sticky cache of live
 * workflow instances, durable timers, activity execution, and the flat API of plain data
 * that clients call. Runtime-neutral: the same host runs in a Web Worker, a service worker,
 * Node or an edge runtime.
 *
 * Hosts that share a database (pool workers, tabs, a service worker) elect one leader through
 * the store's lease, like a Temporal history shard: only the leader writes, and each of its
 * writes is fenced by the lease's epoch, so no two hosts ever advance the same execution. The
 * others forward their clients' calls to it, and run for it the workflow and activity tasks
 * of queues it does not serve. When the leader goes (its lock is released, or it stops
 * renewing the lease), another host takes the lease over and resumes everything from the store.
 */
export class Host {
  readonly hostId: string;
  readonly taskQueues: string[];
  readonly #store: Store;
  readonly #workflows: Map<string, WorkflowFunction>;
  /** Registered type of each workflow function, by identity (never by `fn.name`, which minifiers change). */
  readonly #workflowTypes: Map<Function, string>;
  readonly #activities: Map<string, AnyFunction>;
  readonly #options: HostOptions;
  readonly #bus: WakeBus;
  readonly #payloadLimit: number;
  /** How long closed runs are kept, in ms (Infinity: always). */
  readonly #retention: number;
  #sweepTimer: ReturnType<typeof setTimeout> | undefined;
  /** What every run's machine gets from this host, built once. */
  readonly #machineBase: Omit<MachineInit, 'workflowId' | 'runId'>;
  /** Undoes `start`'s subscriptions (to the bus, to the store's reloads). */
  #unsubscribe: (() => void)[] = [];
  readonly #cache = new Map<string, WorkflowMachine>();
  readonly #ready = new Set<string>();
  /** Runs whose task failed; retried when a new message arrives or the host restarts. */
  readonly #blocked = new Set<string>();
  #draining: Promise<void> | undefined;
  readonly #timers: TimerQueue<TimerRecord>;
  /** Running attempts by `runId/seq`: a retry may start while its previous attempt winds down. */
  readonly #runningActivities = new Map<string, { attempt: number; controller: AbortController }>();
  /** Waiting for a slot, by `runId/seq`, in arrival order (a Map: no O(n) shift or search). */
  readonly #pendingActivities = new Map<string, ActivityTaskRecord>();
  #activeActivityCount = 0;
  readonly #resultWaiters = new Map<string, (() => void)[]>();
  readonly #changeWaiters = new Map<string, (() => void)[]>();
  readonly #updateWaiters = new Map<
    string,
    { resolve(v: unknown): void; reject(e: unknown): void; runId: string }
  >();
  readonly #watchers = new Map<number, (changes: WorkflowChange[]) => void>();
  #nextWatcherId = 1;
  #stopped = false;
  #writeQueue: {
    op: WriteOp<unknown>;
    /** A client waits for it: resolve only once durable, and redo it if it was lost. */
    durable: boolean;
    resolve(value: unknown): void;
    reject(error: unknown): void;
  }[] = [];
  #writeFlush: Promise<void> | undefined;
  /** What this host's commits made ready, to publish once the flush holding them is durable. */
  #outgoing: { note: WakeNote; durable: Promise<void> } | undefined;
  /** The lease while this host leads. */
  #lease: LeaseRecord | undefined;
  /**
   * Whether the lease this host won became durable (false: another host's flush came first).
   * No side effect (an activity) starts before it is known.
   */
  #leaseDurable: Promise<boolean> = Promise.resolve(true);
  /** The host leading, as far as this host knows. */
  #leader: string | undefined;
  #leaseTimer: ReturnType<typeof setTimeout> | undefined;
  #electing: Promise<void> | undefined;
  readonly #calls = new Map<number, PendingCall>();
  #nextCall = 1;
  /** Other hosts that run task queues for the leader, with their queues. */
  readonly #executors = new Map<string, string[]>();
  /** Activities running, by host (this one or an executor). */
  readonly #load = new Map<string, number>();
  /** Runs whose instance an executor keeps, by executor: their next task needs no history. */
  readonly #sticky = new Map<string, string>();

  constructor(options: HostOptions) {
    installDeterminism();
    this.#options = options;
    this.#store = options.store;
    this.hostId = options.identity ?? `host-${crypto.randomUUID().slice(0, 8)}`;
    this.taskQueues = options.taskQueues ?? ['default'];
    this.#workflows = new Map(functionsOf(options.workflows) as [string, WorkflowFunction][]);
    this.#activities = new Map(functionsOf(options.activities ?? {}));
    this.#workflowTypes = new Map([...this.#workflows].map(([name, fn]) => [fn as Function, name]));
    this.#bus = options.bus ?? localBus(options.store);
    this.#payloadLimit = options.payloadLimit ?? DEFAULT_PAYLOAD_LIMIT;
    const retention = options.retention ?? DEFAULT_RETENTION;
    this.#retention = retention === Number.POSITIVE_INFINITY ? retention : msToNumber(retention);
    this.#machineBase = {
      workflowTypeOf: (fn) => this.#workflowTypes.get(fn),
      resolveWorkflow: (type) => this.#workflows.get(type),
      identity: this.hostId,
      ...defined({
        maxPendingChildren: options.maxPendingChildren,
        suggestContinueAsNewAt: options.suggestContinueAsNewAt,
      }),
    };
    this.#timers = new TimerQueue(
      (t) => `${t.runId}/${t.key}`,
      (due) => this.#onTimersDue(due),
      realNow,
    );
  }

  /** Refuses arguments too large to store, or that do not clone (checked only with `clone`). */
  #assertStorable(args: unknown, what: string, clone = true): void {
    const failure = unstorable(args, this.#payloadLimit, what, clone);
    if (failure) throw new InvalidArgumentError(failure.message);
  }

  #serves(taskQueue: string): boolean {
    return this.taskQueues.includes(taskQueue);
  }

  /** Another host that runs `taskQueue` for the leader. */
  #executorFor(taskQueue: string): string | undefined {
    for (const [hostId, queues] of this.#executors) if (queues.includes(taskQueue)) return hostId;
    return undefined;
  }

  /** Whether the leader can have `taskQueue`'s tasks run: here, or by an executor. */
  #canRun(taskQueue: string): boolean {
    return this.#serves(taskQueue) || this.#executorFor(taskQueue) !== undefined;
  }

  #context(): ServiceContext {
    return {
      now: realNow(),
      hostId: this.hostId,
      newRunId,
      newSeed: randomUint32,
      historyLimit: this.#options.historyLimit ?? 50_000,
      claimQueues: this.taskQueues,
    };
  }

  /** Joins the hosts of the store: wins the lease and loads pending work, or follows the leader. */
  async start(): Promise<void> {
    this.#unsubscribe = [
      this.#bus.subscribe((note) => this.#onNote(note)),
      this.#store.onReload(() => {
        // Writes this host acted on were lost: nothing cached can be trusted. If the lease went
        // with them, another host leads now; otherwise look at the store again.
        this.#cache.clear();
        this.#blocked.clear();
        this.#store
          .read((tx) => tx.leases.get(ENGINE_LEASE))
          .then((lease) => {
            if (!this.#lease) return;
            if (lease?.holder !== this.hostId || lease.epoch !== this.#lease.epoch) this.#stepDown();
            else return this.#lookAgain();
          })
          .catch((error: unknown) => console.error('weft: rescanning the store failed', error));
      }),
    ];
    // The store was just opened: no need to catch up before the first election.
    await this.#elect(false);
  }

  get #ttl(): number {
    return this.#options.leaseTimeout ?? 5_000;
  }

  /** Takes the lease if nobody holds it (or its holder is gone), else follows its holder. */
  #elect(catchUp = true): Promise<void> {
    this.#electing ??= (async () => {
      try {
        while (!this.#stopped && !this.#lease) {
          if (catchUp) await this.#store.refresh();
          catchUp = true;
          const now = realNow();
          const current = await this.#store.read((tx) => tx.leases.get(ENGINE_LEASE));
          if (
            current &&
            current.holder !== this.hostId &&
            current.expiresAt > now &&
            ((await this.#options.isHostAlive?.(current.holder)) ?? true)
          ) {
            this.#follow(current);
            return;
          }
          const lease: LeaseRecord = {
            name: ENGINE_LEASE,
            holder: this.hostId,
            epoch: (current?.epoch ?? 0) + 1,
            expiresAt: now + this.#ttl,
          };
          // Won only if nobody moved in between; the flush refuses it if another connection did.
          const won = await this.#store.write(async (tx) => {
            if ((await tx.leases.get(ENGINE_LEASE))?.epoch !== current?.epoch) return false;
            tx.leases.put(lease);
            return true;
          });
          if (won) this.#lead(lease);
        }
      } finally {
        this.#electing = undefined;
      }
    })();
    return this.#electing;
  }

  #lead(lease: LeaseRecord): void {
    this.#leader = this.hostId;
    // Workflow tasks may run at once (their commits share the lease's fate), activities not.
    // The lease rides with the next flush: usually the first client call's.
    this.#leaseDurable = this.#store.flushed({ lazy: true }).then(
      () => true,
      () => false,
    );
    this.#hold(lease);
    this.#resendCalls();
    void this.#scan();
    // Not at once: the first moments of a leader are for the work that waited for it.
    this.#scheduleSweep(1_000);
  }

  /** Holds `lease`, won or renewed: tells the other hosts, and renews it after a third of its time. */
  #hold(lease: LeaseRecord): void {
    this.#lease = lease;
    this.#bus.publish({ from: this.hostId, lease });
    clearTimeout(this.#leaseTimer);
    this.#leaseTimer = unref(setTimeout(() => void this.#renew(), this.#ttl / 3));
  }

  async #renew(): Promise<void> {
    const lease = this.#lease;
    if (!lease || this.#stopped) return;
    const renewed = { ...lease, expiresAt: realNow() + this.#ttl };
    try {
      await this.#store.write(async (tx) => tx.leases.put(renewed), { durable: true, fence: lease });
    } catch (error) {
      if (this.#lease === lease) this.#stepDown();
      if (!(error instanceof LeaseLostError || error instanceof StoreConflictError)) throw error;
      return;
    }
    if (this.#lease === lease) this.#hold(renewed);
  }

  /** Follows the lease's holder, and takes over when it goes or lets its lease expire. */
  #follow(lease: LeaseRecord): void {
    const newLeader = this.#leader !== lease.holder;
    this.#leader = lease.holder;
    clearTimeout(this.#leaseTimer);
    this.#leaseTimer = unref(
      setTimeout(() => void this.#elect(), Math.max(0, lease.expiresAt - realNow()) + this.#ttl / 10),
    );
    if (!newLeader) return;
    this.#options.whenHostGone?.(lease.holder).then(() => this.#gone(lease.holder));
    this.#bus.publish({ from: this.hostId, serves: this.taskQueues });
    this.#resendCalls();
  }

  /** This host lost its lease: it drops what it did as leader and follows. */
  #stepDown(): void {
    if (!this.#lease) return;
    this.#lease = undefined;
    this.#leader = undefined;
    clearTimeout(this.#leaseTimer);
    clearTimeout(this.#sweepTimer);
    this.#cache.clear();
    this.#ready.clear();
    this.#blocked.clear();
    this.#timers.clear();
    this.#pendingActivities.clear();
    this.#sticky.clear();
    for (const { controller } of this.#runningActivities.values()) controller.abort(leaseLost());
    // Local calls waiting here are woken: they find this host no longer leads and go to the leader.
    for (const waiter of this.#updateWaiters.values()) waiter.reject(leaseLost());
    this.#updateWaiters.clear();
    void this.#lookAgain();
    void this.#elect();
  }

  /**
   * After news of unknown extent (a reload): whoever waits for a run to change looks again,
   * and the work waiting in the store is picked up again.
   */
  #lookAgain(): Promise<void> {
    // (Waking resolves promises: nothing runs before the maps are cleared.)
    for (const waiters of [this.#resultWaiters, this.#changeWaiters]) {
      for (const list of waiters.values()) for (const wake of list) wake();
      waiters.clear();
    }
    return this.#scan();
  }

  /** Picks up the work waiting in the store: workflow tasks, activities, timers. */
  async #scan(): Promise<void> {
    if (!this.#lease) return;
    const [tasks, activities, timers] = await this.#store.read((tx) =>
      Promise.all([tx.workflowTasks.list(), tx.activityTasks.list(), tx.timers.list()]),
    );
    if (!this.#lease) return;
    for (const task of tasks) if (this.#canRun(task.taskQueue)) this.#ready.add(task.runId);
    for (const activity of activities) if (this.#canRun(activity.taskQueue)) this.#enqueueActivity(activity);
    // Firing a timer is a write: the leader fires every queue's timers.
    for (const timer of timers) this.#timers.add(timer, timer.fireAt);
    this.#kick();
  }

  // ---- hosts talking -----------------------------------------------------------------------

  #onNote(note: BusNote): void {
    if (note.from === this.hostId || this.#stopped) return;
    if ('changes' in note) {
      this.#applyNote(note);
      this.#tellWatchers(note.changes);
      return;
    }
    const { lease, serves, gone, call, answer } = note;
    if (lease) {
      if (this.#lease && lease.epoch > this.#lease.epoch) this.#stepDown();
      if (!this.#lease && lease.holder !== this.hostId) this.#follow(lease);
    }
    if (serves && this.#lease) {
      const known = this.#executors.get(note.from);
      this.#executors.set(note.from, serves);
      // A newcomer learns who leads; work waiting for its queues can run now.
      this.#bus.publish({ from: this.hostId, lease: this.#lease });
      if (!known) {
        this.#options.whenHostGone?.(note.from).then(() => this.#gone(note.from));
        void this.#scan();
      }
    }
    if (gone) this.#gone(note.from);
    if (call && (call.to === this.hostId || (call.to === '' && this.#lease))) {
      void this.#answer(call.method, call.args).then((reply) =>
        this.#bus.publish({ from: this.hostId, answer: { id: call.id, to: note.from, reply } }),
      );
    }
    if (answer && answer.to === this.hostId) {
      const pending = this.#calls.get(answer.id);
      // A call re-sent to a new leader takes only that leader's answer.
      if (pending && (pending.sentTo === undefined || pending.sentTo === note.from)) {
        this.#calls.delete(answer.id);
        pending.resolve(answer.reply);
      }
    }
  }

  /** Another host stopped: calls to it fail (their work is done again), and a leader is elected. */
  #gone(hostId: string): void {
    this.#executors.delete(hostId);
    for (const [id, call] of this.#calls) {
      if (call.to === hostId) {
        this.#calls.delete(id);
        call.reject(new Error(`Host ${hostId} is gone`));
      }
    }
    if (this.#leader === hostId) void this.#elect();
  }

  /** Calls another host (`to: ''`: whoever leads) over the bus. */
  #call(to: string, method: string, args: unknown[]): Promise<Reply<unknown>> {
    return new Promise((resolve, reject) => {
      const id = this.#nextCall++;
      const call: PendingCall = { to, method, args, resolve, reject };
      this.#calls.set(id, call);
      this.#send(id, call);
    });
  }

  #send(id: number, call: PendingCall): void {
    const to = call.to || this.#leader;
    if (to === undefined) return; // Sent when a leader is known.
    if (to === this.hostId) {
      this.#calls.delete(id);
      void this.#answer(call.method, call.args).then(call.resolve);
      return;
    }
    call.sentTo = to;
    this.#bus.publish({ from: this.hostId, call: { id, to, method: call.method, args: call.args } });
  }

  /** A new leader: calls that were for the old one go to it. */
  #resendCalls(): void {
    for (const [id, call] of this.#calls)
      if (call.to === '' && call.sentTo !== this.#leader) this.#send(id, call);
  }

  /** Answers a call from another host: a client call for the leader, or a task for an executor. */
  #answer(method: string, args: unknown[]): Promise<Reply<unknown>> {
    if ((FORWARDED as readonly string[]).includes(method))
      return this.#local(method as Forwarded, args, true);
    return reply(() => this.#execute(method as ExecutorMethod, args[0]));
  }

  /** Stops timers and activities; the store keeps everything for the next host. */
  async shutdown(): Promise<void> {
    const lease = this.#lease;
    this.#stopped = true;
    clearTimeout(this.#leaseTimer);
    clearTimeout(this.#sweepTimer);
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    this.#timers.clear();
    const stopped = new Error('Host shut down');
    for (const { controller } of this.#runningActivities.values()) controller.abort(stopped);
    for (const call of this.#calls.values()) call.reject(stopped);
    this.#calls.clear();
    await this.#draining;
    await this.#writeFlush;
    // The lease is let go, so the next host need not wait for it to expire.
    if (lease) {
      await this.#store
        .write(async (tx) => tx.leases.put({ ...lease, expiresAt: 0 }), { fence: lease })
        .catch(() => undefined);
    }
    // What this host wrote reaches the database before it says it has stopped.
    await this.#store.flushed().catch((error: unknown) => console.error('weft: final flush failed', error));
    this.#bus.publish({ from: this.hostId, gone: true });
  }

  // ---- writes -----------------------------------------------------------------------------

  /** Runs one operation in its own transaction and applies its effects. */
  async #write<T>(
    op: (tx: StoreTx, fx: Effects, ctx: ServiceContext) => Promise<T>,
    durable = false,
    updates?: UpdateOutcome[],
  ): Promise<T> {
    const fence = this.#lease;
    if (!fence) throw leaseLost();
    const fx = newEffects();
    const ctx = this.#context();
    let value: T;
    try {
      value = await this.#store.write((tx) => op(tx, fx, ctx), { durable, fence });
    } catch (error) {
      if (error instanceof LeaseLostError && this.#lease === fence) this.#stepDown();
      throw error;
    }
    this.#applyEffects(fx, updates);
    return value;
  }

  /**
   * Group commit: operations queued while a transaction is in flight share the next one.
   * Each operation validates before it writes; if the shared transaction fails anyway, each
   * operation is retried alone so one bad operation cannot sink the others.
   * @returns the operation's value, once its transaction has committed.
   */
  #enqueueWrite<T>(op: WriteOp<T>, durable = false): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#writeQueue.push({ op, durable, resolve: resolve as (v: unknown) => void, reject });
      this.#writeFlush ??= Promise.resolve().then(() => this.#flushWrites());
    });
  }

  /** A write a client waits for: it resolves once durable, redone if another connection voided it. */
  async #flushWrites(): Promise<void> {
    while (this.#writeQueue.length > 0) {
      const batch = this.#writeQueue;
      this.#writeQueue = [];
      const durable = batch.some((item) => item.durable);
      try {
        const values = await this.#write(async (tx, fx, ctx) => {
          const out: unknown[] = [];
          for (const item of batch) out.push(await item.op(tx, fx, ctx));
          return out;
        }, durable);
        batch.forEach((item, i) => {
          item.resolve(values[i]);
        });
      } catch {
        for (const item of batch) {
          try {
            item.resolve(await this.#write(item.op, item.durable));
          } catch (error) {
            item.reject(error);
          }
        }
      }
    }
    this.#writeFlush = undefined;
  }

  /** After a commit: act on what it made ready, and tell watchers and the other hosts. */
  #applyEffects(fx: Effects, updates: UpdateOutcome[] = []): void {
    for (const events of fx.appended.values()) {
      for (const event of events) {
        if (event.eventType !== 'WorkflowExecutionUpdateCompleted') continue;
        // The outcome is `{ success }` or `{ failure }`, as the note carries it.
        // A copy: the event is the store's, and the caller may change the result it gets.
        updates.push({ updateId: event.attributes.protocolInstanceId, ...copy(event.attributes.outcome) });
      }
    }
    if (this.#lease) {
      for (const [runId, taskQueue] of fx.workflowTasks) {
        if (!this.#canRun(taskQueue)) continue;
        this.#blocked.delete(runId);
        this.#ready.add(runId);
      }
      for (const record of fx.activities) if (this.#canRun(record.taskQueue)) this.#enqueueActivity(record);
      for (const [runId, seq] of fx.abortActivities) this.#abortActivity(runId, seq);
      for (const [runId, key] of fx.cancelledTimers) this.#timers.remove(`${runId}/${key}`);
      for (const record of fx.timers) this.#timers.add(record, record.fireAt);
    }
    const note: WakeNote = {
      from: this.hostId,
      changes: [
        ...[...fx.changed.values()].map(changeOf),
        ...fx.deleted.map((exec): WorkflowChange => ({ ...changeOf(exec), deleted: true })),
      ],
      updates,
    };
    this.#applyNote(note);
    if (note.changes.length + updates.length === 0) return;
    // Other hosts and watchers may tell a user: both wait for durability.
    // Notes made while a flush is pending travel together, once it is durable.
    // (The store hands out one promise per flush: equal promises, same flush.)
    const durable = this.#store.flushed({ lazy: true });
    if (this.#outgoing?.durable === durable) {
      this.#outgoing.note.changes.push(...note.changes);
      this.#outgoing.note.updates.push(...updates);
      return;
    }
    const outgoing = { note, durable };
    this.#outgoing = outgoing;
    const done = (): void => {
      if (this.#outgoing === outgoing) this.#outgoing = undefined;
    };
    durable.then(
      () => {
        done();
        this.#tellWatchers(note.changes);
        this.#bus.publish(note);
      },
      // Lost: the store reloaded, and the rescan finds whatever is still to do.
      done,
    );
  }

  #abortActivity(runId: string, seq: number): void {
    const key = `${runId}/${seq}`;
    this.#cancelRunning(key);
    // Claimed here but not started yet: it never runs, and is recorded as cancelled.
    const pending = this.#pendingActivities.get(key);
    this.#pendingActivities.delete(key);
    if (pending) {
      this.#enqueueWrite((tx, fx, ctx) =>
        completeActivity(tx, runId, seq, pending.attempt, { cancelled: true }, ctx, fx),
      ).catch((error: unknown) => console.error('weft: recording a cancelled activity failed', error));
    }
  }

  #cancelRunning(key: string): void {
    this.#runningActivities.get(key)?.controller.abort(new Error('Activity cancelled'));
  }

  /** Acts on what changed: this host's own commit, or the leader's note. */
  #applyNote(note: WakeNote): void {
    if (this.#stopped) return;
    for (const update of note.updates) {
      const waiter = this.#updateWaiters.get(update.updateId);
      if (!waiter) continue;
      this.#updateWaiters.delete(update.updateId);
      if ('success' in update) waiter.resolve(update.success);
      else {
        waiter.reject(
          new WorkflowUpdateFailedError(
            update.rejected ? 'Workflow update rejected' : 'Workflow update failed',
            fromFailureRecord(update.failure),
          ),
        );
      }
    }
    for (const change of note.changes) {
      const changed = this.#changeWaiters.get(change.runId);
      this.#changeWaiters.delete(change.runId);
      for (const wake of changed ?? []) wake();
      if (change.status === 'RUNNING') continue;
      this.#cache.delete(change.runId);
      this.#ready.delete(change.runId);
      this.#blocked.delete(change.runId);
      for (const [id, waiter] of this.#updateWaiters) {
        if (waiter.runId === change.runId) {
          this.#updateWaiters.delete(id);
          waiter.reject(
            new WorkflowUpdateFailedError(
              `Workflow closed (${change.status}) before the update completed`,
              undefined,
            ),
          );
        }
      }
      const waiters = this.#resultWaiters.get(change.runId);
      this.#resultWaiters.delete(change.runId);
      for (const wake of waiters ?? []) wake();
    }
    this.#kick();
  }

  /** Tells `watch` listeners of changes; one that throws does not keep the others from hearing. */
  #tellWatchers(changes: WorkflowChange[]): void {
    if (changes.length === 0 || this.#stopped) return;
    for (const listener of this.#watchers.values()) {
      try {
        listener(changes);
      } catch (error) {
        console.error('weft: a watch listener threw', error);
      }
    }
  }

  // ---- workflow tasks ---------------------------------------------------------------------

  #kick(): void {
    if (this.#stopped || !this.#lease || this.#draining || this.#ready.size === 0) return;
    this.#draining = this.#drain().finally(() => {
      this.#draining = undefined;
      this.#kick();
    });
  }

  async #drain(): Promise<void> {
    while (!this.#stopped && this.#lease && this.#ready.size > 0) {
      const batch: string[] = [];
      for (const runId of this.#ready) {
        this.#ready.delete(runId);
        batch.push(runId);
        if (batch.length >= TASK_BATCH) break;
      }
      await this.#runBatch(batch);
    }
  }

  async #runBatch(batch: string[]): Promise<void> {
    // Every run of the batch is read at once: queued IndexedDB requests answer far faster
    // than requests awaited one by one.
    const loaded = await this.#store.read((tx) =>
      Promise.all(
        batch.map(async (runId) => {
          const [exec, inbox] = await Promise.all([tx.executions.get(runId), tx.inbox.list(runId)]);
          if (exec?.status !== 'RUNNING') return undefined;
          const executor = this.#serves(exec.taskQueue) ? undefined : this.#executorFor(exec.taskQueue);
          // Taken out of the cache now: running an earlier run of the batch may evict it.
          const cached = executor ? undefined : this.#takeCached(exec);
          const history =
            cached || (executor && this.#sticky.get(runId) === executor)
              ? undefined
              : await tx.history.read(runId);
          return { exec, inbox, cached, history, executor };
        }),
      ),
    );
    // Start activations on an empty microtask queue: no activity continuation can then
    // run between a workflow's microtasks and see the workflow's clock.
    await nextMacrotask();
    const commits: TaskCommit[] = [];
    const failures: { runId: string; expected: number; events: HistoryEvent[] }[] = [];
    const remote: Promise<void>[] = [];
    const done = (exec: ExecutionRecord, inbox: InboxRecord[], result: TaskResult): void => {
      commits.push({
        runId: exec.runId,
        expectedNextEventId: exec.nextEventId,
        consumedInbox: inbox.map((m) => m.id),
        result,
      });
    };
    const failed = (exec: ExecutionRecord, time: number, by: string, error: unknown): void => {
      failures.push({
        runId: exec.runId,
        expected: exec.nextEventId,
        events: failedTaskEvents(exec.nextEventId, time, exec.taskQueue, by, error),
      });
    };
    for (const run of loaded) {
      if (!run) continue; // Closed meanwhile.
      const { exec, inbox, cached, history, executor } = run;
      const time = realNow();
      if (executor) {
        const task: RemoteTask = { exec, inbox, time, history };
        // The executor no longer keeps the instance (again, with the history), or it is gone
        // (again, elsewhere or when one offers).
        const again = (): void => {
          this.#sticky.delete(exec.runId);
          this.#ready.add(exec.runId);
        };
        remote.push(
          this.#call(executor, 'task', [task]).then((reply) => {
            if ('error' in reply) failed(exec, time, executor, fromErrorRecord(reply.error));
            else if (!reply.ok) again();
            else {
              done(exec, inbox, reply.ok as TaskResult);
              this.#sticky.set(exec.runId, executor);
            }
          }, again),
        );
        continue;
      }
      try {
        done(exec, inbox, await this.#runTask(exec, inbox, cached, history ?? [], time));
      } catch (error) {
        failed(exec, time, this.hostId, error);
      }
    }
    await Promise.all(remote);
    if (commits.length === 0 && failures.length === 0) return;
    const rejections: UpdateOutcome[] = [];
    try {
      await this.#write(
        async (tx, fx, ctx) => {
          for (const commit of commits) {
            const ok = await completeWorkflowTask(tx, commit, ctx, fx);
            if (!ok) {
              this.#cache.delete(commit.runId);
              this.#sticky.delete(commit.runId);
            } else {
              for (const { command } of commit.result.commands) {
                if (command.type === 'RejectUpdate') {
                  rejections.push({ updateId: command.updateId, failure: command.failure, rejected: true });
                }
              }
            }
          }
          for (const f of failures) {
            if (await failWorkflowTask(tx, f.runId, f.expected, f.events, ctx, fx))
              this.#blocked.add(f.runId);
          }
        },
        false,
        rejections,
      );
    } catch (error) {
      // Nothing was written: the cached instances are ahead of the store.
      for (const commit of commits) {
        this.#cache.delete(commit.runId);
        this.#sticky.delete(commit.runId);
        if (this.#lease) this.#ready.add(commit.runId);
      }
      if (!(error instanceof LeaseLostError))
        console.error('weft: committing workflow tasks failed; they will be retried', error);
      return;
    }
    for (const f of failures) this.#ready.delete(f.runId);
  }

  /** Runs a workflow task on the cached instance, or on one rebuilt from history; keeps it. */
  async #runTask(
    exec: ExecutionRecord,
    inbox: InboxRecord[],
    cached: WorkflowMachine | undefined,
    history: HistoryEvent[],
    time: number,
  ): Promise<TaskResult> {
    try {
      const machine = cached ?? (await WorkflowMachine.replay(this.#machineInit(exec), history));
      const result = await machine.runTask(inbox, time, { newRunId });
      for (const { command } of result.commands)
        this.#assertStorable(command, `${command.type} payload`, false);
      this.#remember(exec.runId, machine);
      return result;
    } catch (error) {
      this.#cache.delete(exec.runId);
      throw error;
    }
  }

  /** What the leader asks of this host as an executor of its task queues. */
  async #execute(method: ExecutorMethod, payload: unknown): Promise<unknown> {
    if (method === 'task') {
      const { exec, inbox, history, time } = payload as RemoteTask;
      const cached = this.#takeCached(exec);
      // Without the instance or the history, the leader sends the task again with the history.
      if (!cached && !history) return null;
      await nextMacrotask();
      return this.#runTask(exec, inbox, cached, history ?? [], time);
    }
    if (method === 'activity') {
      const task = payload as ActivityTaskRecord;
      const key = `${task.runId}/${task.seq}`;
      const running = { attempt: task.attempt, controller: new AbortController() };
      this.#runningActivities.set(key, running);
      try {
        return await this.#executeActivity(task, running.controller);
      } finally {
        if (this.#runningActivities.get(key) === running) this.#runningActivities.delete(key);
      }
    }
    if (method === 'abort') {
      // The attempt's `runId/seq`.
      this.#cancelRunning(payload as string);
      return null;
    }
    const { exec, history, name, args } = payload as {
      exec: ExecutionRecord;
      history: HistoryEvent[];
      name: string;
      args: unknown[];
    };
    return this.#answerQuery(exec, this.#current(exec), history, name, args);
  }

  /** The cached instance of a run if it is at the run's current event, removed from the cache. */
  #takeCached(exec: ExecutionRecord): WorkflowMachine | undefined {
    const cached = this.#current(exec);
    this.#cache.delete(exec.runId);
    return cached;
  }

  #remember(runId: string, machine: WorkflowMachine): void {
    if (machine.closed) return;
    this.#cache.set(runId, machine);
    const max = this.#options.maxCachedWorkflows ?? 1_000;
    // The oldest goes first: a Map keeps insertion order.
    while (this.#cache.size > max) this.#cache.delete(this.#cache.keys().next().value!);
  }

  #machineInit(exec: ExecutionRecord): MachineInit {
    return { ...this.#machineBase, workflowId: exec.workflowId, runId: exec.runId };
  }

  // ---- retention ----------------------------------------------------------------------------

  /** Sweeps after `delay`, then again and again, while this host leads. */
  #scheduleSweep(delay: number): void {
    clearTimeout(this.#sweepTimer);
    if (this.#retention === Number.POSITIVE_INFINITY || this.#stopped) return;
    this.#sweepTimer = unref(
      setTimeout(() => {
        this.sweep()
          .catch((error: unknown) => {
            if (this.#lease) console.error('weft: deleting expired executions failed; will retry', error);
          })
          .finally(() => {
            // As often as a tenth of the retention, between once a second and once a minute.
            if (this.#lease) this.#scheduleSweep(Math.min(60_000, Math.max(1_000, this.#retention / 10)));
          });
      }, delay),
    );
  }

  /**
   * Deletes the closed executions whose retention ran out, with everything they had, a small
   * transaction at a time; a closed child whose parent is still open is kept. Only the leader
   * deletes. Each execution goes in one transaction, so a crash never leaves part of one.
   * @returns how many executions were deleted.
   */
  async sweep(): Promise<number> {
    if (this.#retention === Number.POSITIVE_INFINITY) return 0;
    let total = 0;
    let after: ExecutionRecord | undefined;
    while (this.#lease && !this.#stopped) {
      // Expired once closeTime + retention is now or past (so 0 keeps nothing beyond close).
      const before = realNow() - this.#retention + 1;
      const { deleted, last } = await this.#write(async (tx, fx) => {
        const swept = await deleteExpired(tx, before, SWEEP_BATCH, after);
        fx.deleted.push(...swept.deleted);
        return swept;
      });
      total += deleted.length;
      if (last === undefined) break;
      after = last;
      // Workflow tasks go first: the next batch waits for a quiet moment.
      await nextMacrotask();
      await this.#draining;
    }
    return total;
  }

  // ---- timers -------------------------------------------------------------------------------

  #onTimersDue(due: TimerRecord[]): void {
    for (const timer of due) {
      this.#enqueueWrite((tx, fx, ctx) => fireTimer(tx, timer, ctx, fx)).catch((error: unknown) => {
        // Not the leader any more: the next one fires it.
        if (!this.#lease) return;
        // The timer is still in the store; try again shortly rather than lose it.
        console.error('weft: firing a timer failed; retrying', error);
        this.#timers.add(timer, realNow() + 1_000);
      });
    }
  }

  // ---- activities ----------------------------------------------------------------------------

  #enqueueActivity(task: ActivityTaskRecord): void {
    const delay = task.notBefore - realNow();
    if (delay > 0) {
      setTimeout(() => this.#enqueueActivity(task), Math.min(delay, MAX_TIMEOUT));
      return;
    }
    const key = `${task.runId}/${task.seq}`;
    // A later attempt supersedes an earlier one still waiting.
    if ((this.#pendingActivities.get(key)?.attempt ?? 0) <= task.attempt)
      this.#pendingActivities.set(key, task);
    this.#pumpActivities();
  }

  #pumpActivities(): void {
    const max = this.#options.maxConcurrentActivities ?? 100;
    for (const [key, task] of this.#pendingActivities) {
      if (this.#stopped || this.#activeActivityCount >= max) break;
      this.#pendingActivities.delete(key);
      if ((this.#runningActivities.get(key)?.attempt ?? 0) >= task.attempt) continue;
      this.#activeActivityCount++;
      const running = { attempt: task.attempt, controller: new AbortController() };
      this.#runningActivities.set(key, running);
      void this.#runActivity(task, running.controller)
        .catch((error: unknown) => {
          // The task is still in the store: the next leader runs it again (at least once).
          if (!(error instanceof LeaseLostError))
            console.error(`weft: recording activity ${task.activityType} failed`, error);
          return undefined;
        })
        .then((again) => {
          if (this.#runningActivities.get(key) === running) this.#runningActivities.delete(key);
          this.#activeActivityCount--;
          // Queued once its slot is free, so that it is not taken for the attempt still running.
          if (again) this.#enqueueActivity(again);
          this.#pumpActivities();
        });
    }
  }

  /** @returns the activity to queue again (a retry, or an attempt whose executor went away). */
  async #runActivity(
    task: ActivityTaskRecord,
    controller: AbortController,
  ): Promise<ActivityTaskRecord | undefined> {
    // A side effect waits until the lease it runs under is durable.
    if (!(await this.#leaseDurable) || !this.#lease) return;
    // Claimed already by the commit that scheduled it on this host: no claim of its own.
    const claimed =
      task.owner === this.hostId
        ? task
        : await this.#enqueueWrite((tx, _fx, ctx) =>
            claimActivity(tx, task.runId, task.seq, task.attempt, ctx),
          );
    if (!claimed || this.#stopped) return;
    // Activities spread over every host that runs their queue: the least busy takes the next.
    let runner: string | undefined;
    let least = Infinity;
    for (const [hostId, queues] of [[this.hostId, this.taskQueues] as const, ...this.#executors]) {
      const load = this.#load.get(hostId) ?? 0;
      if (queues.includes(task.taskQueue) && load < least) [runner, least] = [hostId, load];
    }
    // Its executor left before it started: it waits in the store for the next that offers.
    if (runner === undefined) return;
    this.#load.set(runner, least + 1);
    let outcome: ActivityOutcome | undefined;
    try {
      outcome = await this.#executeActivity(claimed, controller, runner === this.hostId ? undefined : runner);
    } finally {
      this.#load.set(runner, (this.#load.get(runner) ?? 1) - 1);
    }
    // The executor went away: the attempt runs again (at least once).
    if (!outcome) return this.#lease && claimed;
    if (this.#stopped) return;
    return this.#enqueueWrite((tx, fx, ctx) =>
      completeActivity(tx, task.runId, task.seq, task.attempt, outcome, ctx, fx),
    );
  }

  /**
   * Runs an attempt here, or on `executor`, within its timeouts (a frozen executor never
   * answers: the attempt still times out here).
   * @returns the outcome; undefined if the executor went away.
   */
  async #executeActivity(
    task: ActivityTaskRecord,
    controller: AbortController,
    executor?: string,
  ): Promise<ActivityOutcome | undefined> {
    const now = realNow();
    const { startToCloseTimeout: startToClose, scheduleToCloseTimeout: scheduleToClose } = task;
    // The earlier deadline applies; on a tie, start-to-close. (No timeout: an Infinity deadline.)
    const startDeadline = now + (startToClose ?? Infinity);
    const scheduleDeadline = task.scheduledTime + (scheduleToClose ?? Infinity);
    const bySchedule = scheduleDeadline < startDeadline;
    const deadline = bySchedule ? scheduleDeadline : startDeadline;
    let timeoutHandle: ReturnType<typeof setTimeout> | undefined;
    // Settles when the attempt is cancelled, or when it times out (which aborts it too).
    const stopped = new Promise<ActivityOutcome>((resolve) => {
      controller.signal.addEventListener('abort', () => {
        if (!(controller.signal.reason instanceof TimeoutFailure)) resolve({ cancelled: true });
      });
      if (deadline === Infinity) return;
      timeoutHandle = setTimeout(
        () => {
          const failure = new TimeoutFailure(
            `Activity ${bySchedule ? 'schedule' : 'start'}-to-close timeout`,
            undefined,
            bySchedule ? 'SCHEDULE_TO_CLOSE' : 'START_TO_CLOSE',
          );
          controller.abort(failure);
          resolve({ timedOut: toFailureRecord(failure) });
        },
        Math.min(Math.max(0, deadline - now), MAX_TIMEOUT),
      );
    });
    const context = new Context(
      {
        activityId: String(task.seq),
        activityType: task.activityType,
        attempt: task.attempt,
        workflowExecution: { workflowId: task.workflowId, runId: task.runId },
        workflowType: task.workflowType,
        taskQueue: task.taskQueue,
        scheduledTimestampMs: task.scheduledTime,
        ...defined({ startToCloseTimeoutMs: startToClose, scheduleToCloseTimeoutMs: scheduleToClose }),
      },
      controller.signal,
    );
    const run = (async (): Promise<ActivityOutcome | undefined> => {
      if (executor) {
        const abort = (): void =>
          void this.#call(executor, 'abort', [`${task.runId}/${task.seq}`]).catch(() => undefined);
        controller.signal.addEventListener('abort', abort);
        return this.#call(executor, 'activity', [task]).then(
          (reply) =>
            'error' in reply
              ? { failed: toFailureRecord(fromErrorRecord(reply.error)) }
              : (reply.ok as ActivityOutcome),
          () => undefined,
        );
      }
      try {
        const fn = this.#activities.get(task.activityType);
        if (!fn) {
          throw ApplicationFailure.nonRetryable(
            `Activity type '${task.activityType}' is not registered in this worker (known: ${[...this.#activities.keys()].join(', ') || 'none'})`,
            'NotFoundError',
          );
        }
        // A copy: the task is the store's record, and an activity may change its arguments.
        const result = await runWithContext(context, () => fn(...copy(task.input)));
        const failure = unstorable(result, this.#payloadLimit, `Activity ${task.activityType} result`);
        return failure ? { failed: toFailureRecord(failure) } : { completed: result };
      } catch (error) {
        return { failed: toFailureRecord(error) };
      }
    })();
    try {
      return await Promise.race([run, stopped]);
    } finally {
      clearTimeout(timeoutHandle);
    }
  }

  // ---- the client API --------------------------------------------------------------------------

  /** @param forwarded the start came from another host, and may have been sent before. */
  async startWorkflow(
    workflowType: string,
    options: WorkflowStartOptions,
    forwarded = false,
  ): Promise<{ workflowId: string; runId: string }> {
    // Only a registered name (a string) is known.
    if (!this.#workflows.has(workflowType)) {
      throw new InvalidArgumentError(
        `Unknown workflow type '${String(workflowType)}' (registered: ${[...this.#workflows.keys()].join(', ') || 'none'})`,
      );
    }
    if (typeof options?.workflowId !== 'string' || options.workflowId === '') {
      throw new InvalidArgumentError('start needs options.workflowId (a non-empty string)');
    }
    const args = options.args ?? [];
    if (!Array.isArray(args)) throw new InvalidArgumentError('options.args must be an array');
    if (options.requestId !== undefined && typeof options.requestId !== 'string')
      throw new InvalidArgumentError('options.requestId must be a string');
    this.#assertStorable(args, 'Workflow arguments');
    if (options.memo !== undefined) assertCloneable(options.memo, 'Memo');
    // Built (and its durations checked) before it is queued.
    const request = {
      workflowType,
      workflowId: options.workflowId,
      taskQueue: options.taskQueue ?? this.taskQueues[0] ?? 'default',
      args,
      identity: this.hostId,
      ...defined({
        workflowIdReusePolicy: options.workflowIdReusePolicy,
        workflowIdConflictPolicy: options.workflowIdConflictPolicy,
        workflowExecutionTimeout: msOptional(options.workflowExecutionTimeout),
        workflowRunTimeout: msOptional(options.workflowRunTimeout),
        workflowTaskTimeout: msOptional(options.workflowTaskTimeout),
        retry: options.retry,
        memo: options.memo,
        requestId: options.requestId,
      }),
      ...(forwarded && { maybeResent: true }),
    };
    const { runId } = await this.#enqueueWrite((tx, fx, ctx) => startWorkflow(tx, request, ctx, fx), true);
    return { workflowId: options.workflowId, runId };
  }

  async signal(
    workflowId: string,
    runId: string | undefined,
    signalName: string,
    args: unknown[],
  ): Promise<void> {
    this.#assertStorable(args, 'Signal arguments');
    await this.#enqueueWrite(
      (tx, fx, ctx) => signalWorkflow(tx, workflowId, runId, signalName, args, ctx, fx, 'client'),
      true,
    );
  }

  async cancel(workflowId: string, runId: string | undefined, reason?: string): Promise<void> {
    await this.#enqueueWrite(
      (tx, fx, ctx) => requestCancelWorkflow(tx, workflowId, runId, ctx, fx, reason),
      true,
    );
  }

  async terminate(workflowId: string, runId: string | undefined, reason?: string): Promise<void> {
    await this.#enqueueWrite(
      (tx, fx, ctx) => terminateWorkflow(tx, workflowId, runId, reason ?? 'Terminated by client', ctx, fx),
      true,
    );
  }

  async update(
    workflowId: string,
    runId: string | undefined,
    name: string,
    args: unknown[],
  ): Promise<unknown> {
    this.#assertStorable(args, 'Update arguments');
    const updateId = crypto.randomUUID();
    const targetRun = await this.#enqueueWrite(
      (tx, fx, ctx) => requestUpdate(tx, workflowId, runId, { updateId, name, input: args }, ctx, fx),
      true,
    );
    // Waiting from now is in time: the update completes in a later workflow task.
    return new Promise((resolve, reject) => {
      this.#updateWaiters.set(updateId, { resolve, reject, runId: targetRun });
    });
  }

  async query(
    workflowId: string,
    runId: string | undefined,
    name: string,
    args: unknown[],
  ): Promise<unknown> {
    const read = () =>
      this.#store.read(async (tx) => {
        const exec = await mustFind(tx, workflowId, runId);
        const current = this.#serves(exec.taskQueue) ? this.#current(exec) : undefined;
        return { exec, current, history: current ? undefined : await tx.history.read(exec.runId) };
      });
    let { exec, current, history } = await read();
    // As Temporal's server does, a query waits for the run's first workflow task: before it,
    // no handler is registered yet. (Only `WorkflowExecutionStarted` is recorded until then.)
    const notReady = () => exec.status === 'RUNNING' && exec.nextEventId <= 2 && !exec.blocked;
    while (notReady()) {
      // Waiting is registered before reading again, so a change in between is not missed.
      const changed = this.#nextChange(exec.runId);
      ({ exec, current, history } = await read());
      if (notReady()) await changed;
      if (!this.#lease) throw leaseLost();
    }
    if (this.#serves(exec.taskQueue)) return this.#answerQuery(exec, current, history ?? [], name, args);
    const executor = this.#executorFor(exec.taskQueue);
    if (!executor) {
      throw new InvalidArgumentError(
        `Cannot query '${workflowId}': no worker serves its task queue '${exec.taskQueue}'`,
      );
    }
    const reply = await this.#call(executor, 'queryRun', [{ exec, history, name, args }]);
    if ('error' in reply) throw fromErrorRecord(reply.error);
    return reply.ok;
  }

  /** The cached instance of a run, if it is at the run's current event. */
  #current(exec: ExecutionRecord): WorkflowMachine | undefined {
    const cached = this.#cache.get(exec.runId);
    return cached && cached.nextEventId === exec.nextEventId ? cached : undefined;
  }

  async #answerQuery(
    exec: ExecutionRecord,
    current: WorkflowMachine | undefined,
    history: HistoryEvent[],
    name: string,
    args: unknown[],
  ): Promise<unknown> {
    // A query never changes state: an instance rebuilt for it is not cached.
    const machine = current ?? (await WorkflowMachine.replay(this.#machineInit(exec), history));
    if (!machine.runtime)
      throw new InvalidArgumentError(`Workflow '${exec.workflowId}' has not started running yet`);
    const answer = await machine.runtime.query(name, args);
    // The answer travels back by postMessage: refuse what it cannot carry, clearly, here.
    assertCloneable(answer, `The answer of query '${name}'`);
    return answer;
  }

  /**
   * Resolves at the next change of a run this host learns of (its own commit or a note); with
   * `#resultWaiters`, once it closes.
   */
  #nextChange(runId: string, waiters = this.#changeWaiters): Promise<void> {
    return new Promise((resolve) => {
      const list = waiters.get(runId) ?? [];
      list.push(resolve);
      waiters.set(runId, list);
    });
  }

  async describe(workflowId: string, runId: string | undefined): Promise<WorkflowDescription> {
    return describeExecution(await this.#store.read((tx) => mustFind(tx, workflowId, runId)));
  }

  async history(workflowId: string, runId: string | undefined): Promise<HistoryEvent[]> {
    return this.#store.read(async (tx) => tx.history.read((await mustFind(tx, workflowId, runId)).runId));
  }

  /**
   * One page of executions, newest first (start time, then run ID), read from the store's
   * indexes: a page costs in proportion to its size, not to the database. Executions started
   * after the first page never appear on later ones, so paging under concurrent starts neither
   * skips nor repeats an execution.
   */
  async listPage(query: WorkflowListQuery = {}): Promise<WorkflowListPage> {
    const { pageSize = DEFAULT_PAGE_SIZE, nextPageToken, ...rest } = query ?? {};
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE)
      throw new InvalidArgumentError(
        `pageSize must be an integer from 1 to ${MAX_PAGE_SIZE}, not ${String(pageSize)}`,
      );
    const filter = storeFilter(rest);
    const after = nextPageToken === undefined ? undefined : decodeToken(nextPageToken);
    // One more than asked: whether there is a next page is known without another read.
    const records = await this.#store.read((tx) =>
      tx.executions.page({ filter, limit: pageSize + 1, ...(after && { after }) }),
    );
    const page = records.slice(0, pageSize);
    const last = page.at(-1);
    return {
      executions: page.map(describeExecution),
      ...(records.length > pageSize && last && { nextPageToken: encodeToken(last) }),
    };
  }

  /** How many executions match, answered from the store's indexes. */
  async count(filter: WorkflowListFilter = {}): Promise<{ count: number }> {
    const checked = storeFilter(filter ?? {});
    return { count: await this.#store.read((tx) => tx.executions.count(checked)) };
  }

  /** Deletes a closed execution now, with its history (as retention would). Refuses an open one. */
  async delete(workflowId: string, runId: string | undefined): Promise<void> {
    await this.#enqueueWrite(async (tx, fx) => {
      const exec = await mustFind(tx, workflowId, runId);
      await deleteRun(tx, exec);
      fx.deleted.push(exec);
    }, true);
  }

  /** Waits for the run to close, following continue-as-new and retries to the last run. */
  async result(workflowId: string, runId: string | undefined): Promise<WorkflowOutcome> {
    const find = (runId: string | undefined) => this.#store.read((tx) => mustFind(tx, workflowId, runId));
    let exec = await find(runId);
    for (;;) {
      let next = exec.nextRunId;
      if (exec.status === 'RUNNING') {
        // Registered before reading again, so a close in between is not missed.
        const closed = this.#nextChange(exec.runId, this.#resultWaiters);
        if ((await find(exec.runId)).status === 'RUNNING') await closed;
        if (!this.#lease) throw leaseLost();
        next = exec.runId;
      } else if (next === undefined) {
        // The record has a completed run's result: no history to read.
        if (exec.status === 'COMPLETED' && 'result' in exec)
          return { status: 'COMPLETED', runId: exec.runId, result: exec.result };
        // Its closing event is its last.
        const closing = await this.#store.read((tx) => tx.history.read(exec.runId, exec.nextEventId - 1));
        return outcomeOf(exec, closing.at(-1));
      }
      exec = await find(next);
    }
  }

  watch(listener: (changes: WorkflowChange[]) => void): number {
    const id = this.#nextWatcherId++;
    this.#watchers.set(id, listener);
    return id;
  }

  unwatch(id: number): void {
    this.#watchers.delete(id);
  }

  /**
   * The flat API with errors as records, for Comlink or an in-process client. A host that does
   * not lead forwards calls to the leader; only `watch` stays here (the leader's notes feed it).
   */
  api(): EngineApi {
    const api: Record<string, (...args: never[]) => Promise<unknown>> = {
      watch: async (listener: (changes: WorkflowChange[]) => void) => this.watch(listener),
      unwatch: async (id: number) => this.unwatch(id),
    };
    for (const method of FORWARDED) {
      api[method] = async (...args: unknown[]): Promise<Reply<unknown>> => {
        // A start without a queue goes to the first queue of the host the client called; it
        // gets its request ID here, before it may be sent (and sent again) to the leader.
        const options = args[1] as WorkflowStartOptions | undefined;
        if (method === 'start' && typeof options === 'object' && options !== null) {
          args[1] = {
            ...options,
            taskQueue: options.taskQueue ?? this.taskQueues[0] ?? 'default',
            requestId: options.requestId ?? crypto.randomUUID(),
          };
        }
        for (let attempt = 1; ; attempt++) {
          if (!this.#lease) return this.#call('', method, args);
          const answer = await this.#local(method, args);
          // The lease was lost meanwhile (another host wrote): the leader answers instead.
          const lost = 'error' in answer && /^(LeaseLost|StoreConflict)Error$/.test(answer.error.name);
          if (!lost || attempt >= CONFLICT_ATTEMPTS) return answer;
          await this.#electing;
        }
      };
    }
    return api as unknown as EngineApi;
  }

  /** Answers a client call here: the host's method of the same name (`start`: `startWorkflow`), its errors as records. */
  #local(method: Forwarded, args: unknown[], forwarded = false): Promise<Reply<unknown>> {
    const host = this as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    return reply(async () => {
      const value =
        method === 'start'
          ? await this.startWorkflow(args[0] as string, args[1] as WorkflowStartOptions, forwarded)
          : await host[method]!(...args);
      // A read may see writes not yet durable: it answers once they are, so a client is
      // never told of a state a crash could take back.
      if (FORWARDED.indexOf(method) >= FIRST_READ) await this.#store.flushed();
      return value;
    });
  }
}

/** The run `findRun` finds, or a {@link WorkflowNotFoundError} that names what was asked for. */
async function mustFind(
  tx: StoreTx,
  workflowId: string,
  runId: string | undefined,
): Promise<ExecutionRecord> {
  const exec = await findRun(tx, workflowId, runId);
  if (exec) return exec;
  throw new WorkflowNotFoundError(
    `No workflow execution '${workflowId}'${runId === undefined ? '' : ` run ${runId}`}`,
    workflowId,
    runId,
  );
}

async function reply<T>(fn: () => Promise<T>): Promise<Reply<T>> {
  try {
    return { ok: await fn() };
  } catch (error) {
    return { error: toErrorRecord(error) };
  }
}

const newRunId = (): string => crypto.randomUUID();

/** Lets Node exit while only this timer is left (a lease renewal, a takeover watch). */
function unref(timer: ReturnType<typeof setTimeout>): ReturnType<typeof setTimeout> {
  (timer as { unref?: () => void }).unref?.();
  return timer;
}

function leaseLost(): LeaseLostError {
  return new LeaseLostError('This host does not hold the lease');
}

const channel = typeof MessageChannel !== 'undefined' ? new MessageChannel() : undefined;
const macrotaskQueue: (() => void)[] = [];
// Node keeps a process alive while a MessagePort is referenced: only while a hop is pending.
const nodePort = channel?.port1 as { ref?: () => void; unref?: () => void } | undefined;
if (channel) {
  channel.port1.onmessage = () => {
    macrotaskQueue.shift()?.();
    if (macrotaskQueue.length === 0) nodePort?.unref?.();
  };
  nodePort?.unref?.();
}

/** Resolves in a new macrotask (MessageChannel: not clamped like nested setTimeout). */
function nextMacrotask(): Promise<void> {
  return new Promise((resolve) => {
    if (!channel) {
      setTimeout(resolve, 0);
      return;
    }
    macrotaskQueue.push(resolve);
    nodePort?.ref?.();
    channel.port2.postMessage(null);
  });
}

/** A client's filter as the store takes it, checked: bad fields are refused, not ignored. */
function storeFilter(filter: WorkflowListFilter): ExecutionFilter {
  if (typeof filter !== 'object' || filter === null)
    throw new InvalidArgumentError('A list filter must be an object');
  const out: ExecutionFilter = {};
  for (const field of ['workflowType', 'workflowId', 'parentWorkflowId'] as const) {
    const value = filter[field];
    if (value === undefined) continue;
    if (typeof value !== 'string') throw new InvalidArgumentError(`Filter field ${field} must be a string`);
    out[field] = value;
  }
  if (filter.status !== undefined) {
    if (!(EXECUTION_STATUSES as readonly string[]).includes(filter.status))
      throw new InvalidArgumentError(
        `Unknown status '${String(filter.status)}' (one of ${EXECUTION_STATUSES.join(', ')})`,
      );
    out.status = filter.status;
  }
  for (const field of ['startTimeFrom', 'startTimeTo'] as const) {
    const value = filter[field];
    if (value === undefined) continue;
    const ms = value instanceof Date ? value.getTime() : value;
    if (typeof ms !== 'number' || Number.isNaN(ms))
      throw new InvalidArgumentError(`Filter field ${field} must be a Date or milliseconds since the epoch`);
    out[field] = ms;
  }
  return out;
}

/** A page's end as an opaque token; the next page starts after it. */
function encodeToken(exec: ExecutionRecord): string {
  return btoa(JSON.stringify([exec.startTime, exec.runId]));
}

function decodeToken(token: string): { startTime: number; runId: string } {
  try {
    const [startTime, runId] = JSON.parse(atob(token)) as unknown[];
    if (typeof startTime === 'number' && typeof runId === 'string') return { startTime, runId };
  } catch {
    // Refused below, whatever was wrong with it.
  }
  throw new InvalidArgumentError(`Not a page token from listPage: '${String(token)}'`);
}

function changeOf(exec: ExecutionRecord): WorkflowChange {
  return {
    workflowId: exec.workflowId,
    runId: exec.runId,
    type: exec.workflowType,
    status: exec.status,
    historyLength: exec.nextEventId - 1,
    blocked: exec.blocked !== undefined,
    ...(exec.parentWorkflowId !== undefined && { parentWorkflowId: exec.parentWorkflowId }),
  };
}

function functionsOf(module: Record<string, unknown>): [string, AnyFunction][] {
  return Object.entries(module).filter(
    (entry): entry is [string, AnyFunction] => typeof entry[1] === 'function',
  );
}

/**
 * Why `value` cannot be stored, as a failure to report; or nothing. `DataCloneError`: it holds
 * what cannot be stored (a function, a symbol, a promise) or, checked with `clone`, does not
 * clone; `PayloadTooLarge`: it is over `limit` bytes.
 */
function unstorable(
  value: unknown,
  limit: number,
  what: string,
  clone = true,
): ApplicationFailure | undefined {
  const seen = { exotic: false };
  let size: number;
  try {
    size = payloadSize(value, limit, seen);
    // Plain data always clones: only values with more in them are cloned to check.
    if (clone && seen.exotic) structuredClone(value);
  } catch (error) {
    return ApplicationFailure.nonRetryable(
      `${what} cannot be stored: ${(error as Error).message}`,
      'DataCloneError',
    );
  }
  if (size <= limit) return undefined;
  return ApplicationFailure.nonRetryable(tooLargeMessage(what, limit, size), 'PayloadTooLarge');
}

function assertCloneable(value: unknown, what: string): void {
  try {
    structuredClone(value);
  } catch (error) {
    throw new InvalidArgumentError(
      `${what} is not structured-cloneable (${(error as Error).message ?? error})`,
    );
  }
}

export function describeExecution(exec: ExecutionRecord): WorkflowDescription {
  return {
    workflowId: exec.workflowId,
    runId: exec.runId,
    type: exec.workflowType,
    taskQueue: exec.taskQueue,
    status: exec.status,
    startTime: new Date(exec.startTime),
    historyLength: exec.nextEventId - 1,
    firstExecutionRunId: exec.firstExecutionRunId,
    ...(exec.closeTime !== undefined && { closeTime: new Date(exec.closeTime) }),
    ...(exec.parentWorkflowId !== undefined &&
      exec.parentRunId !== undefined && {
        parent: { workflowId: exec.parentWorkflowId, runId: exec.parentRunId },
      }),
    ...(exec.blocked !== undefined && {
      blocked: { reason: exec.blocked.reason, since: new Date(exec.blocked.since) },
    }),
    ...defined({
      root: exec.root,
      parentClosePolicy: exec.parentClosePolicy,
      memo: exec.memo,
    }),
  };
}

function outcomeOf(exec: ExecutionRecord, closing: HistoryEvent | undefined): WorkflowOutcome {
  const runId = exec.runId;
  switch (closing?.eventType) {
    case 'WorkflowExecutionCompleted':
      return { status: 'COMPLETED', runId, result: closing.attributes.result };
    case 'WorkflowExecutionFailed':
      return {
        status: 'FAILED',
        runId,
        failure: closing.attributes.failure,
        retryState: closing.attributes.retryState,
      };
    case 'WorkflowExecutionCanceled':
      return {
        status: 'CANCELED',
        runId,
        failure: {
          name: 'CancelledFailure',
          message: 'Workflow canceled',
          ...(closing.attributes.details && { details: closing.attributes.details }),
        },
        retryState: 'RETRY_STATE_NON_RETRYABLE_FAILURE',
      };
    case 'WorkflowExecutionTerminated':
      return {
        status: 'TERMINATED',
        runId,
        failure: { name: 'TerminatedFailure', message: closing.attributes.reason },
        retryState: 'RETRY_STATE_NON_RETRYABLE_FAILURE',
      };
    case 'WorkflowExecutionTimedOut':
      return {
        status: 'TIMED_OUT',
        runId,
        failure: {
          name: 'TimeoutFailure',
          message: 'Workflow execution timed out',
          timeoutType: 'START_TO_CLOSE',
        },
        retryState: closing.attributes.retryState,
      };
    default:
      throw new Error(`Run ${runId} is ${exec.status} but its last event does not close it`);
  }
}
