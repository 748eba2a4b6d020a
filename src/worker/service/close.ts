import { defined } from '../../engine/defined.ts';
import { closingStatus, type FailureRecord, type HistoryEvent, nextRetry } from '../../engine/index.ts';
import type { ExecutionRecord, StoreTx } from '../../store/types.ts';
import { applyParentClosePolicies, notifyParents } from './children.ts';
import { appendEvents, arrivedEvents, type Effects, numbered, type ServiceContext, save } from './context.ts';
import { startWorkflow } from './start.ts';

/** Terminates an open run: the closing event is numbered when closeRun appends it. */
export function terminateRun(
  tx: StoreTx,
  exec: ExecutionRecord,
  reason: string,
  ctx: ServiceContext,
  fx: Effects,
): Promise<void> {
  return closeRun(
    tx,
    exec,
    { eventId: 0, eventTime: ctx.now, eventType: 'WorkflowExecutionTerminated', attributes: { reason } },
    ctx,
    fx,
  );
}

export interface NextRun {
  nextRunId?: string;
  retryBackoff?: number;
}

/**
 * The run a closing event leads to: continue-as-new's, or a workflow retry's (a failed or
 * timed-out run with a retry policy starts again, same ID), which is recorded on the event.
 * Called before the event is appended: the store keeps what it was given then.
 */
export function nextRunOf(exec: ExecutionRecord, closing: HistoryEvent, ctx: ServiceContext): NextRun {
  if (closing.eventType === 'WorkflowExecutionContinuedAsNew')
    return { nextRunId: closing.attributes.newExecutionRunId };
  if (
    (closing.eventType === 'WorkflowExecutionFailed' || closing.eventType === 'WorkflowExecutionTimedOut') &&
    exec.retryPolicy
  ) {
    const failure: FailureRecord =
      closing.eventType === 'WorkflowExecutionFailed'
        ? closing.attributes.failure
        : { name: 'TimeoutFailure', message: 'Workflow run timed out', timeoutType: 'START_TO_CLOSE' };
    const decision = nextRetry(
      exec.retryPolicy,
      exec.attempt,
      failure,
      ctx.now,
      exec.executionExpirationTime,
    );
    if (decision.retry) {
      const nextRunId = ctx.newRunId();
      closing.attributes.newExecutionRunId = nextRunId;
      closing.attributes.retryState = 'RETRY_STATE_IN_PROGRESS';
      return { nextRunId, retryBackoff: decision.delay };
    }
    closing.attributes.retryState = decision.retryState;
  }
  return {};
}

/**
 * Closes a run with its closing event: records the outcome, drops its pending work,
 * tells its parent, applies the parent close policy to each child still open, and starts
 * the next run for continue-as-new or a workflow retry.
 */
export async function closeRun(
  tx: StoreTx,
  exec: ExecutionRecord,
  closing: HistoryEvent,
  ctx: ServiceContext,
  fx: Effects,
  /** Set when the closing event is already appended: what `nextRunOf` decided before that. */
  appended?: NextRun,
): Promise<void> {
  const status = closingStatus(closing.eventType);
  if (status === undefined) throw new Error(`${closing.eventType} does not close a run`);
  const { nextRunId, retryBackoff } = appended ?? nextRunOf(exec, closing, ctx);

  // Issued together: IndexedDB answers queued requests far faster than awaited ones.
  const [inbox, timers, activities, children] = await Promise.all([
    tx.inbox.list(exec.runId),
    tx.timers.listByRun(exec.runId),
    tx.activityTasks.listByRun(exec.runId),
    // Only open children have a close policy to apply, and open work is at hand.
    tx.executions.open({ parentRunId: exec.runId }),
  ]);
  if (!appended) {
    // Closed from outside (terminate, timeout): signals and cancel requests that arrived but
    // were not yet processed are recorded first, as Temporal records them on arrival.
    appendEvents(tx, exec, numbered(exec, [...arrivedEvents(inbox), closing]), fx);
  }
  exec.status = status;
  exec.closeTime = ctx.now;
  delete exec.blocked;
  if (closing.eventType === 'WorkflowExecutionCompleted') exec.result = closing.attributes.result;
  if (closing.eventType === 'WorkflowExecutionFailed') exec.failure = closing.attributes.failure;
  if (nextRunId !== undefined) exec.nextRunId = nextRunId;
  save(tx, exec, fx);

  tx.workflowTasks.delete(exec.runId);
  for (const message of inbox) tx.inbox.delete(message.id);
  for (const timer of timers) {
    tx.timers.delete(timer.runId, timer.key);
    fx.cancelledTimers.push([timer.runId, timer.key]);
  }
  for (const activity of activities) {
    tx.activityTasks.delete(activity.runId, activity.seq);
    fx.abortActivities.push([activity.runId, activity.seq]);
  }

  if (nextRunId !== undefined) {
    const newRunId = nextRunId;
    const [first] = await tx.history.read(exec.runId, 1);
    if (first?.eventType !== 'WorkflowExecutionStarted')
      throw new Error(`Run ${exec.runId} has no start event`);
    const a = first.attributes;
    const cont = closing.eventType === 'WorkflowExecutionContinuedAsNew' ? closing.attributes : undefined;
    await startWorkflow(
      tx,
      {
        workflowType: cont?.workflowType ?? a.workflowType,
        workflowId: exec.workflowId,
        taskQueue: cont?.taskQueue ?? a.taskQueue,
        args: cont?.input ?? a.input,
        ...defined({
          workflowRunTimeout: cont?.workflowRunTimeout ?? a.workflowRunTimeout,
          workflowTaskTimeout: cont?.workflowTaskTimeout ?? a.workflowTaskTimeout,
          retry: a.retryPolicy,
          memo: a.memo,
        }),
        ...(exec.parentRunId !== undefined &&
          a.parentWorkflowExecution !== undefined && {
            parent: {
              ...a.parentWorkflowExecution,
              initiatedEventId: a.parentInitiatedEventId ?? 0,
              parentClosePolicy: a.parentClosePolicy ?? 'TERMINATE',
              root: a.rootWorkflowExecution ?? { workflowId: exec.workflowId, runId: exec.runId },
            },
          }),
        continuation: {
          fromRunId: exec.runId,
          firstExecutionRunId: exec.firstExecutionRunId,
          attempt: retryBackoff === undefined ? 1 : exec.attempt + 1,
          ...defined({
            firstWorkflowTaskBackoff: retryBackoff,
            executionExpirationTime: exec.executionExpirationTime,
            requestIds: exec.requestIds,
          }),
        },
      },
      { ...ctx, newRunId: () => newRunId },
      fx,
    );
  } else {
    await notifyParents(tx, exec, closing, ctx, fx);
  }

  await applyParentClosePolicies(tx, exec, children, ctx, fx);
}
