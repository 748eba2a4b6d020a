import {
  type FailureRecord,
  type InboxMessage,
  nextRetry,
  TimeoutFailure,
  toFailureRecord,
} from '../../engine/index.ts';
import type { ActivityTaskRecord, StoreTx } from '../../store/types.ts';
import { deliver, type Effects, isOpen, type ServiceContext } from './context.ts';

export type ActivityOutcome = (
  | { completed: unknown }
  | { failed: FailureRecord }
  | { timedOut: FailureRecord }
  | { cancelled: true }
) & {
  /** The attempt's last heartbeat, if it heartbeated: a retry starts from its details. */
  heartbeat?: { details: unknown };
};

/**
 * Records an activity attempt's outcome: a retry (same task, next attempt after backoff), or
 * the final outcome delivered to the run. Stale outcomes (an older attempt, a closed run)
 * are ignored, so a result is recorded once.
 * @returns the task to run again later, if retried.
 */
export async function completeActivity(
  tx: StoreTx,
  runId: string,
  seq: number,
  attempt: number,
  outcome: ActivityOutcome,
  ctx: ServiceContext,
  fx: Effects,
): Promise<ActivityTaskRecord | undefined> {
  const [task, exec] = await Promise.all([tx.activityTasks.get(runId, seq), tx.executions.get(runId)]);
  if (!task || task.attempt !== attempt) return undefined;
  if (!exec || !isOpen(exec)) {
    tx.activityTasks.delete(runId, seq);
    return undefined;
  }
  const identity = ctx.hostId;
  let message: InboxMessage;
  if ('completed' in outcome) {
    message = { kind: 'activityCompleted', seq, attempt, result: outcome.completed, identity };
  } else if ('cancelled' in outcome) {
    message = { kind: 'activityCanceled', seq, attempt, started: true, identity };
  } else {
    const failure = 'failed' in outcome ? outcome.failed : outcome.timedOut;
    const deadline =
      task.scheduleToCloseTimeout !== undefined
        ? task.scheduledTime + task.scheduleToCloseTimeout
        : undefined;
    const decision = task.cancelRequested
      ? ({ retry: false, retryState: 'RETRY_STATE_CANCEL_REQUESTED' } as const)
      : nextRetry(task.retryPolicy, attempt, failure, ctx.now, deadline);
    if (decision.retry) {
      const next: ActivityTaskRecord = {
        ...task,
        attempt: attempt + 1,
        notBefore: ctx.now + decision.delay,
        lastFailure: failure,
      };
      // The last details any attempt recorded: as Temporal's server keeps them across attempts.
      if (outcome.heartbeat) next.heartbeatDetails = outcome.heartbeat.details;
      delete next.owner;
      delete next.startedTime;
      tx.activityTasks.put(next);
      return next;
    }
    const kind = 'failed' in outcome ? 'activityFailed' : 'activityTimedOut';
    message = { kind, seq, attempt, failure, retryState: decision.retryState, identity };
  }
  tx.activityTasks.delete(runId, seq);
  deliver(tx, exec, message, ctx, fx);
  return undefined;
}

/** What claiming an attempt found: the attempt to run, or the retry of one that was lost. */
export type ActivityClaim = { run: ActivityTaskRecord } | { retry: ActivityTaskRecord };

/**
 * Marks an activity attempt as run by this host. An attempt that another host (or this one,
 * in an earlier lead) had claimed is over: only the lease holder runs activities, so that host
 * lost the lease and can never record its outcome. As on Temporal's server, where such an
 * attempt times out, it counts as an attempt: it timed out (of type HEARTBEAT when the activity
 * has a heartbeat timeout, else START_TO_CLOSE), and the retry policy decides on the next one
 * (after its backoff), or the activity fails for good.
 * @returns the claim, or undefined when the attempt is over (and nothing follows it now).
 */
export async function claimActivity(
  tx: StoreTx,
  runId: string,
  seq: number,
  attempt: number,
  ctx: ServiceContext,
  fx: Effects,
): Promise<ActivityClaim | undefined> {
  const task = await tx.activityTasks.get(runId, seq);
  if (!task || task.attempt !== attempt) return undefined;
  if (task.owner !== undefined) {
    const lost = new TimeoutFailure(
      `Activity attempt ${attempt} was lost: its host (${task.owner}) went away before it finished`,
      task.heartbeatDetails,
      task.heartbeatTimeout ? 'HEARTBEAT' : 'START_TO_CLOSE',
    );
    // The run's history names the host that ran the attempt.
    const retry = await completeActivity(
      tx,
      runId,
      seq,
      attempt,
      task.cancelRequested ? { cancelled: true } : { timedOut: toFailureRecord(lost) },
      { ...ctx, hostId: task.owner },
      fx,
    );
    return retry && { retry };
  }
  task.owner = ctx.hostId;
  task.startedTime = ctx.now;
  tx.activityTasks.put(task);
  return { run: task };
}

/**
 * Stores the latest heartbeat details of a running attempt, for the next attempt to start
 * from (should this one fail, time out or lose its host). Ignored once the attempt is over.
 */
export async function recordHeartbeat(
  tx: StoreTx,
  runId: string,
  seq: number,
  attempt: number,
  details: unknown,
): Promise<void> {
  const task = await tx.activityTasks.get(runId, seq);
  if (!task || task.attempt !== attempt) return;
  task.heartbeatDetails = details;
  tx.activityTasks.put(task);
}
