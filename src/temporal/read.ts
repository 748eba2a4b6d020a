import {
  type ChildWorkflowStart,
  EVENT_TYPES,
  type EventAttributes,
  type EventType,
} from '../engine/index.ts';
import { fromTemporalFailure } from './failures.ts';
import {
  type Fields,
  fromEnum,
  type Payload,
  type Payloads,
  type TemporalFailure,
  type TemporalRetryPolicy,
} from './json.ts';
import {
  fromDuration,
  fromFields,
  fromPayload,
  fromPayloads,
  fromRetryPolicy,
  fromSinglePayload,
  fromTimestamp,
} from './values.ts';
import { DEFAULT_WORKFLOW_TASK_TIMEOUT, WEFT_HEADER } from './write.ts';

/*
 * Reading Temporal's attributes: the shared pieces (names, IDs, durations, the weft header)
 * and the events with the most fields (the run's start, a child's start, a marker).
 */

/** Every event type weft records (SPEC section 4), so every one it can take back. */
export const KNOWN: ReadonlySet<string> = new Set<EventType>(EVENT_TYPES);

const PARENT_CLOSE = ['TERMINATE', 'ABANDON', 'REQUEST_CANCEL'] as const;
const REUSE = [
  'ALLOW_DUPLICATE',
  'ALLOW_DUPLICATE_FAILED_ONLY',
  'REJECT_DUPLICATE',
  'TERMINATE_IF_RUNNING',
] as const;
const CANCELLATION = [
  'ABANDON',
  'TRY_CANCEL',
  'WAIT_CANCELLATION_REQUESTED',
  'WAIT_CANCELLATION_COMPLETED',
] as const;
export const TASK_FAILED = [
  'NON_DETERMINISTIC_ERROR',
  'WORKFLOW_WORKER_UNHANDLED_FAILURE',
  'UNHANDLED_COMMAND',
] as const;

export const execution = (a: Fields) => ({ workflowId: a.str('workflowId'), runId: a.str('runId', '') });
export const target = (a: Fields) => {
  const { workflowId, runId } = execution(a);
  return runId === '' ? { workflowId } : { workflowId, runId };
};
export const payloads = (a: Fields, name: string) => fromPayloads(a.message<Payloads>(name));
export const failure = (a: Fields, name: string) =>
  fromTemporalFailure(a.message<TemporalFailure>(name) ?? {});
export const weftHeader = (a: Fields): Record<string, unknown> => {
  const fields = a.optObj('header')?.message<Record<string, Payload>>('fields');
  const value = fields?.[WEFT_HEADER];
  return value ? ((fromPayload(value) as Record<string, unknown> | undefined) ?? {}) : {};
};

/** Optional fields, only those present (weft leaves absent ones out rather than undefined). */
export function optional(
  a: Fields,
  kinds: Record<string, 'duration' | 'int' | 'str'>,
): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  for (const [name, kind] of Object.entries(kinds)) {
    if (!a.has(name)) continue;
    if (kind === 'duration') out[name] = fromDuration(a.str(name));
    else if (kind === 'int') out[name] = a.int(name);
    else if (a.str(name) !== '') out[name] = a.str(name);
  }
  return out;
}

export const retry = (a: Fields, name = 'retryPolicy') => {
  const policy = a.message<TemporalRetryPolicy>(name);
  return policy ? { retryPolicy: fromRetryPolicy(policy) } : {};
};
export const memo = (a: Fields) =>
  a.has('memo') ? { memo: fromFields(a.obj('memo').message('fields')) } : {};

export function childStart(a: Fields): ChildWorkflowStart {
  const extra = weftHeader(a);
  return {
    workflowId: a.str('workflowId'),
    workflowType: a.named('workflowType'),
    taskQueue: a.named('taskQueue'),
    input: payloads(a, 'input'),
    ...optional(a, {
      workflowExecutionTimeout: 'duration',
      workflowRunTimeout: 'duration',
      workflowTaskTimeout: 'duration',
    }),
    ...retry(a),
    parentClosePolicy: fromEnum('PARENT_CLOSE_POLICY', a.str('parentClosePolicy', 'TERMINATE'), PARENT_CLOSE),
    cancellationType: fromEnum(
      'CHILD_WORKFLOW_CANCELLATION_TYPE',
      String(extra.cancellationType ?? 'WAIT_CANCELLATION_COMPLETED'),
      CANCELLATION,
    ),
    workflowIdReusePolicy: fromEnum(
      'WORKFLOW_ID_REUSE_POLICY',
      a.str('workflowIdReusePolicy', 'ALLOW_DUPLICATE'),
      REUSE,
    ),
    workflowIdConflictPolicy: extra.workflowIdConflictPolicy === 'USE_EXISTING' ? 'USE_EXISTING' : 'FAIL',
    ...memo(a),
  };
}

/** A 32-bit seed from a run ID, for histories that did not come from weft (FNV-1a). */
export function seedFrom(runId: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < runId.length; i++) hash = Math.imul(hash ^ runId.charCodeAt(i), 0x01000193) >>> 0;
  return hash;
}

export function started(a: Fields): EventAttributes['WorkflowExecutionStarted'] {
  const extra = weftHeader(a);
  const originalExecutionRunId = a.str('originalExecutionRunId', '');
  const out: EventAttributes['WorkflowExecutionStarted'] = {
    workflowType: a.named('workflowType'),
    taskQueue: a.named('taskQueue'),
    input: payloads(a, 'input'),
    randomnessSeed:
      typeof extra.randomnessSeed === 'number' ? extra.randomnessSeed : seedFrom(originalExecutionRunId),
    attempt: a.int('attempt', 1),
    firstExecutionRunId: a.str('firstExecutionRunId', originalExecutionRunId),
    originalExecutionRunId,
    ...optional(a, {
      continuedExecutionRunId: 'str',
      firstWorkflowTaskBackoff: 'duration',
      workflowExecutionTimeout: 'duration',
      workflowRunTimeout: 'duration',
      workflowTaskTimeout: 'duration',
      parentInitiatedEventId: 'int',
      identity: 'str',
    }),
    ...retry(a),
    ...memo(a),
  };
  if (
    extra.defaultWorkflowTaskTimeout === true &&
    out.workflowTaskTimeout === DEFAULT_WORKFLOW_TASK_TIMEOUT
  ) {
    delete out.workflowTaskTimeout;
  }
  if (a.has('workflowExecutionExpirationTime')) {
    out.workflowExecutionExpirationTime = fromTimestamp(a.str('workflowExecutionExpirationTime'));
  }
  if (a.has('parentWorkflowExecution'))
    out.parentWorkflowExecution = execution(a.obj('parentWorkflowExecution'));
  if (a.has('rootWorkflowExecution')) out.rootWorkflowExecution = execution(a.obj('rootWorkflowExecution'));
  if (typeof extra.parentClosePolicy === 'string') {
    out.parentClosePolicy = fromEnum('PARENT_CLOSE_POLICY', extra.parentClosePolicy, PARENT_CLOSE);
  }
  return out;
}

/** A marker: Temporal's patch marker back to weft's `{ patchId, deprecated }`. */
export function marker(a: Fields): EventAttributes['MarkerRecorded'] {
  const markerName = a.str('markerName');
  const raw = a.message<Record<string, Payloads>>('details') ?? {};
  const details: Record<string, unknown> = {};
  if (markerName === 'core_patch' && raw['patch-data']) {
    const data = fromSinglePayload(raw['patch-data']) as { id?: string; deprecated?: boolean } | undefined;
    details.patchId = data?.id ?? '';
    details.deprecated = data?.deprecated === true;
  } else {
    for (const [key, value] of Object.entries(raw)) details[key] = fromSinglePayload(value);
  }
  return { markerName, details, workflowTaskCompletedEventId: a.int('workflowTaskCompletedEventId', 0) };
}
