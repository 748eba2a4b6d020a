import { defined } from '../../engine/defined.ts';
import {
  ApplicationFailure,
  CancelledFailure,
  type FailureRecord,
  fromErrorRecord,
  fromFailureRecord,
  normaliseRetryPolicy,
  TimeoutFailure,
  type TimeoutType,
  toFailureRecord,
} from '../../engine/index.ts';
import { copy } from '../../store/copy.ts';
import { LeaseLostError } from '../../store/errors.ts';
import type { ActivityTaskRecord } from '../../store/types.ts';
import { Context, runWithContext } from '../activity.ts';
import { type ActivityOutcome, claimActivity, completeActivity, recordHeartbeat } from '../service.ts';
import { Heartbeats } from './heartbeats.ts';
import type { HostParts } from './parts.ts';
import { assertStorable, unstorable } from './support.ts';

/** An attempt running here (for this host, or for the leader). */
interface Running {
  attempt: number;
  controller: AbortController;
  /** Takes a heartbeat of the attempt (on the leader: one an executor sent for it). */
  beat?: (details: unknown) => void;
}

/** What an executor's heartbeat tells the leader; the answer says why to stop, if it should. */
interface HeartbeatNote {
  key: string;
  attempt: number;
  details: unknown;
}

/** What the leader sends an executor to stop an attempt: its key, and the abort's reason. */
interface AbortNote {
  key: string;
  reason: FailureRecord;
}

/**
 * The activity runner: attempts wait for a slot (at most `maxConcurrentActivities` at once),
 * are claimed, run here or on the least busy host that serves their queue, within their
 * timeouts (start-to-close, schedule-to-close, heartbeat), and are cancelled when their run no
 * longer wants them.
 *
 * Cancellation reaches an attempt at once: the leader aborts its signal when the request
 * commits (an executor running it gets an `abort` call). As in Temporal, where cancellation
 * travels with heartbeat responses, a heartbeat also answers: an executor whose attempt the
 * leader no longer runs (cancelled, timed out, or unknown to a new leader) aborts it then.
 */
export class Activities {
  /** Running attempts by `runId/seq`: a retry may start while its previous attempt winds down. */
  readonly #running = new Map<string, Running>();
  /** Waiting for a slot, by `runId/seq`, in arrival order (a Map: no O(n) shift or search). */
  readonly #pending = new Map<string, ActivityTaskRecord>();
  /**
   * Attempts this host claimed while leading now, by `runId/seq`: running them takes no claim.
   * Any other attempt with an owner was lost with its host, and is taken over as the next.
   */
  readonly #claimed = new Map<string, number>();
  /**
   * Attempts queued while the same attempt still ran here, by `runId/seq`: queued again once it
   * ends. (An executor that takes the lead finds in the store the attempt it runs for the
   * leader that died; that run's outcome goes nowhere, so the attempt is taken over after it.)
   */
  readonly #afterRunning = new Map<string, ActivityTaskRecord>();
  #active = 0;
  /** Activities running, by host (this one or an executor). */
  readonly #load = new Map<string, number>();

  constructor(private readonly h: HostParts) {}

  /** Nothing waits, and every running attempt is aborted with `reason`. */
  stopAll(reason: Error): void {
    this.#pending.clear();
    this.#claimed.clear();
    this.#afterRunning.clear();
    for (const { controller } of this.#running.values()) controller.abort(reason);
  }

  /** An attempt the leader sent to this host, which serves its queue. */
  async runForLeader(payload: unknown): Promise<ActivityOutcome | undefined> {
    const task = payload as ActivityTaskRecord;
    const key = `${task.runId}/${task.seq}`;
    const running: Running = { attempt: task.attempt, controller: new AbortController() };
    this.#running.set(key, running);
    try {
      return await this.#execute(task, running, { forLeader: true });
    } finally {
      this.#ended(key, running);
      this.h.settle();
    }
  }

  /** Attempts running here or waiting for a slot. */
  get busy(): number {
    return this.#running.size + this.#pending.size;
  }

  /**
   * Queues an attempt: it runs once its `notBefore` has passed (`due`: the clock said so, even
   * if the wall clock was set back since) and a slot is free.
   * @param claimed the commit that scheduled it claimed it for this host
   */
  enqueue(task: ActivityTaskRecord, { claimed = false, due = false } = {}): void {
    const key = `${task.runId}/${task.seq}`;
    if (claimed) this.#claimed.set(key, task.attempt);
    const delay = task.notBefore - this.h.clock.now();
    if (delay > 0 && !due) {
      this.h.clock.setTimer(() => this.enqueue(task, { due: true }), delay);
      return;
    }
    // A later attempt supersedes an earlier one still waiting.
    if ((this.#pending.get(key)?.attempt ?? 0) <= task.attempt) this.#pending.set(key, task);
    this.#pump();
  }

  #pump(): void {
    const max = this.h.options.maxConcurrentActivities ?? 100;
    for (const [key, task] of this.#pending) {
      if (this.h.stopped || this.#active >= max) break;
      this.#pending.delete(key);
      if ((this.#running.get(key)?.attempt ?? 0) >= task.attempt) {
        this.#afterRunning.set(key, task);
        continue;
      }
      this.#active++;
      const running: Running = { attempt: task.attempt, controller: new AbortController() };
      this.#running.set(key, running);
      void this.#run(task, running)
        .catch((error: unknown) => {
          // The task is still in the store: the next leader runs it again (at least once).
          if (!(error instanceof LeaseLostError))
            console.error(`weft: recording activity ${task.activityType} failed`, error);
          return undefined;
        })
        .then((again) => {
          if (this.#claimed.get(key) === task.attempt) this.#claimed.delete(key);
          this.#ended(key, running);
          this.#active--;
          // Queued once its slot is free, so that it is not taken for the attempt still running.
          if (again) this.enqueue(again);
          this.#pump();
          this.h.settle();
        });
    }
  }

  /** `running` is over: what waited for it is queued (a stale attempt's claim changes nothing). */
  #ended(key: string, running: Running): void {
    if (this.#running.get(key) !== running) return;
    this.#running.delete(key);
    const waiting = this.#afterRunning.get(key);
    this.#afterRunning.delete(key);
    if (waiting && !this.h.stopped) this.enqueue(waiting);
  }

  /** @returns the activity to queue again (a retry, or an attempt whose executor went away). */
  async #run(task: ActivityTaskRecord, running: Running): Promise<ActivityTaskRecord | undefined> {
    const { h } = this;
    // A side effect waits until the lease it runs under is durable.
    if (!(await h.leadership.leaseDurable) || !h.leadership.lease) return;
    // Nobody runs its queue now: it waits in the store for the next host that offers.
    if (this.#runner(task.taskQueue) === undefined) return;
    const key = `${task.runId}/${task.seq}`;
    let claimed = task;
    // Claimed already by the commit that scheduled it on this host: no claim of its own.
    if (this.#claimed.get(key) !== task.attempt) {
      const claim = await h.writes.enqueue((tx, fx, ctx) =>
        claimActivity(tx, task.runId, task.seq, task.attempt, ctx, fx),
      );
      if (!claim) return;
      // Its previous attempt was lost with its host: this is the next one, perhaps after a backoff.
      if ('retry' in claim) return claim.retry;
      claimed = claim.run;
      this.#claimed.set(key, claimed.attempt);
    }
    // An activity with a bounded number of attempts counts each exactly: the attempt starts
    // once its claim is durable, so a crash cannot make it run again under the same number.
    // (Unbounded ones start at once: a crash in the few ms before the claim reaches the disk
    // runs the attempt again under its number, with whatever else was lost then.)
    if (normaliseRetryPolicy(claimed.retryPolicy).maximumAttempts > 0) {
      const durable = await h.store.flushed().then(
        () => true,
        () => false,
      );
      // Lost: the store reloaded, and its rescan finds the task as the store has it.
      if (!durable || !h.leadership.lease) return;
    }
    if (h.stopped) return;
    // Activities spread over every host that runs their queue: the least busy takes the next.
    const runner = this.#runner(task.taskQueue);
    // The executor went away meanwhile: the claimed attempt is lost, and the next one follows.
    if (runner === undefined) return h.leadership.lease && claimed;
    this.#load.set(runner, (this.#load.get(runner) ?? 0) + 1);
    let outcome: ActivityOutcome | undefined;
    try {
      outcome = await this.#execute(claimed, running, runner === h.hostId ? {} : { executor: runner });
    } finally {
      this.#load.set(runner, (this.#load.get(runner) ?? 1) - 1);
    }
    // The executor went away: the attempt is lost, and the next one follows (at least once).
    if (!outcome) return h.leadership.lease && claimed;
    if (h.stopped) return;
    return h.writes.enqueue((tx, fx, ctx) =>
      completeActivity(tx, task.runId, task.seq, task.attempt, outcome, ctx, fx),
    );
  }

  /** The least busy host that runs `taskQueue` (this one included), preferring those that answer. */
  #runner(taskQueue: string): string | undefined {
    const { h } = this;
    let runner: string | undefined;
    let best = Infinity;
    for (const [hostId, queues] of [[h.hostId, h.taskQueues] as const, ...h.peers.executors]) {
      if (!queues.includes(taskQueue)) continue;
      // A host that let a workflow task time out comes after every other.
      const load = (this.#load.get(hostId) ?? 0) + (h.peers.responsive(hostId) ? 0 : 1e9);
      if (load < best) [runner, best] = [hostId, load];
    }
    return runner;
  }

  /**
   * Runs an attempt here, on `executor`, or here for the leader, within its timeouts (a frozen
   * executor never answers: the attempt still times out here). Its heartbeats are stored (by
   * the leader) or sent to the leader (by an executor), throttled, and the last of them goes
   * with the outcome, for a retry to start from.
   * @returns the outcome; undefined if the executor went away.
   */
  async #execute(
    task: ActivityTaskRecord,
    running: Running,
    where: { executor?: string; forLeader?: boolean },
  ): Promise<ActivityOutcome | undefined> {
    const { h } = this;
    const { controller } = running;
    const key = `${task.runId}/${task.seq}`;
    const now = h.clock.now();
    const { startToCloseTimeout: startToClose, scheduleToCloseTimeout: scheduleToClose } = task;
    // The earlier deadline applies; on a tie, start-to-close. (No timeout: an Infinity deadline.)
    const startDeadline = now + (startToClose ?? Infinity);
    const scheduleDeadline = task.scheduledTime + (scheduleToClose ?? Infinity);
    const bySchedule = scheduleDeadline < startDeadline;
    const deadline = bySchedule ? scheduleDeadline : startDeadline;
    let settle!: (outcome: ActivityOutcome | undefined) => void;
    // Settles when the attempt is cancelled, or when it times out (which aborts it too). Aborted
    // for another reason (this host lost the lease, or stops), it has no outcome: it is not
    // cancelled (a host that leads again at once would record it so), it runs again.
    const stopped = new Promise<ActivityOutcome | undefined>((resolve) => {
      settle = resolve;
    });
    const heartbeats = new Heartbeats(
      h.clock,
      task.heartbeatTimeout,
      () => timeOut('HEARTBEAT', 'Activity heartbeat timeout'),
      where.forLeader
        ? (details) => this.#sendHeartbeat(key, task.attempt, details, controller)
        : (details) =>
            void h.writes
              .enqueue((tx) => recordHeartbeat(tx, task.runId, task.seq, task.attempt, details))
              .catch(() => undefined),
    );
    // Only the leader's side of an executor's attempt takes heartbeats from another host: one
    // sent to this host for an attempt it runs itself (an executor that now leads, say) would
    // keep an orphaned attempt alive for ever.
    if (where.executor) running.beat = (details) => heartbeats.beat(details);
    const withBeat = (outcome: ActivityOutcome): ActivityOutcome =>
      heartbeats.last && !outcome.heartbeat ? { ...outcome, heartbeat: heartbeats.last } : outcome;
    const timeOut = (type: TimeoutType, message: string): void => {
      const failure = new TimeoutFailure(message, heartbeats.last?.details ?? task.heartbeatDetails, type);
      settle(withBeat({ timedOut: toFailureRecord(failure) }));
      controller.abort(failure);
    };
    controller.signal.addEventListener(
      'abort',
      () => {
        const reason: unknown = controller.signal.reason;
        // A timeout here settled already; one the leader sends an executor settles it there.
        settle(
          reason instanceof TimeoutFailure
            ? withBeat({ timedOut: toFailureRecord(reason) })
            : reason instanceof CancelledFailure
              ? { cancelled: true }
              : undefined,
        );
      },
      { once: true },
    );
    const cancelTimeout =
      deadline === Infinity
        ? undefined
        : h.clock.setTimer(
            () =>
              timeOut(
                bySchedule ? 'SCHEDULE_TO_CLOSE' : 'START_TO_CLOSE',
                `Activity ${bySchedule ? 'schedule' : 'start'}-to-close timeout`,
              ),
            deadline - now,
          );
    const run = where.executor
      ? this.#onExecutor(task, controller, where.executor)
      : this.#here(task, controller, heartbeats);
    try {
      const outcome = await Promise.race([run, stopped]);
      return outcome && withBeat(outcome);
    } finally {
      cancelTimeout?.();
      heartbeats.stop();
    }
  }

  /** Runs the activity function in this host, its context current. */
  async #here(
    task: ActivityTaskRecord,
    controller: AbortController,
    heartbeats: Heartbeats,
  ): Promise<ActivityOutcome> {
    const { h } = this;
    const context = new Context(
      {
        activityId: String(task.seq),
        activityType: task.activityType,
        attempt: task.attempt,
        workflowExecution: { workflowId: task.workflowId, runId: task.runId },
        workflowType: task.workflowType,
        taskQueue: task.taskQueue,
        scheduledTimestampMs: task.scheduledTime,
        ...defined({
          startToCloseTimeoutMs: task.startToCloseTimeout,
          scheduleToCloseTimeoutMs: task.scheduleToCloseTimeout,
          heartbeatTimeoutMs: task.heartbeatTimeout,
          heartbeatDetails: task.heartbeatDetails,
        }),
      },
      controller.signal,
      (details) => {
        // Refused here, clearly, rather than when it is stored; a copy, as the activity may change it.
        assertStorable(details, h.payloadLimit, `Activity ${task.activityType} heartbeat details`);
        heartbeats.beat(copy(details));
      },
    );
    try {
      const fn = h.activityFunctions.get(task.activityType);
      if (!fn) {
        throw ApplicationFailure.nonRetryable(
          `Activity type '${task.activityType}' is not registered in this worker (known: ${[...h.activityFunctions.keys()].join(', ') || 'none'})`,
          'NotFoundError',
        );
      }
      // A copy: the task is the store's record, and an activity may change its arguments.
      const result = await runWithContext(context, () => fn(...copy(task.input)));
      const failure = unstorable(result, h.payloadLimit, `Activity ${task.activityType} result`);
      return failure ? { failed: toFailureRecord(failure) } : { completed: result };
    } catch (error) {
      return { failed: toFailureRecord(error) };
    }
  }

  /** Has `executor` run the attempt; its abort is passed on. @returns undefined if it went away. */
  #onExecutor(
    task: ActivityTaskRecord,
    controller: AbortController,
    executor: string,
  ): Promise<ActivityOutcome | undefined> {
    const key = `${task.runId}/${task.seq}`;
    controller.signal.addEventListener(
      'abort',
      () => {
        const note: AbortNote = { key, reason: toFailureRecord(controller.signal.reason) };
        void this.h.peers.call(executor, 'abort', [note]).catch(() => undefined);
      },
      { once: true },
    );
    return this.h.peers.call(executor, 'activity', [task]).then(
      (reply) =>
        'error' in reply
          ? { failed: toFailureRecord(fromErrorRecord(reply.error)) }
          : (reply.ok as ActivityOutcome),
      () => undefined,
    );
  }

  /** An executor's heartbeat goes to the leader; its answer may say the attempt is over. */
  #sendHeartbeat(key: string, attempt: number, details: unknown, controller: AbortController): void {
    const note: HeartbeatNote = { key, attempt, details };
    void this.h.peers.call('', 'heartbeat', [note]).then(
      (reply) => {
        if ('ok' in reply && typeof reply.ok === 'string') controller.abort(new CancelledFailure(reply.ok));
      },
      () => undefined,
    );
  }

  /**
   * The leader takes a heartbeat an executor sent for an attempt it runs there.
   * @returns why the attempt should stop (Temporal's cancellation reasons), or null to go on.
   */
  heartbeatFrom(payload: unknown): string | null {
    const { key, attempt, details } = payload as HeartbeatNote;
    const running = this.#running.get(key);
    if (!running || running.attempt !== attempt || !running.beat) return 'NOT_FOUND';
    const { signal } = running.controller;
    if (signal.aborted) return signal.reason instanceof TimeoutFailure ? 'TIMED_OUT' : 'CANCELLED';
    running.beat(details);
    return null;
  }

  /** The leader stopped an attempt it had this host run: aborted here with the same reason. */
  abortFor(payload: unknown): void {
    const { key, reason } = payload as AbortNote;
    this.#running.get(key)?.controller.abort(fromFailureRecord(reason));
  }

  /** The run no longer wants the attempt: it stops, or never starts. */
  abort(runId: string, seq: number): void {
    const key = `${runId}/${seq}`;
    this.cancelRunning(key);
    // Claimed here but not started yet: it never runs, and is recorded as cancelled.
    const pending = this.#pending.get(key);
    this.#pending.delete(key);
    if (pending) {
      this.#claimed.delete(key);
      this.h.writes
        .enqueue((tx, fx, ctx) =>
          completeActivity(tx, runId, seq, pending.attempt, { cancelled: true }, ctx, fx),
        )
        .catch((error: unknown) => console.error('weft: recording a cancelled activity failed', error));
    }
  }

  /** Cancels the attempt running here as `runId/seq`. */
  cancelRunning(key: string): void {
    // A CancelledFailure, as Temporal's `Context.cancelled` rejects with.
    this.#running.get(key)?.controller.abort(new CancelledFailure('Activity cancelled'));
  }
}
