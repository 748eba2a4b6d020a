import type { FailureRecord, RetryState, TimeoutType } from './failure.ts';

/** Temporal's retry policy. Durations are milliseconds once normalised. */
export interface RetryPolicy {
  initialInterval?: number | string;
  backoffCoefficient?: number;
  maximumInterval?: number | string;
  /** 0 or absent: unlimited. */
  maximumAttempts?: number;
  nonRetryableErrorTypes?: string[];
}

export interface ExecutionRef {
  workflowId: string;
  runId: string;
}

export type ParentClosePolicy = 'TERMINATE' | 'ABANDON' | 'REQUEST_CANCEL';
export type ChildWorkflowCancellationType =
  | 'ABANDON'
  | 'TRY_CANCEL'
  | 'WAIT_CANCELLATION_REQUESTED'
  | 'WAIT_CANCELLATION_COMPLETED';
export type WorkflowIdReusePolicy =
  | 'ALLOW_DUPLICATE'
  | 'ALLOW_DUPLICATE_FAILED_ONLY'
  | 'REJECT_DUPLICATE'
  | 'TERMINATE_IF_RUNNING';
export type WorkflowIdConflictPolicy = 'FAIL' | 'USE_EXISTING';

/** Attributes of each event type, keyed by Temporal's event type names. */
/** What starting a child says: the command asks it, the Initiated event records it. */
export interface ChildWorkflowStart {
  workflowId: string;
  workflowType: string;
  taskQueue: string;
  input: unknown[];
  workflowExecutionTimeout?: number;
  workflowRunTimeout?: number;
  workflowTaskTimeout?: number;
  retryPolicy?: RetryPolicy;
  parentClosePolicy: ParentClosePolicy;
  cancellationType: ChildWorkflowCancellationType;
  workflowIdReusePolicy: WorkflowIdReusePolicy;
  workflowIdConflictPolicy: WorkflowIdConflictPolicy;
  memo?: Record<string, unknown>;
}

export interface EventAttributes {
  WorkflowExecutionStarted: {
    workflowType: string;
    taskQueue: string;
    input: unknown[];
    /** Seeds the run's randomness (what workflow code sees as random numbers and `uuid4`). */
    randomnessSeed: number;
    attempt: number;
    firstExecutionRunId: string;
    originalExecutionRunId: string;
    continuedExecutionRunId?: string;
    /** A retry's backoff in ms: the run's first workflow task waited this long. */
    firstWorkflowTaskBackoff?: number;
    workflowExecutionTimeout?: number;
    workflowRunTimeout?: number;
    workflowTaskTimeout?: number;
    /** Absolute deadline of the whole execution (across retries and continue-as-new). */
    workflowExecutionExpirationTime?: number;
    retryPolicy?: RetryPolicy;
    memo?: Record<string, unknown>;
    parentWorkflowExecution?: ExecutionRef;
    parentInitiatedEventId?: number;
    rootWorkflowExecution?: ExecutionRef;
    parentClosePolicy?: ParentClosePolicy;
    identity?: string;
  };
  WorkflowTaskScheduled: { taskQueue: string; attempt: number };
  WorkflowTaskStarted: { scheduledEventId: number; identity: string };
  WorkflowTaskCompleted: { scheduledEventId: number; startedEventId: number; identity: string };
  WorkflowTaskFailed: {
    scheduledEventId: number;
    startedEventId: number;
    cause: 'NON_DETERMINISTIC_ERROR' | 'WORKFLOW_WORKER_UNHANDLED_FAILURE' | 'UNHANDLED_COMMAND';
    failure: FailureRecord;
    identity: string;
  };
  WorkflowTaskTimedOut: { scheduledEventId: number; startedEventId: number; timeoutType: TimeoutType };
  ActivityTaskScheduled: {
    activityId: string;
    activityType: string;
    taskQueue: string;
    input: unknown[];
    scheduleToCloseTimeout?: number;
    startToCloseTimeout?: number;
    heartbeatTimeout?: number;
    retryPolicy?: RetryPolicy;
    workflowTaskCompletedEventId: number;
  };
  ActivityTaskStarted: { scheduledEventId: number; attempt: number; identity: string };
  ActivityTaskCompleted: { scheduledEventId: number; startedEventId: number; result: unknown };
  ActivityTaskFailed: {
    scheduledEventId: number;
    startedEventId: number;
    failure: FailureRecord;
    retryState: RetryState;
  };
  ActivityTaskTimedOut: {
    scheduledEventId: number;
    startedEventId: number;
    failure: FailureRecord;
    retryState: RetryState;
  };
  ActivityTaskCancelRequested: { scheduledEventId: number; workflowTaskCompletedEventId: number };
  ActivityTaskCanceled: { scheduledEventId: number; startedEventId?: number; details?: unknown[] };
  TimerStarted: { timerId: string; startToFireTimeout: number; workflowTaskCompletedEventId: number };
  TimerFired: { timerId: string; startedEventId: number };
  TimerCanceled: { timerId: string; startedEventId: number; workflowTaskCompletedEventId: number };
  WorkflowExecutionSignaled: { signalName: string; input: unknown[]; identity?: string };
  WorkflowExecutionCancelRequested: { cause?: string; identity?: string; externalInitiatedEventId?: number };
  WorkflowExecutionUpdateAccepted: { protocolInstanceId: string; name: string; input: unknown[] };
  WorkflowExecutionUpdateCompleted: {
    protocolInstanceId: string;
    acceptedEventId: number;
    outcome: { success: unknown } | { failure: FailureRecord };
  };
  MarkerRecorded: {
    markerName: string;
    details: Record<string, unknown>;
    workflowTaskCompletedEventId: number;
  };
  StartChildWorkflowExecutionInitiated: ChildWorkflowStart & { workflowTaskCompletedEventId: number };
  StartChildWorkflowExecutionFailed: {
    workflowId: string;
    workflowType: string;
    cause: 'WORKFLOW_ALREADY_EXISTS';
    initiatedEventId: number;
  };
  ChildWorkflowExecutionStarted: {
    workflowExecution: ExecutionRef;
    workflowType: string;
    initiatedEventId: number;
  };
  ChildWorkflowExecutionCompleted: {
    workflowExecution: ExecutionRef;
    workflowType: string;
    initiatedEventId: number;
    startedEventId: number;
    result: unknown;
  };
  ChildWorkflowExecutionFailed: {
    workflowExecution: ExecutionRef;
    workflowType: string;
    initiatedEventId: number;
    startedEventId: number;
    failure: FailureRecord;
    retryState: RetryState;
  };
  ChildWorkflowExecutionCanceled: {
    workflowExecution: ExecutionRef;
    workflowType: string;
    initiatedEventId: number;
    startedEventId: number;
    details?: unknown[];
  };
  ChildWorkflowExecutionTimedOut: {
    workflowExecution: ExecutionRef;
    workflowType: string;
    initiatedEventId: number;
    startedEventId: number;
    retryState: RetryState;
  };
  ChildWorkflowExecutionTerminated: {
    workflowExecution: ExecutionRef;
    workflowType: string;
    initiatedEventId: number;
    startedEventId: number;
  };
  SignalExternalWorkflowExecutionInitiated: {
    workflowExecution: { workflowId: string; runId?: string };
    signalName: string;
    input: unknown[];
    childWorkflowOnly: boolean;
    workflowTaskCompletedEventId: number;
  };
  ExternalWorkflowExecutionSignaled: {
    initiatedEventId: number;
    workflowExecution: { workflowId: string; runId?: string };
  };
  SignalExternalWorkflowExecutionFailed: {
    initiatedEventId: number;
    workflowExecution: { workflowId: string; runId?: string };
    cause: 'EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND';
  };
  RequestCancelExternalWorkflowExecutionInitiated: {
    workflowExecution: { workflowId: string; runId?: string };
    childWorkflowOnly: boolean;
    workflowTaskCompletedEventId: number;
  };
  ExternalWorkflowExecutionCancelRequested: {
    initiatedEventId: number;
    workflowExecution: { workflowId: string; runId?: string };
  };
  RequestCancelExternalWorkflowExecutionFailed: {
    initiatedEventId: number;
    workflowExecution: { workflowId: string; runId?: string };
    cause: 'EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND';
  };
  WorkflowExecutionCompleted: { result: unknown; workflowTaskCompletedEventId: number };
  WorkflowExecutionFailed: {
    failure: FailureRecord;
    retryState: RetryState;
    workflowTaskCompletedEventId: number;
    newExecutionRunId?: string;
  };
  WorkflowExecutionCanceled: { details?: unknown[]; workflowTaskCompletedEventId: number };
  WorkflowExecutionTerminated: { reason: string; identity?: string };
  WorkflowExecutionTimedOut: { retryState: RetryState; newExecutionRunId?: string };
  WorkflowExecutionContinuedAsNew: {
    newExecutionRunId: string;
    workflowType: string;
    taskQueue: string;
    input: unknown[];
    workflowRunTimeout?: number;
    workflowTaskTimeout?: number;
    workflowTaskCompletedEventId: number;
  };
}

export type EventType = keyof EventAttributes;

/** One entry of a run's history. `eventId` counts 1, 2, 3 ... per run. */
export type HistoryEvent = {
  [K in EventType]: { eventId: number; eventTime: number; eventType: K; attributes: EventAttributes[K] };
}[EventType];

export type EventOf<K extends EventType> = Extract<HistoryEvent, { eventType: K }>;

/** Every status an execution can have (SPEC 3.3). */
/**
 * Every event type weft records (SPEC section 4), in the order of its table. Typed against
 * {@link EventAttributes}: a type added there and missing here does not compile.
 */
export const EVENT_TYPES = [
  'WorkflowExecutionStarted',
  'WorkflowTaskScheduled',
  'WorkflowTaskStarted',
  'WorkflowTaskCompleted',
  'WorkflowTaskFailed',
  'WorkflowTaskTimedOut',
  'ActivityTaskScheduled',
  'ActivityTaskStarted',
  'ActivityTaskCompleted',
  'ActivityTaskFailed',
  'ActivityTaskTimedOut',
  'ActivityTaskCancelRequested',
  'ActivityTaskCanceled',
  'TimerStarted',
  'TimerFired',
  'TimerCanceled',
  'WorkflowExecutionSignaled',
  'WorkflowExecutionCancelRequested',
  'WorkflowExecutionUpdateAccepted',
  'WorkflowExecutionUpdateCompleted',
  'MarkerRecorded',
  'StartChildWorkflowExecutionInitiated',
  'StartChildWorkflowExecutionFailed',
  'ChildWorkflowExecutionStarted',
  'ChildWorkflowExecutionCompleted',
  'ChildWorkflowExecutionFailed',
  'ChildWorkflowExecutionCanceled',
  'ChildWorkflowExecutionTimedOut',
  'ChildWorkflowExecutionTerminated',
  'SignalExternalWorkflowExecutionInitiated',
  'ExternalWorkflowExecutionSignaled',
  'SignalExternalWorkflowExecutionFailed',
  'RequestCancelExternalWorkflowExecutionInitiated',
  'ExternalWorkflowExecutionCancelRequested',
  'RequestCancelExternalWorkflowExecutionFailed',
  'WorkflowExecutionCompleted',
  'WorkflowExecutionFailed',
  'WorkflowExecutionCanceled',
  'WorkflowExecutionTerminated',
  'WorkflowExecutionTimedOut',
  'WorkflowExecutionContinuedAsNew',
] as const satisfies readonly EventType[];
// Both ways: each type of EventAttributes is in the list.
const everyEventType: Exclude<EventType, (typeof EVENT_TYPES)[number]> extends never ? true : never = true;
void everyEventType;

export const EXECUTION_STATUSES = [
  'RUNNING',
  'COMPLETED',
  'FAILED',
  'CANCELED',
  'TERMINATED',
  'TIMED_OUT',
  'CONTINUED_AS_NEW',
] as const;

export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number];

const closingEvents: Partial<Record<EventType, ExecutionStatus>> = {
  WorkflowExecutionCompleted: 'COMPLETED',
  WorkflowExecutionFailed: 'FAILED',
  WorkflowExecutionCanceled: 'CANCELED',
  WorkflowExecutionTerminated: 'TERMINATED',
  WorkflowExecutionTimedOut: 'TIMED_OUT',
  WorkflowExecutionContinuedAsNew: 'CONTINUED_AS_NEW',
};

/** The status a closing event leaves the run in, or undefined for any other event. */
export function closingStatus(eventType: EventType): ExecutionStatus | undefined {
  return closingEvents[eventType];
}
