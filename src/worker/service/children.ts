import { defined } from '../../engine/defined.ts';
import {
  type CommandOf,
  type HistoryEvent,
  type InboxMessage,
  WorkflowExecutionAlreadyStartedError,
} from '../../engine/index.ts';
import type { ExecutionRecord, StoreTx } from '../../store/types.ts';
import { terminateRun } from './close.ts';
import { deliver, type Effects, isOpen, type ServiceContext, save } from './context.ts';
import { startWorkflow } from './start.ts';

/**
 * Starts a child inside its parent's commit, so an initiated child always starts, even when
 * the parent closes in the same task (its close policy then applies to the started child).
 */
export async function startChild(
  tx: StoreTx,
  parent: ExecutionRecord,
  command: CommandOf<'StartChildWorkflowExecution'>,
  initiatedEventId: number,
  ctx: ServiceContext,
  fx: Effects,
): Promise<void> {
  const { workflowId, workflowType } = command;
  let started: { runId: string; created: boolean };
  try {
    started = await startWorkflow(
      tx,
      {
        // The command has the request's options by the same names, but for args and retry.
        ...command,
        args: command.input,
        identity: parent.workflowId,
        ...defined({ retry: command.retryPolicy }),
        parent: {
          workflowId: parent.workflowId,
          runId: parent.runId,
          initiatedEventId,
          parentClosePolicy: command.parentClosePolicy,
          root: parent.root ?? { workflowId: parent.workflowId, runId: parent.runId },
        },
      },
      ctx,
      fx,
    );
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    deliver(
      tx,
      parent,
      {
        kind: 'childStartFailed',
        initiatedEventId,
        workflowId,
        workflowType,
        cause: 'WORKFLOW_ALREADY_EXISTS',
      },
      ctx,
      fx,
    );
    return;
  }
  if (!started.created) {
    // USE_EXISTING: the running execution is the child; this parent learns its outcome too.
    const existing = await tx.executions.get(started.runId);
    if (existing) {
      existing.attachedParents = [
        ...(existing.attachedParents ?? []),
        { runId: parent.runId, initiatedEventId },
      ];
      save(tx, existing, fx);
    }
  }
  deliver(
    tx,
    parent,
    { kind: 'childStarted', initiatedEventId, execution: { workflowId, runId: started.runId }, workflowType },
    ctx,
    fx,
  );
}

/** Each parent learns its child's outcome as one message (and so one event). */
export async function notifyParents(
  tx: StoreTx,
  child: ExecutionRecord,
  closing: HistoryEvent,
  ctx: ServiceContext,
  fx: Effects,
): Promise<void> {
  const outcome = childOutcome(closing);
  if (!outcome) return;
  const parents = [...(child.attachedParents ?? [])];
  if (child.parentRunId !== undefined) {
    parents.unshift({ runId: child.parentRunId, initiatedEventId: child.parentInitiatedEventId ?? 0 });
  }
  for (const { runId, initiatedEventId } of parents) {
    const parent = await tx.executions.get(runId);
    if (parent && isOpen(parent)) {
      const message: InboxMessage = {
        ...outcome,
        initiatedEventId,
        // The parent knows the child by the run it started; the outcome may come from a later run.
        execution: { workflowId: child.workflowId, runId: child.firstExecutionRunId },
        workflowType: child.workflowType,
      };
      deliver(tx, parent, message, ctx, fx);
    }
  }
}

type ChildOutcome = Extract<
  InboxMessage,
  { kind: `child${'Completed' | 'Failed' | 'Canceled' | 'TimedOut' | 'Terminated'}` }
>;

/** What a closing event tells the parent, but for which parent and child. */
function childOutcome(
  closing: HistoryEvent,
): DistributiveOmit<ChildOutcome, 'initiatedEventId' | 'execution' | 'workflowType'> | undefined {
  switch (closing.eventType) {
    case 'WorkflowExecutionCompleted':
      return { kind: 'childCompleted', result: closing.attributes.result };
    case 'WorkflowExecutionFailed':
      return {
        kind: 'childFailed',
        failure: closing.attributes.failure,
        retryState: closing.attributes.retryState,
      };
    case 'WorkflowExecutionCanceled':
      return { kind: 'childCanceled', ...defined({ details: closing.attributes.details }) };
    case 'WorkflowExecutionTimedOut':
      return { kind: 'childTimedOut', retryState: closing.attributes.retryState };
    case 'WorkflowExecutionTerminated':
      return { kind: 'childTerminated' };
    default:
      return undefined;
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** TERMINATE, REQUEST_CANCEL or ABANDON each child of this run that is still open. */
export async function applyParentClosePolicies(
  tx: StoreTx,
  exec: ExecutionRecord,
  children: ExecutionRecord[],
  ctx: ServiceContext,
  fx: Effects,
): Promise<void> {
  for (const child of children) {
    if (!isOpen(child)) continue;
    const policy = child.parentClosePolicy ?? 'TERMINATE';
    if (policy === 'TERMINATE') {
      await terminateRun(
        tx,
        child,
        `Parent ${exec.workflowId} closed (${exec.status}): parent close policy TERMINATE`,
        ctx,
        fx,
      );
    } else if (policy === 'REQUEST_CANCEL') {
      deliver(
        tx,
        child,
        {
          kind: 'cancelRequest',
          reason: `Parent ${exec.workflowId} closed: parent close policy REQUEST_CANCEL`,
        },
        ctx,
        fx,
      );
    }
  }
}
