import { defined } from '../engine/defined.ts';
import {
  ApplicationFailure,
  failedTaskEvents,
  fromFailureRecord,
  type HistoryEvent,
  InvalidArgumentError,
  msOptional,
  TimeoutFailure,
  toErrorRecord,
  toFailureRecord,
  type WorkflowFunction,
  WorkflowMachine,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
} from '../engine/index.ts';
import { StoreConflictError } from '../store/mirror.ts';
import type { ActivityTaskRecord, ExecutionRecord, Store, StoreTx, TimerRecord } from '../store/types.ts';
import { Context, runWithContext } from './activity.ts';
import type {
  EngineApi,
  Reply,
  WorkflowChange,
  WorkflowDescription,
  WorkflowListFilter,
  WorkflowOutcome,
  WorkflowStartOptions,
} from './api.ts';
import { localBus, type UpdateOutcome, type WakeBus, type WakeNote } from './bus.ts';
import { installDeterminism, randomUint32, realNow } from './determinism.ts';
import { assertPayloadSize, DEFAULT_PAYLOAD_LIMIT, payloadSize, tooLargeMessage } from './payload.ts';
import {
  type ActivityOutcome,
  claimActivity,
  completeActivity,
  completeWorkflowTask,
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
   * Whether another host is still alive (e.g. it holds its Web Lock). Without it, work a host
   * claimed is taken over only once its timeout has passed.
   */
  isHostAlive?: (hostId: string) => Promise<boolean>;
  /** Largest payload (arguments, results, signal data) in bytes (default 2 MiB). */
  payloadLimit?: number;
}

const MAX_TIMEOUT = 2 ** 31 - 1;
type WriteOp<T> = (tx: StoreTx, fx: Effects, ctx: ServiceContext) => Promise<T>;
const TASK_BATCH = 128;
/** Attempts of a client call whose writes another connection's commit made void. */
const CONFLICT_ATTEMPTS = 5;

/**
 * Runs workflows and activities from a store: the task loop, the sticky cache of live
 * workflow instances, durable timers, activity execution, and the flat API of plain data
 * that clients call. Runtime-neutral: the same host runs in a Web Worker, a service worker,
 * Node or an edge runtime.
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
  #unsubscribe: (() => void) | undefined;
  #unsubscribeReload: (() => void) | undefined;
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
    this.#timers = new TimerQueue(
      (t) => `${t.runId}/${t.key}`,
      (due) => this.#onTimersDue(due),
      realNow,
    );
  }

  #serves(taskQueue: string): boolean {
    return this.taskQueues.includes(taskQueue);
  }

  #context(): ServiceContext {
    return {
      now: realNow(),
      hostId: this.hostId,
      newRunId: () => crypto.randomUUID(),
      newSeed: randomUint32,
      historyLimit: this.#options.historyLimit ?? 50_000,
      claimQueues: this.taskQueues,
    };
  }

  /** Loads pending work from the store: workflow tasks, activities, timers. */
  async start(): Promise<void> {
    await this.#scan();
    this.#unsubscribe = this.#bus.subscribe((note) => {
      if (note.from === this.hostId) return;
      // Another host wrote: catch up with the database before acting on what it says.
      this.#store
        .refresh()
        .then(() => (note.rescan ? this.#lookAgain() : this.#applyNote(note)))
        .catch((error: unknown) => console.error('weft: catching up with another host failed', error));
    });
    this.#unsubscribeReload = this.#store.onReload(() => {
      // Writes this host acted on were lost: nothing cached can be trusted; look again. Whoever
      // waits for a run to change looks again too (what woke them may be gone, or be news).
      this.#cache.clear();
      this.#blocked.clear();
      this.#lookAgain().catch((error: unknown) => console.error('weft: rescanning the store failed', error));
    });
    this.#kick();
  }

  /**
   * After news of unknown extent (a reload, a new host on the bus): whoever waits for a run to
   * change looks again, and the work waiting in the store is picked up again.
   */
  #lookAgain(): Promise<void> {
    for (const waiters of [this.#resultWaiters, this.#changeWaiters]) {
      const woken = [...waiters.values()].flat();
      waiters.clear();
      for (const wake of woken) wake();
    }
    return this.#scan();
  }

  /** Picks up the work waiting in the store: workflow tasks, activities, timers. */
  async #scan(): Promise<void> {
    const { tasks, activities, timers } = await this.#store.read(async (tx) => ({
      tasks: await tx.workflowTasks.list(),
      activities: await tx.activityTasks.list(),
      timers: await tx.timers.list(),
    }));
    for (const task of tasks) if (this.#serves(task.taskQueue)) this.#ready.add(task.runId);
    for (const activity of activities) if (this.#serves(activity.taskQueue)) this.#enqueueActivity(activity);
    for (const timer of timers) if (this.#serves(timer.taskQueue)) this.#timers.add(timer, timer.fireAt);
    this.#kick();
  }

  /** Stops timers and activities; the store keeps everything for the next host. */
  async shutdown(): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe?.();
    this.#unsubscribeReload?.();
    this.#timers.clear();
    for (const { controller } of this.#runningActivities.values())
      controller.abort(new Error('Host shut down'));
    await this.#draining;
    await this.#writeFlush;
    // What this host wrote reaches the database before it says it has stopped.
    await this.#store.flushed().catch((error: unknown) => console.error('weft: final flush failed', error));
  }

  // ---- writes -----------------------------------------------------------------------------

  /** Runs one operation in its own transaction and applies its effects. */
  async #write<T>(
    op: (tx: StoreTx, fx: Effects, ctx: ServiceContext) => Promise<T>,
    updates?: UpdateOutcome[],
    durable = false,
  ): Promise<T> {
    const fx = newEffects();
    const ctx = this.#context();
    const value = await this.#store.write((tx) => op(tx, fx, ctx), { durable });
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
  #clientWrite<T>(op: WriteOp<T>): Promise<T> {
    return this.#enqueueWrite(op, true);
  }

  async #flushWrites(): Promise<void> {
    while (this.#writeQueue.length > 0) {
      const batch = this.#writeQueue;
      this.#writeQueue = [];
      const durable = batch.some((item) => item.durable);
      try {
        const values = await this.#write(
          async (tx, fx, ctx) => {
            const out: unknown[] = [];
            for (const item of batch) out.push(await item.op(tx, fx, ctx));
            return out;
          },
          undefined,
          durable,
        );
        for (const [i, item] of batch.entries()) item.resolve(values[i]);
      } catch {
        for (const item of batch) {
          for (let attempt = 1; ; attempt++) {
            try {
              item.resolve(await this.#write(item.op, undefined, item.durable));
              break;
            } catch (error) {
              // Lost to another connection's commit, not refused: the store reloaded; redo it.
              if (error instanceof StoreConflictError && attempt < CONFLICT_ATTEMPTS) continue;
              item.reject(error);
              break;
            }
          }
        }
      }
    }
    this.#writeFlush = undefined;
  }

  /** After a commit: act on what it made ready here, and tell the other hosts. */
  #applyEffects(fx: Effects, updates: UpdateOutcome[] = []): void {
    for (const [runId, events] of fx.appended) {
      for (const event of events) {
        if (event.eventType !== 'WorkflowExecutionUpdateCompleted') continue;
        const outcome = event.attributes.outcome;
        updates.push({
          updateId: event.attributes.protocolInstanceId,
          ...('success' in outcome ? { success: outcome.success } : { failure: outcome.failure }),
        });
      }
      void runId;
    }
    const note: WakeNote = {
      from: this.hostId,
      workflowTasks: [...fx.workflowTasks],
      activities: fx.activities,
      timers: fx.timers,
      cancelledTimers: fx.cancelledTimers,
      abortActivities: fx.abortActivities,
      changes: [...fx.changed.values()].map(changeOf),
      updates,
    };
    this.#applyNote(note, false);
    const { workflowTasks, activities, timers, cancelledTimers, abortActivities, changes } = note;
    if (
      workflowTasks.length +
        activities.length +
        timers.length +
        cancelledTimers.length +
        abortActivities.length +
        changes.length +
        updates.length ===
      0
    ) {
      return;
    }
    // Other hosts read the database, and watchers may tell a user: both wait for durability.
    // Notes made while a flush is pending travel together, once it is durable.
    // (The store hands out one promise per flush: equal promises, same flush.)
    const durable = this.#store.flushed({ lazy: true });
    if (this.#outgoing?.durable === durable) {
      mergeNote(this.#outgoing.note, note);
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
        if (note.changes.length > 0 && !this.#stopped) {
          for (const listener of this.#watchers.values()) safeCall(() => listener(note.changes));
        }
        this.#bus.publish(note);
      },
      // Lost: the store reloaded, and the rescan finds whatever is still to do.
      done,
    );
  }

  /** Acts on a wake note, from this host's own commit or another host's. */
  #applyNote(note: WakeNote, notifyWatchers = true): void {
    if (this.#stopped) return;
    for (const [runId, taskQueue] of note.workflowTasks) {
      if (!this.#serves(taskQueue)) continue;
      this.#blocked.delete(runId);
      this.#ready.add(runId);
    }
    for (const record of note.activities) if (this.#serves(record.taskQueue)) this.#enqueueActivity(record);
    for (const [runId, seq] of note.abortActivities) {
      this.#runningActivities.get(`${runId}/${seq}`)?.controller.abort(new Error('Activity cancelled'));
      // Claimed here but not started yet: it never runs, and is recorded as cancelled.
      const pending = this.#pendingActivities.get(`${runId}/${seq}`);
      this.#pendingActivities.delete(`${runId}/${seq}`);
      if (pending) {
        this.#enqueueWrite((tx, fx, ctx) =>
          completeActivity(tx, runId, seq, pending.attempt, { cancelled: true }, ctx, fx),
        ).catch((error: unknown) => console.error('weft: recording a cancelled activity failed', error));
      }
    }
    for (const [runId, key] of note.cancelledTimers) this.#timers.remove(`${runId}/${key}`);
    for (const record of note.timers)
      if (this.#serves(record.taskQueue)) this.#timers.add(record, record.fireAt);
    for (const update of note.updates) {
      const waiter = this.#updateWaiters.get(update.updateId);
      if (!waiter) continue;
      this.#updateWaiters.delete(update.updateId);
      if ('success' in update) waiter.resolve(update.success);
      else {
        waiter.reject(
          new WorkflowUpdateFailedError(
            update.rejected ? 'Workflow update rejected' : 'Workflow update failed',
            update.failure && fromFailureRecord(update.failure),
          ),
        );
      }
    }
    for (const change of note.changes) {
      const changed = this.#changeWaiters.get(change.runId);
      this.#changeWaiters.delete(change.runId);
      for (const wake of changed ?? []) wake();
      if (
        note.from !== this.hostId &&
        this.#cache.get(change.runId)?.nextEventId !== change.historyLength + 1
      ) {
        // Another host advanced this run: the cached instance is behind.
        this.#cache.delete(change.runId);
      }
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
    if (notifyWatchers && note.changes.length > 0) {
      for (const listener of this.#watchers.values()) safeCall(() => listener(note.changes));
    }
    this.#kick();
  }

  // ---- workflow tasks ---------------------------------------------------------------------

  #kick(): void {
    if (this.#stopped || this.#draining || this.#ready.size === 0) return;
    this.#draining = this.#drain().finally(() => {
      this.#draining = undefined;
      this.#kick();
    });
  }

  async #drain(): Promise<void> {
    while (!this.#stopped && this.#ready.size > 0) {
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
    const loaded = await this.#store.read(async (tx) => {
      const runs = await Promise.all(
        batch.map(async (runId) => {
          const [exec, inbox] = await Promise.all([tx.executions.get(runId), tx.inbox.list(runId)]);
          if (exec?.status !== 'RUNNING') return undefined;
          // Taken out of the cache now: running an earlier run of the batch may evict it.
          const cached = this.#takeCached(exec);
          const history = cached ? undefined : await tx.history.read(runId);
          return { exec, inbox, cached, history };
        }),
      );
      return runs.filter((run) => run !== undefined);
    });
    // Start activations on an empty microtask queue: no activity continuation can then
    // run between a workflow's microtasks and see the workflow's clock.
    await nextMacrotask();
    const commits: TaskCommit[] = [];
    const failures: { runId: string; expected: number; events: HistoryEvent[] }[] = [];
    for (const { exec, inbox, cached, history } of loaded) {
      const time = realNow();
      try {
        const machine = cached ?? (await WorkflowMachine.replay(this.#machineInit(exec), history ?? []));
        const result = await machine.runTask(inbox, time, { newRunId: () => crypto.randomUUID() });
        for (const { command } of result.commands)
          assertPayloadSize(command, this.#payloadLimit, `${command.type} payload`);
        commits.push({
          runId: exec.runId,
          expectedNextEventId: exec.nextEventId,
          consumedInbox: inbox.map((m) => m.id),
          result,
        });
        this.#remember(exec.runId, machine);
      } catch (error) {
        this.#cache.delete(exec.runId);
        failures.push({
          runId: exec.runId,
          expected: exec.nextEventId,
          events: failedTaskEvents(exec.nextEventId, time, exec.taskQueue, this.hostId, error),
        });
      }
    }
    if (commits.length === 0 && failures.length === 0) return;
    const rejections: UpdateOutcome[] = [];
    try {
      await this.#write(async (tx, fx, ctx) => {
        for (const commit of commits) {
          const ok = await completeWorkflowTask(tx, commit, ctx, fx);
          if (!ok) this.#cache.delete(commit.runId);
          else {
            for (const { command } of commit.result.commands) {
              if (command.type === 'RejectUpdate') {
                rejections.push({ updateId: command.updateId, failure: command.failure, rejected: true });
              }
            }
          }
        }
        for (const f of failures) {
          if (await failWorkflowTask(tx, f.runId, f.expected, f.events, ctx, fx)) this.#blocked.add(f.runId);
        }
      }, rejections);
    } catch (error) {
      // Nothing was written: the cached instances are ahead of the store.
      for (const commit of commits) {
        this.#cache.delete(commit.runId);
        this.#ready.add(commit.runId);
      }
      console.error('weft: committing workflow tasks failed; they will be retried', error);
      return;
    }
    for (const f of failures) this.#ready.delete(f.runId);
  }

  /** The cached instance of a run if it is at the run's current event, removed from the cache. */
  #takeCached(exec: ExecutionRecord): WorkflowMachine | undefined {
    const cached = this.#cache.get(exec.runId);
    this.#cache.delete(exec.runId);
    return cached && cached.nextEventId === exec.nextEventId ? cached : undefined;
  }

  #remember(runId: string, machine: WorkflowMachine): void {
    if (machine.closed) return;
    this.#cache.set(runId, machine);
    const max = this.#options.maxCachedWorkflows ?? 1_000;
    while (this.#cache.size > max) {
      const oldest = this.#cache.keys().next().value;
      if (oldest === undefined) break;
      this.#cache.delete(oldest);
    }
  }

  /** What every run's machine gets from this host, built once. */
  readonly #machineBase = {
    workflowTypeOf: (fn: Function) => this.#workflowTypes.get(fn),
    resolveWorkflow: (type: string) => this.#workflows.get(type),
  };

  #machineInit(exec: ExecutionRecord) {
    return {
      ...this.#machineBase,
      ...defined({
        maxPendingChildren: this.#options.maxPendingChildren,
        suggestContinueAsNewAt: this.#options.suggestContinueAsNewAt,
      }),
      workflowId: exec.workflowId,
      runId: exec.runId,
      identity: this.hostId,
    };
  }

  // ---- timers -------------------------------------------------------------------------------

  #onTimersDue(due: TimerRecord[]): void {
    for (const timer of due) {
      this.#enqueueWrite((tx, fx, ctx) => fireTimer(tx, timer, ctx, fx)).catch((error: unknown) => {
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
      const controller = new AbortController();
      const running = { attempt: task.attempt, controller };
      this.#runningActivities.set(key, running);
      void this.#runActivity(task, controller)
        .catch((error: unknown) => {
          // The task is still in the store: the next host start runs it again (at least once).
          console.error(`weft: recording activity ${task.activityType} failed`, error);
        })
        .finally(() => {
          if (this.#runningActivities.get(key) === running) this.#runningActivities.delete(key);
          this.#activeActivityCount--;
          this.#pumpActivities();
        });
    }
  }

  async #runActivity(task: ActivityTaskRecord, controller: AbortController): Promise<void> {
    // Claimed already by the commit that scheduled it on this host: no claim of its own.
    const claim =
      task.owner === this.hostId
        ? { task }
        : await this.#enqueueWrite((tx, _fx, ctx) =>
            claimActivity(tx, task.runId, task.seq, task.attempt, ctx),
          );
    if (!claim || this.#stopped) return;
    if ('retryAt' in claim) {
      const alive = (await this.#options.isHostAlive?.(claim.owner)) ?? true;
      if (alive) {
        this.#enqueueActivity({ ...task, notBefore: claim.retryAt });
        return;
      }
      // Its host is gone (a closed tab, a killed worker): take the attempt over now.
      const taken = await this.#enqueueWrite((tx, _fx, ctx) =>
        claimActivity(tx, task.runId, task.seq, task.attempt, { ...ctx, deadHosts: new Set([claim.owner]) }),
      );
      if (!taken || 'retryAt' in taken || this.#stopped) return;
      return this.#finishActivity(task, taken.task, controller);
    }
    return this.#finishActivity(task, claim.task, controller);
  }

  async #finishActivity(
    task: ActivityTaskRecord,
    claimed: ActivityTaskRecord,
    controller: AbortController,
  ): Promise<void> {
    const outcome = await this.#executeActivity(claimed, controller);
    if (this.#stopped) return;
    const retry = await this.#enqueueWrite((tx, fx, ctx) =>
      completeActivity(tx, task.runId, task.seq, task.attempt, outcome, ctx, fx),
    );
    if (retry) this.#enqueueActivity(retry);
  }

  async #executeActivity(task: ActivityTaskRecord, controller: AbortController): Promise<ActivityOutcome> {
    const fn = this.#activities.get(task.activityType);
    if (!fn) {
      return {
        failed: toFailureRecord(
          ApplicationFailure.nonRetryable(
            `Activity type '${task.activityType}' is not registered in this worker (known: ${[...this.#activities.keys()].join(', ') || 'none'})`,
            'NotFoundError',
          ),
        ),
      };
    }
    const now = realNow();
    const deadlines: [number, 'START_TO_CLOSE' | 'SCHEDULE_TO_CLOSE'][] = [];
    if (task.startToCloseTimeout !== undefined)
      deadlines.push([now + task.startToCloseTimeout, 'START_TO_CLOSE']);
    if (task.scheduleToCloseTimeout !== undefined) {
      deadlines.push([task.scheduledTime + task.scheduleToCloseTimeout, 'SCHEDULE_TO_CLOSE']);
    }
    deadlines.sort((a, b) => a[0] - b[0]);
    const first = deadlines[0];
    let timeoutHandle: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<ActivityOutcome>((resolve) => {
      if (!first) return;
      timeoutHandle = setTimeout(
        () => {
          const failure = new TimeoutFailure(
            `Activity ${first[1].toLowerCase().replace(/_/g, '-')} timeout`,
            undefined,
            first[1],
          );
          controller.abort(failure);
          resolve({ timedOut: toFailureRecord(failure) });
        },
        Math.min(Math.max(0, first[0] - now), MAX_TIMEOUT),
      );
    });
    const cancelled = new Promise<ActivityOutcome>((resolve) => {
      controller.signal.addEventListener('abort', () => {
        if (!(controller.signal.reason instanceof TimeoutFailure)) resolve({ cancelled: true });
      });
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
        ...(task.startToCloseTimeout !== undefined && { startToCloseTimeoutMs: task.startToCloseTimeout }),
        ...(task.scheduleToCloseTimeout !== undefined && {
          scheduleToCloseTimeoutMs: task.scheduleToCloseTimeout,
        }),
      },
      controller.signal,
    );
    const run = (async (): Promise<ActivityOutcome> => {
      try {
        const result = await runWithContext(context, () => fn(...task.input));
        const unstorable = unstorableResult(result, this.#payloadLimit, task.activityType);
        return unstorable ? { failed: toFailureRecord(unstorable) } : { completed: result };
      } catch (error) {
        return { failed: toFailureRecord(error) };
      }
    })();
    try {
      return await Promise.race([run, timedOut, cancelled]);
    } finally {
      clearTimeout(timeoutHandle);
    }
  }

  // ---- the client API --------------------------------------------------------------------------

  async startWorkflow(
    workflowType: string,
    options: WorkflowStartOptions,
  ): Promise<{ workflowId: string; runId: string }> {
    if (typeof workflowType !== 'string' || !this.#workflows.has(workflowType)) {
      throw new InvalidArgumentError(
        `Unknown workflow type '${String(workflowType)}' (registered: ${[...this.#workflows.keys()].join(', ') || 'none'})`,
      );
    }
    if (typeof options?.workflowId !== 'string' || options.workflowId === '') {
      throw new InvalidArgumentError('start needs options.workflowId (a non-empty string)');
    }
    const args = options.args ?? [];
    if (!Array.isArray(args)) throw new InvalidArgumentError('options.args must be an array');
    // Plain data always clones: only values with more in them are cloned to check.
    if (assertPayloadSize(args, this.#payloadLimit, 'Workflow arguments'))
      assertCloneable(args, 'Workflow arguments');
    if (options.memo !== undefined) assertCloneable(options.memo, 'Memo');
    const workflowExecutionTimeout = msOptional(options.workflowExecutionTimeout);
    const workflowRunTimeout = msOptional(options.workflowRunTimeout);
    const workflowTaskTimeout = msOptional(options.workflowTaskTimeout);
    const { runId } = await this.#clientWrite((tx, fx, ctx) =>
      startWorkflow(
        tx,
        {
          workflowType,
          workflowId: options.workflowId,
          taskQueue: options.taskQueue ?? this.taskQueues[0] ?? 'default',
          args,
          identity: this.hostId,
          ...defined({
            workflowIdReusePolicy: options.workflowIdReusePolicy,
            workflowIdConflictPolicy: options.workflowIdConflictPolicy,
            workflowExecutionTimeout,
            workflowRunTimeout,
            workflowTaskTimeout,
            retry: options.retry,
            memo: options.memo,
          }),
        },
        ctx,
        fx,
      ),
    );
    return { workflowId: options.workflowId, runId };
  }

  async signal(
    workflowId: string,
    runId: string | undefined,
    signalName: string,
    args: unknown[],
  ): Promise<void> {
    if (assertPayloadSize(args, this.#payloadLimit, 'Signal arguments'))
      assertCloneable(args, 'Signal arguments');
    await this.#clientWrite((tx, fx, ctx) =>
      signalWorkflow(
        tx,
        { workflowId, ...(runId !== undefined && { runId }) },
        signalName,
        args,
        ctx,
        fx,
        'client',
      ),
    );
  }

  async cancel(workflowId: string, runId: string | undefined, reason?: string): Promise<void> {
    await this.#clientWrite((tx, fx, ctx) =>
      requestCancelWorkflow(tx, { workflowId, ...(runId !== undefined && { runId }) }, ctx, fx, reason),
    );
  }

  async terminate(workflowId: string, runId: string | undefined, reason?: string): Promise<void> {
    await this.#clientWrite((tx, fx, ctx) =>
      terminateWorkflow(
        tx,
        { workflowId, ...(runId !== undefined && { runId }) },
        reason ?? 'Terminated by client',
        ctx,
        fx,
      ),
    );
  }

  async update(
    workflowId: string,
    runId: string | undefined,
    name: string,
    args: unknown[],
  ): Promise<unknown> {
    if (assertPayloadSize(args, this.#payloadLimit, 'Update arguments'))
      assertCloneable(args, 'Update arguments');
    const updateId = crypto.randomUUID();
    let settle!: { resolve(v: unknown): void; reject(e: unknown): void };
    const done = new Promise<unknown>((resolve, reject) => {
      settle = { resolve, reject };
    });
    const targetRun = await this.#clientWrite((tx, fx, ctx) =>
      requestUpdate(
        tx,
        { workflowId, ...(runId !== undefined && { runId }) },
        { updateId, name, input: args },
        ctx,
        fx,
      ),
    );
    this.#updateWaiters.set(updateId, { ...settle, runId: targetRun });
    return done;
  }

  async query(
    workflowId: string,
    runId: string | undefined,
    name: string,
    args: unknown[],
  ): Promise<unknown> {
    const read = () =>
      this.#store.read(async (tx) => {
        const exec = await findRun(tx, workflowId, runId);
        if (!exec)
          throw new WorkflowNotFoundError(
            `Cannot query: no workflow execution '${workflowId}'`,
            workflowId,
            runId,
          );
        const cached = this.#cache.get(exec.runId);
        const current = cached && cached.nextEventId === exec.nextEventId ? cached : undefined;
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
    }
    // A query never changes state: an instance rebuilt for it is not cached.
    const machine = current ?? (await WorkflowMachine.replay(this.#machineInit(exec), history ?? []));
    if (!machine.runtime)
      throw new InvalidArgumentError(`Workflow '${workflowId}' has not started running yet`);
    const answer = await machine.runtime.query(name, args);
    // The answer travels back by postMessage: refuse what it cannot carry, clearly, here.
    try {
      structuredClone(answer);
    } catch (error) {
      throw new InvalidArgumentError(
        `The answer of query '${name}' cannot be sent: it is not structured-cloneable (${(error as Error).message})`,
      );
    }
    return answer;
  }

  /** Resolves at the next change of a run this host learns of (its own commit or a note). */
  #nextChange(runId: string): Promise<void> {
    return new Promise((resolve) => {
      const list = this.#changeWaiters.get(runId) ?? [];
      list.push(resolve);
      this.#changeWaiters.set(runId, list);
    });
  }

  async describe(workflowId: string, runId: string | undefined): Promise<WorkflowDescription> {
    const exec = await this.#store.read((tx) => findRun(tx, workflowId, runId));
    if (!exec) throw new WorkflowNotFoundError(`No workflow execution '${workflowId}'`, workflowId, runId);
    return describeExecution(exec);
  }

  async history(workflowId: string, runId: string | undefined): Promise<HistoryEvent[]> {
    return this.#store.read(async (tx) => {
      const exec = await findRun(tx, workflowId, runId);
      if (!exec) throw new WorkflowNotFoundError(`No workflow execution '${workflowId}'`, workflowId, runId);
      return tx.history.read(exec.runId);
    });
  }

  async list(filter: WorkflowListFilter): Promise<WorkflowDescription[]> {
    const records = await this.#store.read((tx) => tx.executions.list(filter ?? {}));
    return records.map(describeExecution);
  }

  /** Waits for the run to close, following continue-as-new and retries to the last run. */
  async result(workflowId: string, runId: string | undefined): Promise<WorkflowOutcome> {
    let exec = await this.#store.read((tx) => findRun(tx, workflowId, runId));
    if (!exec) throw new WorkflowNotFoundError(`No workflow execution '${workflowId}'`, workflowId, runId);
    for (;;) {
      if (exec.status === 'RUNNING') {
        const runIdToWait = exec.runId;
        // Registered before reading again, so a close in between is not missed.
        const closed = new Promise<void>((resolve) => {
          const list = this.#resultWaiters.get(runIdToWait) ?? [];
          list.push(resolve);
          this.#resultWaiters.set(runIdToWait, list);
        });
        const now = await this.#store.read((tx) => tx.executions.get(runIdToWait));
        if (now?.status === 'RUNNING') await closed;
      } else if (exec.nextRunId !== undefined) {
        const next: string = exec.nextRunId;
        exec = await this.#store.read((tx): Promise<ExecutionRecord | undefined> => tx.executions.get(next));
        if (!exec)
          throw new WorkflowNotFoundError(`Run ${next} of '${workflowId}' is missing`, workflowId, next);
        continue;
      } else {
        return outcomeOf(exec, await this.#closingEvent(exec));
      }
      const current: string = exec.runId;
      exec = await this.#store.read((tx) => tx.executions.get(current));
      if (!exec) throw new WorkflowNotFoundError(`Run ${current} disappeared`, workflowId, current);
    }
  }

  async #closingEvent(exec: ExecutionRecord): Promise<HistoryEvent | undefined> {
    const events = await this.#store.read((tx) => tx.history.read(exec.runId, exec.nextEventId - 1));
    return events[events.length - 1];
  }

  watch(listener: (changes: WorkflowChange[]) => void): number {
    const id = this.#nextWatcherId++;
    this.#watchers.set(id, listener);
    return id;
  }

  unwatch(id: number): void {
    this.#watchers.delete(id);
  }

  /** The flat API with errors as records, for Comlink or an in-process client. */
  api(): EngineApi {
    const reply = async <T>(fn: () => Promise<T>): Promise<Reply<T>> => {
      try {
        return { ok: await fn() };
      } catch (error) {
        return { error: toErrorRecord(error) };
      }
    };
    // A read may see writes not yet durable: it answers once they are, so a client is never
    // told of a state a crash could take back. If they were lost instead, it reads again.
    const read = <T>(fn: () => Promise<T>): Promise<Reply<T>> =>
      reply(async () => {
        for (let attempt = 1; ; attempt++) {
          const value = await fn();
          try {
            await this.#store.flushed();
            return value;
          } catch (error) {
            if (!(error instanceof StoreConflictError) || attempt >= CONFLICT_ATTEMPTS) throw error;
          }
        }
      });
    return {
      start: (type, options) => reply(() => this.startWorkflow(type, options)),
      signal: (w, r, name, args) => reply(() => this.signal(w, r, name, args)),
      query: (w, r, name, args) => read(() => this.query(w, r, name, args)),
      update: (w, r, name, args) => reply(() => this.update(w, r, name, args)),
      cancel: (w, r, reason) => reply(() => this.cancel(w, r, reason)),
      terminate: (w, r, reason) => reply(() => this.terminate(w, r, reason)),
      describe: (w, r) => read(() => this.describe(w, r)),
      history: (w, r) => read(() => this.history(w, r)),
      result: (w, r) => read(() => this.result(w, r)),
      list: (filter) => read(() => this.list(filter)),
      watch: async (listener) => this.watch(listener),
      unwatch: async (id) => this.unwatch(id),
    };
  }
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

function safeCall(fn: () => void): void {
  try {
    fn();
  } catch (error) {
    console.error('weft: a watch listener threw', error);
  }
}

/** Why an activity's result cannot be recorded, as the failure to record instead; or nothing. */
function unstorableResult(
  result: unknown,
  limit: number,
  activityType: string,
): ApplicationFailure | undefined {
  const seen = { exotic: false };
  let size: number;
  try {
    size = payloadSize(result, limit, seen);
    // Plain data always clones: only values with more in them are cloned to check.
    if (seen.exotic) structuredClone(result);
  } catch {
    return ApplicationFailure.nonRetryable(
      `Activity ${activityType} returned a value that cannot be stored (not structured-cloneable)`,
      'DataCloneError',
    );
  }
  if (size <= limit) return undefined;
  return ApplicationFailure.nonRetryable(
    tooLargeMessage(`Activity ${activityType} result`, limit, size),
    'PayloadTooLarge',
  );
}

function assertCloneable(value: unknown, what = 'Workflow task output'): void {
  try {
    structuredClone(value);
  } catch (error) {
    throw new InvalidArgumentError(
      `${what} cannot be stored: it is not structured-cloneable (${error instanceof Error ? error.message : String(error)})`,
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
    ...(exec.root !== undefined && { root: exec.root }),
    ...(exec.blocked !== undefined && {
      blocked: { reason: exec.blocked.reason, since: new Date(exec.blocked.since) },
    }),
    ...defined({
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
      throw new Error(`Run ${runId} is ${exec.status} but its history does not end with a closing event`);
  }
}

/** Appends `more` to `note`: a host reads a note's parts in order, so order is kept. */
function mergeNote(note: WakeNote, more: WakeNote): void {
  note.workflowTasks.push(...more.workflowTasks);
  note.activities.push(...more.activities);
  note.timers.push(...more.timers);
  note.cancelledTimers.push(...more.cancelledTimers);
  note.abortActivities.push(...more.abortActivities);
  note.changes.push(...more.changes);
  note.updates.push(...more.updates);
}
