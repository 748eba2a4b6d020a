import type { FailureRecord, RetryState, TimeoutType } from '../engine/index.ts';
import { fromEnum, type TemporalFailure, toEnum } from './json.ts';
import { fromPayloads, toPayloads } from './values.ts';

/*
 * weft's failure records and Temporal's `Failure` messages: the class is the failure info
 * (`applicationFailureInfo`, `timeoutFailureInfo`, ...), the cause chain is `cause`.
 */

export const RETRY_STATES: readonly RetryState[] = [
  'RETRY_STATE_UNSPECIFIED',
  'RETRY_STATE_IN_PROGRESS',
  'RETRY_STATE_NON_RETRYABLE_FAILURE',
  'RETRY_STATE_TIMEOUT',
  'RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED',
  'RETRY_STATE_RETRY_POLICY_NOT_SET',
  'RETRY_STATE_CANCEL_REQUESTED',
];
const TIMEOUT_TYPES: readonly TimeoutType[] = [
  'START_TO_CLOSE',
  'SCHEDULE_TO_START',
  'SCHEDULE_TO_CLOSE',
  'HEARTBEAT',
];

/** weft's retry states already carry Temporal's prefix. */
export function fromRetryState(value: string | undefined): RetryState {
  if (value === undefined || value === '') return 'RETRY_STATE_UNSPECIFIED';
  const bare = fromEnum('RETRY_STATE', value, [
    ...RETRY_STATES.map((s) => s.slice(12)),
    'INTERNAL_SERVER_ERROR',
  ]);
  // Temporal's INTERNAL_SERVER_ERROR has no weft counterpart.
  return bare === 'INTERNAL_SERVER_ERROR' ? 'RETRY_STATE_UNSPECIFIED' : (`RETRY_STATE_${bare}` as RetryState);
}

export const toTimeoutType = (value: TimeoutType): string => toEnum('TIMEOUT_TYPE', value);
export const fromTimeoutType = (value: string): TimeoutType => fromEnum('TIMEOUT_TYPE', value, TIMEOUT_TYPES);

/** A weft failure record as Temporal's `Failure`, its causes included. */
export function toTemporalFailure(record: FailureRecord): TemporalFailure {
  const failure: TemporalFailure = { message: record.message, source: 'TypeScriptSDK' };
  if (record.stack !== undefined) failure.stackTrace = record.stack;
  const details = record.details && toPayloads(record.details);
  switch (record.name) {
    case 'ActivityFailure':
      failure.activityFailureInfo = {
        activityType: { name: record.activityType ?? '' },
        activityId: record.activityId ?? '',
        retryState: record.retryState ?? 'RETRY_STATE_UNSPECIFIED',
      };
      break;
    case 'ChildWorkflowFailure':
      failure.childWorkflowExecutionFailureInfo = {
        namespace: 'default',
        workflowExecution: { ...(record.workflowExecution ?? { workflowId: '', runId: '' }) },
        workflowType: { name: record.workflowType ?? '' },
        retryState: record.retryState ?? 'RETRY_STATE_UNSPECIFIED',
      };
      break;
    case 'CancelledFailure':
      failure.canceledFailureInfo = details ? { details } : {};
      break;
    case 'TerminatedFailure':
      failure.terminatedFailureInfo = {};
      break;
    case 'TimeoutFailure':
      failure.timeoutFailureInfo = {
        timeoutType: toTimeoutType(record.timeoutType ?? 'START_TO_CLOSE'),
        ...(details ? { lastHeartbeatDetails: details } : {}),
      };
      break;
    case 'ServerFailure':
      failure.serverFailureInfo = { nonRetryable: record.nonRetryable ?? false };
      break;
    default:
      // ApplicationFailure, and any other error: Temporal's converter makes an application
      // failure of it, its type the error's name.
      failure.applicationFailureInfo = {
        type: record.type ?? (record.name === 'ApplicationFailure' ? '' : record.name),
        nonRetryable: record.nonRetryable ?? false,
        ...(details ? { details } : {}),
      };
  }
  if (record.cause) failure.cause = toTemporalFailure(record.cause);
  return failure;
}

/** A Temporal `Failure` as weft's failure record, its causes included. */
export function fromTemporalFailure(failure: TemporalFailure): FailureRecord {
  const record: FailureRecord = { name: 'ApplicationFailure', message: failure.message ?? '' };
  if (failure.stackTrace) record.stack = failure.stackTrace;
  if (failure.activityFailureInfo) {
    const info = failure.activityFailureInfo;
    record.name = 'ActivityFailure';
    record.activityType = info.activityType?.name ?? '';
    if (info.activityId) record.activityId = info.activityId;
    record.retryState = fromRetryState(info.retryState);
  } else if (failure.childWorkflowExecutionFailureInfo) {
    const info = failure.childWorkflowExecutionFailureInfo;
    record.name = 'ChildWorkflowFailure';
    record.workflowType = info.workflowType?.name ?? '';
    record.workflowExecution = {
      workflowId: info.workflowExecution?.workflowId ?? '',
      runId: info.workflowExecution?.runId ?? '',
    };
    record.retryState = fromRetryState(info.retryState);
  } else if (failure.canceledFailureInfo) {
    record.name = 'CancelledFailure';
    const details = fromPayloads(failure.canceledFailureInfo.details);
    if (details.length > 0) record.details = details;
  } else if (failure.terminatedFailureInfo) {
    record.name = 'TerminatedFailure';
  } else if (failure.timeoutFailureInfo) {
    record.name = 'TimeoutFailure';
    record.timeoutType = fromTimeoutType(failure.timeoutFailureInfo.timeoutType ?? 'START_TO_CLOSE');
    const details = fromPayloads(failure.timeoutFailureInfo.lastHeartbeatDetails);
    if (details.length > 0) record.details = details;
  } else if (failure.serverFailureInfo) {
    record.name = 'ServerFailure';
    record.nonRetryable = failure.serverFailureInfo.nonRetryable ?? false;
  } else {
    const info = failure.applicationFailureInfo ?? {};
    if (info.type) record.type = info.type;
    record.nonRetryable = info.nonRetryable ?? false;
    if (info.details) record.details = fromPayloads(info.details);
  }
  if (failure.cause) record.cause = fromTemporalFailure(failure.cause);
  return record;
}
