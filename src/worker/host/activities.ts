import { defined } from '../../engine/defined.ts';
import {
  ApplicationFailure,
  CancelledFailure,
  fromErrorRecord,
  TimeoutFailure,
  toFailureRecord,
} from '../../engine/index.ts';
import { copy } from '../../store/copy.ts';
import { LeaseLostError } from '../../store/errors.ts';
import type { ActivityTaskRecord } from '../../store/types.ts';
import { Context, runWithContext } from '../activity.ts';
import { type ActivityOutcome, claimActivity, completeActivity } from '../service.ts';
import type { HostParts } from './parts.ts';
import { unstorable } from './support.ts';

/**
 * The activity runner: attempts wait for a slot (at most `maxConcurrentActivities` at once),
 * are claimed, run here or on the least busy host that serves their queue, within their
 * timeouts, and are cancelled when their run no longer wants them.
 */
export class Activities {
  /** Running attempts by `runId/seq`: a retry may start while its previous attempt winds down. */
  readonly #running = new Map<string, { attempt: number; controller: AbortController }>();
  /** Waiting for a slot, by `runId/seq`, in arrival order (a Map: no O(n) shift or search). */
  readonly #pending = new Map<string, ActivityTaskRecord>();
  #active = 0;
  /** Activities running, by host (this one or an executor). */
  readonly #load = new Map<string, number>();

  constructor(private readonly h: HostParts) {}

  /** Nothing waits, and every running attempt is aborted with `reason`. */
  stopAll(reason: Error): void {
    this.#pending.clear();
    for (const { controller } of this.#running.values()) controller.abort(reason);
  }

  /** An attempt the leader sent to this host, which serves its queue. */
  async runForLeader(payload: unknown): Promise<ActivityOutcome | undefined> {
    const task = payload as ActivityTaskRecord;
    const key = `${task.runId}/${task.seq}`;
    const running = { attempt: task.attempt, controller: new AbortController() };
    this.#running.set(key, running);
    try {
      return await this.#execute(task, running.controller);
    } finally {
      if (this.#running.get(key) === running) this.#running.delete(key);
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
   */
  enqueue(task: ActivityTaskRecord, due = false): void {
    const delay = task.notBefore - this.h.clock.now();
    if (delay > 0 && !due) {
      this.h.clock.setTimer(() => this.enqueue(task, true), delay);
      return;
    }
    const key = `${task.runId}/${task.seq}`;
    // A later attempt supersedes an earlier one still waiting.
    if ((this.#pending.get(key)?.attempt ?? 0) <= task.attempt) this.#pending.set(key, task);
    this.#pump();
  }

  #pump(): void {
    const max = this.h.options.maxConcurrentActivities ?? 100;
    for (const [key, task] of this.#pending) {
      if (this.h.stopped || this.#active >= max) break;
      this.#pending.delete(key);
      if ((this.#running.get(key)?.attempt ?? 0) >= task.attempt) continue;
      this.#active++;
      const running = { attempt: task.attempt, controller: new AbortController() };
      this.#running.set(key, running);
      void this.#run(task, running.controller)
        .catch((error: unknown) => {
          // The task is still in the store: the next leader runs it again (at least once).
          if (!(error instanceof LeaseLostError))
            console.error(`weft: recording activity ${task.activityType} failed`, error);
          return undefined;
        })
        .then((again) => {
          if (this.#running.get(key) === running) this.#running.delete(key);
          this.#active--;
          // Queued once its slot is free, so that it is not taken for the attempt still running.
          if (again) this.enqueue(again);
          this.#pump();
          this.h.settle();
        });
    }
  }

  /** @returns the activity to queue again (a retry, or an attempt whose executor went away). */
  async #run(task: ActivityTaskRecord, controller: AbortController): Promise<ActivityTaskRecord | undefined> {
    // A side effect waits until the lease it runs under is durable.
    if (!(await this.h.leadership.leaseDurable) || !this.h.leadership.lease) return;
    // Claimed already by the commit that scheduled it on this host: no claim of its own.
    const claimed =
      task.owner === this.h.hostId
        ? task
        : await this.h.writes.enqueue((tx, _fx, ctx) =>
            claimActivity(tx, task.runId, task.seq, task.attempt, ctx),
          );
    if (!claimed || this.h.stopped) return;
    // Activities spread over every host that runs their queue: the least busy takes the next.
    let runner: string | undefined;
    let least = Infinity;
    for (const [hostId, queues] of [[this.h.hostId, this.h.taskQueues] as const, ...this.h.peers.executors]) {
      const load = this.#load.get(hostId) ?? 0;
      if (queues.includes(task.taskQueue) && load < least) [runner, least] = [hostId, load];
    }
    // Its executor left before it started: it waits in the store for the next that offers.
    if (runner === undefined) return;
    this.#load.set(runner, least + 1);
    let outcome: ActivityOutcome | undefined;
    try {
      outcome = await this.#execute(claimed, controller, runner === this.h.hostId ? undefined : runner);
    } finally {
      this.#load.set(runner, (this.#load.get(runner) ?? 1) - 1);
    }
    // The executor went away: the attempt runs again (at least once).
    if (!outcome) return this.h.leadership.lease && claimed;
    if (this.h.stopped) return;
    return this.h.writes.enqueue((tx, fx, ctx) =>
      completeActivity(tx, task.runId, task.seq, task.attempt, outcome, ctx, fx),
    );
  }

  /**
   * Runs an attempt here, or on `executor`, within its timeouts (a frozen executor never
   * answers: the attempt still times out here).
   * @returns the outcome; undefined if the executor went away.
   */
  async #execute(
    task: ActivityTaskRecord,
    controller: AbortController,
    executor?: string,
  ): Promise<ActivityOutcome | undefined> {
    const now = this.h.clock.now();
    const { startToCloseTimeout: startToClose, scheduleToCloseTimeout: scheduleToClose } = task;
    // The earlier deadline applies; on a tie, start-to-close. (No timeout: an Infinity deadline.)
    const startDeadline = now + (startToClose ?? Infinity);
    const scheduleDeadline = task.scheduledTime + (scheduleToClose ?? Infinity);
    const bySchedule = scheduleDeadline < startDeadline;
    const deadline = bySchedule ? scheduleDeadline : startDeadline;
    let cancelTimeout: (() => void) | undefined;
    // Settles when the attempt is cancelled, or when it times out (which aborts it too).
    const stopped = new Promise<ActivityOutcome>((resolve) => {
      controller.signal.addEventListener('abort', () => {
        if (!(controller.signal.reason instanceof TimeoutFailure)) resolve({ cancelled: true });
      });
      if (deadline === Infinity) return;
      cancelTimeout = this.h.clock.setTimer(() => {
        const failure = new TimeoutFailure(
          `Activity ${bySchedule ? 'schedule' : 'start'}-to-close timeout`,
          undefined,
          bySchedule ? 'SCHEDULE_TO_CLOSE' : 'START_TO_CLOSE',
        );
        controller.abort(failure);
        resolve({ timedOut: toFailureRecord(failure) });
      }, deadline - now);
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
          void this.h.peers.call(executor, 'abort', [`${task.runId}/${task.seq}`]).catch(() => undefined);
        controller.signal.addEventListener('abort', abort);
        return this.h.peers.call(executor, 'activity', [task]).then(
          (reply) =>
            'error' in reply
              ? { failed: toFailureRecord(fromErrorRecord(reply.error)) }
              : (reply.ok as ActivityOutcome),
          () => undefined,
        );
      }
      try {
        const fn = this.h.activityFunctions.get(task.activityType);
        if (!fn) {
          throw ApplicationFailure.nonRetryable(
            `Activity type '${task.activityType}' is not registered in this worker (known: ${[...this.h.activityFunctions.keys()].join(', ') || 'none'})`,
            'NotFoundError',
          );
        }
        // A copy: the task is the store's record, and an activity may change its arguments.
        const result = await runWithContext(context, () => fn(...copy(task.input)));
        const failure = unstorable(result, this.h.payloadLimit, `Activity ${task.activityType} result`);
        return failure ? { failed: toFailureRecord(failure) } : { completed: result };
      } catch (error) {
        return { failed: toFailureRecord(error) };
      }
    })();
    try {
      return await Promise.race([run, stopped]);
    } finally {
      cancelTimeout?.();
    }
  }

  /** The run no longer wants the attempt: it stops, or never starts. */
  abort(runId: string, seq: number): void {
    const key = `${runId}/${seq}`;
    this.cancelRunning(key);
    // Claimed here but not started yet: it never runs, and is recorded as cancelled.
    const pending = this.#pending.get(key);
    this.#pending.delete(key);
    if (pending) {
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
