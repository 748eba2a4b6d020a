import type { ExecutionFilter, ExecutionRecord } from './types.ts';

/** Whether an execution passes every field of a filter (fields combine with AND). */
export function matchesFilter(record: ExecutionRecord, filter: ExecutionFilter): boolean {
  return (
    (filter.workflowType === undefined || record.workflowType === filter.workflowType) &&
    (filter.status === undefined || record.status === filter.status) &&
    (filter.parentWorkflowId === undefined || record.parentWorkflowId === filter.parentWorkflowId) &&
    (filter.parentRunId === undefined || record.parentRunId === filter.parentRunId) &&
    (filter.workflowId === undefined || record.workflowId === filter.workflowId)
  );
}

/** The order `executions.list` promises: by start time, then run ID. */
export function compareExecutions(a: ExecutionRecord, b: ExecutionRecord): number {
  return a.startTime - b.startTime || (a.runId < b.runId ? -1 : a.runId > b.runId ? 1 : 0);
}
