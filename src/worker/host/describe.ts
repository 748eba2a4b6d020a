import { defined } from '../../engine/defined.ts';
import { EXECUTION_STATUSES, type HistoryEvent, InvalidArgumentError } from '../../engine/index.ts';
import type {
  WorkflowChange,
  WorkflowDescription,
  WorkflowListFilter,
  WorkflowOutcome,
} from '../../protocol/api.ts';
import type { ExecutionFilter, ExecutionRecord } from '../../store/types.ts';

/** A client's filter as the store takes it, checked: bad fields are refused, not ignored. */
export function storeFilter(filter: WorkflowListFilter): ExecutionFilter {
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
export function encodeToken(exec: ExecutionRecord): string {
  return btoa(JSON.stringify([exec.startTime, exec.runId]));
}

export function decodeToken(token: string): { startTime: number; runId: string } {
  try {
    const [startTime, runId] = JSON.parse(atob(token)) as unknown[];
    if (typeof startTime === 'number' && typeof runId === 'string') return { startTime, runId };
  } catch {
    // Refused below, whatever was wrong with it.
  }
  throw new InvalidArgumentError(`Not a page token from listPage: '${String(token)}'`);
}

export function changeOf(exec: ExecutionRecord): WorkflowChange {
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

export function outcomeOf(exec: ExecutionRecord, closing: HistoryEvent | undefined): WorkflowOutcome {
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
