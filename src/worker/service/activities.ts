import { type FailureRecord, type InboxMessage, nextRetry } from '../../engine/index.ts';
import type { ActivityTaskRecord, StoreTx } from '../../store/types.ts';
import { deliver, type Effects, isOpen, type ServiceContext } from './context.ts';

export type ActivityOutcome =
  | { completed: unknown }
  | { failed: FailureRecord }
  | { timedOut: FailureRecord }
  | { cancelled: true };

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

/**
 * Marks an activity attempt as run by this host. An attempt another host had started is taken
 * over at once: only the lease holder runs activities, so that host lost the lease and can
 * never record its outcome.
 * @returns the task, or undefined when the attempt is over.
 */
export async function claimActivity(
  tx: StoreTx,
  runId: string,
  seq: number,
  attempt: number,
  ctx: ServiceContext,
): Promise<ActivityTaskRecord | undefined> {
  const task = await tx.activityTasks.get(runId, seq);
  if (!task || task.attempt !== attempt) return undefined;
  task.owner = ctx.hostId;
  task.startedTime = ctx.now;
  tx.activityTasks.put(task);
  return task;
}
