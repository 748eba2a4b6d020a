import type { ChildWorkflowStart, EventAttributes } from '../engine/index.ts';
import { toEnum } from './json.ts';
import { toDuration, toFields, toPayload, toPayloads, toRetryPolicy, toTimestamp } from './values.ts';

/*
 * Writing Temporal's attributes: the shared pieces (names, IDs, durations, the weft header)
 * and the events with the most fields (the run's start, a child's start, a marker).
 */

export type Attributes = Record<string, unknown>;

/** The namespace weft's executions live in, as Temporal names it. */
export const NAMESPACE = 'default';

/** The workflow task timeout Temporal's worker needs and weft leaves out when it was not set. */
export const DEFAULT_WORKFLOW_TASK_TIMEOUT = 10_000;

/**
 * The header key under which an event carries what weft records and Temporal's event has no
 * field for (the run's randomness seed, a child's cancellation type...), so that
 * `fromTemporalHistory(toTemporalHistory(h))` gives `h` back. Temporal ignores it on replay.
 */
export const WEFT_HEADER = 'weft';

export const taskQueue = (name: string) => ({ name, kind: 'TASK_QUEUE_KIND_NORMAL' });
export const type = (name: string) => ({ name });
export const execution = (e: { workflowId: string; runId?: string }) => ({
  workflowId: e.workflowId,
  runId: e.runId ?? '',
});

/** Event IDs (int64) as JSON writes them: strings. */
export function ids<T extends object>(fields: T): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (key.endsWith('EventId') && typeof value === 'number') out[key] = String(value);
  }
  return out;
}

/** Optional durations of an event, as protobuf Durations. */
export function durations(fields: Record<string, unknown>, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) {
    const value = fields[name];
    if (typeof value === 'number') out[name] = toDuration(value);
  }
  return out;
}

export const header = (extra: Record<string, unknown>) => ({ header: toFields({ [WEFT_HEADER]: extra }) });

export function childStart(a: ChildWorkflowStart): Attributes {
  return {
    namespace: NAMESPACE,
    workflowId: a.workflowId,
    workflowType: type(a.workflowType),
    taskQueue: taskQueue(a.taskQueue),
    input: toPayloads(a.input),
    ...durations(a as unknown as Attributes, [
      'workflowExecutionTimeout',
      'workflowRunTimeout',
      'workflowTaskTimeout',
    ]),
    parentClosePolicy: toEnum('PARENT_CLOSE_POLICY', a.parentClosePolicy),
    workflowIdReusePolicy: toEnum('WORKFLOW_ID_REUSE_POLICY', a.workflowIdReusePolicy),
    ...(a.retryPolicy ? { retryPolicy: toRetryPolicy(a.retryPolicy) } : {}),
    ...(a.memo ? { memo: toFields(a.memo) } : {}),
    // Temporal records neither: the cancellation type stays in the parent's SDK, and the
    // conflict policy is a property of the start request.
    ...header({ cancellationType: a.cancellationType, workflowIdConflictPolicy: a.workflowIdConflictPolicy }),
  };
}

export function started(a: EventAttributes['WorkflowExecutionStarted']): Attributes {
  const out: Attributes = {
    workflowType: type(a.workflowType),
    taskQueue: taskQueue(a.taskQueue),
    input: toPayloads(a.input),
    ...durations(a, ['workflowExecutionTimeout', 'workflowRunTimeout', 'firstWorkflowTaskBackoff']),
    workflowTaskTimeout: toDuration(a.workflowTaskTimeout ?? DEFAULT_WORKFLOW_TASK_TIMEOUT),
    originalExecutionRunId: a.originalExecutionRunId,
    firstExecutionRunId: a.firstExecutionRunId,
    attempt: a.attempt,
  };
  if (a.continuedExecutionRunId !== undefined) {
    out.continuedExecutionRunId = a.continuedExecutionRunId;
    out.initiator = a.attempt > 1 ? 'CONTINUE_AS_NEW_INITIATOR_RETRY' : 'CONTINUE_AS_NEW_INITIATOR_WORKFLOW';
  }
  if (a.identity !== undefined) out.identity = a.identity;
  if (a.retryPolicy) out.retryPolicy = toRetryPolicy(a.retryPolicy);
  if (a.workflowExecutionExpirationTime !== undefined) {
    out.workflowExecutionExpirationTime = toTimestamp(a.workflowExecutionExpirationTime);
  }
  if (a.memo) out.memo = toFields(a.memo);
  if (a.parentWorkflowExecution) {
    out.parentWorkflowNamespace = NAMESPACE;
    out.parentWorkflowExecution = execution(a.parentWorkflowExecution);
  }
  if (a.parentInitiatedEventId !== undefined) out.parentInitiatedEventId = String(a.parentInitiatedEventId);
  if (a.rootWorkflowExecution) out.rootWorkflowExecution = execution(a.rootWorkflowExecution);
  Object.assign(
    out,
    header({
      randomnessSeed: a.randomnessSeed,
      ...(a.workflowTaskTimeout === undefined ? { defaultWorkflowTaskTimeout: true } : {}),
      ...(a.parentClosePolicy !== undefined ? { parentClosePolicy: a.parentClosePolicy } : {}),
    }),
  );
  return out;
}

/**
 * A marker. The patch marker is recorded as Temporal's SDK core records it: `core_patch`,
 * with `{ id, deprecated }` as JSON under `patch-data`; any other marker's details become
 * one payload per key.
 */
export function marker(a: EventAttributes['MarkerRecorded']): Attributes {
  const details: Record<string, { payloads: ReturnType<typeof toPayload>[] }> = {};
  if (a.markerName === 'core_patch') {
    details['patch-data'] = {
      payloads: [toPayload({ id: a.details.patchId, deprecated: a.details.deprecated === true })],
    };
  } else {
    for (const [key, value] of Object.entries(a.details)) details[key] = { payloads: [toPayload(value)] };
  }
  return { markerName: a.markerName, details, ...ids(a) };
}
