import type { EventAttributes, HistoryEvent } from '../engine/index.ts';
import { toTemporalFailure } from './failures.ts';
import {
  attributesKey,
  type TemporalHistory,
  type TemporalHistoryEvent,
  toEnum,
  toEventTypeName,
} from './json.ts';
import { toDuration, toPayloads, toRetryPolicy, toTimestamp } from './values.ts';
import {
  type Attributes,
  childStart,
  DEFAULT_WORKFLOW_TASK_TIMEOUT,
  durations,
  execution,
  ids,
  marker,
  NAMESPACE,
  started,
  taskQueue,
  type,
} from './write.ts';

/**
 * The lang flags a Temporal TypeScript worker records in its first workflow task: weft's
 * semantics are those of the SDK with them set (non-cancellable scopes are shielded from
 * their parent's cancellation; an activation's jobs are handled as one batch).
 */
const LANG_FLAGS = [1, 2];

/**
 * Converts a weft history (what `handle.fetchHistory()` returns) to Temporal's JSON history,
 * the format `temporal workflow show --output json` writes: replay it with Temporal's
 * `Worker.runReplayHistory`, or keep it as a replay test for code that moved to Temporal.
 *
 * @example
 * const json = toTemporalHistory(await handle.fetchHistory());
 * await Worker.runReplayHistory({ workflowsPath }, historyFromJSON(json));
 */
export function toTemporalHistory(history: { events: readonly HistoryEvent[] }): TemporalHistory {
  const byId = new Map(history.events.map((e) => [e.eventId, e]));
  const started = history.events.find((e) => e.eventType === 'WorkflowExecutionStarted');
  const taskTimeout =
    (started?.eventType === 'WorkflowExecutionStarted' && started.attributes.workflowTaskTimeout) ||
    DEFAULT_WORKFLOW_TASK_TIMEOUT;
  let lastTaskStarted = 0;
  let firstTaskCompleted = true;
  const events = history.events.map((event): TemporalHistoryEvent => {
    let attributes: Attributes;
    if (event.eventType === 'WorkflowTaskScheduled') {
      attributes = {
        taskQueue: taskQueue(event.attributes.taskQueue),
        startToCloseTimeout: toDuration(taskTimeout),
        attempt: event.attributes.attempt,
      };
    } else if (event.eventType === 'WorkflowTaskCompleted') {
      attributes = { ...ids(event.attributes), identity: event.attributes.identity };
      if (firstTaskCompleted) attributes.sdkMetadata = { langUsedFlags: LANG_FLAGS };
      firstTaskCompleted = false;
    } else if (event.eventType === 'WorkflowExecutionUpdateAccepted') {
      const a = event.attributes;
      attributes = {
        protocolInstanceId: a.protocolInstanceId,
        acceptedRequestMessageId: `${a.protocolInstanceId}/request`,
        acceptedRequestSequencingEventId: String(lastTaskStarted),
        acceptedRequest: {
          meta: { updateId: a.protocolInstanceId, identity: 'client' },
          input: { name: a.name, args: toPayloads(a.input) },
        },
      };
    } else {
      attributes = convert(event, (id) => byId.get(id));
    }
    if (event.eventType === 'WorkflowTaskStarted') lastTaskStarted = event.eventId;
    return {
      eventId: String(event.eventId),
      eventTime: toTimestamp(event.eventTime),
      eventType: toEventTypeName(event.eventType),
      [attributesKey(event.eventType)]: attributes,
    };
  });
  return { events };
}

/** The attributes of every other event type. */
function convert(event: HistoryEvent, find: (eventId: number) => HistoryEvent | undefined): Attributes {
  /** The task that initiated a command, found from the event that records its outcome. */
  const completedIdOf = (initiatedEventId: number) => {
    const initiated = find(initiatedEventId)?.attributes as
      | { workflowTaskCompletedEventId?: number }
      | undefined;
    return String(initiated?.workflowTaskCompletedEventId ?? 0);
  };
  switch (event.eventType) {
    case 'WorkflowExecutionStarted':
      return started(event.attributes);
    case 'WorkflowTaskStarted':
      return { ...ids(event.attributes), identity: event.attributes.identity, historySizeBytes: '0' };
    case 'WorkflowTaskFailed': {
      const a = event.attributes;
      return {
        ...ids(a),
        cause: toEnum('WORKFLOW_TASK_FAILED_CAUSE', a.cause),
        failure: toTemporalFailure(a.failure),
        identity: a.identity,
      };
    }
    case 'WorkflowTaskTimedOut':
      return { ...ids(event.attributes), timeoutType: toEnum('TIMEOUT_TYPE', event.attributes.timeoutType) };
    case 'ActivityTaskScheduled': {
      const a = event.attributes;
      return {
        activityId: a.activityId,
        activityType: type(a.activityType),
        taskQueue: taskQueue(a.taskQueue),
        input: toPayloads(a.input),
        ...durations(a, ['scheduleToCloseTimeout', 'startToCloseTimeout', 'heartbeatTimeout']),
        ...ids(a),
        ...(a.retryPolicy ? { retryPolicy: toRetryPolicy(a.retryPolicy) } : {}),
      };
    }
    case 'ActivityTaskStarted':
      return {
        ...ids(event.attributes),
        identity: event.attributes.identity,
        attempt: event.attributes.attempt,
      };
    case 'ActivityTaskCompleted':
      return { ...ids(event.attributes), result: toPayloads([event.attributes.result]) };
    case 'ActivityTaskFailed':
    case 'ActivityTaskTimedOut':
      return {
        ...ids(event.attributes),
        failure: toTemporalFailure(event.attributes.failure),
        retryState: event.attributes.retryState,
      };
    case 'ActivityTaskCancelRequested':
      return ids(event.attributes);
    case 'ActivityTaskCanceled':
      return {
        ...ids(event.attributes),
        ...(event.attributes.details ? { details: toPayloads(event.attributes.details) } : {}),
      };
    case 'TimerStarted':
      return {
        timerId: event.attributes.timerId,
        startToFireTimeout: toDuration(event.attributes.startToFireTimeout),
        ...ids(event.attributes),
      };
    case 'TimerFired':
    case 'TimerCanceled':
      return { timerId: event.attributes.timerId, ...ids(event.attributes) };
    case 'WorkflowExecutionSignaled':
      return {
        signalName: event.attributes.signalName,
        input: toPayloads(event.attributes.input),
        ...(event.attributes.identity !== undefined ? { identity: event.attributes.identity } : {}),
      };
    case 'WorkflowExecutionCancelRequested': {
      const a = event.attributes;
      return {
        ...(a.cause !== undefined ? { cause: a.cause } : {}),
        ...(a.identity !== undefined ? { identity: a.identity } : {}),
        ...ids(a),
      };
    }
    case 'WorkflowExecutionUpdateCompleted': {
      const a = event.attributes;
      return {
        meta: { updateId: a.protocolInstanceId },
        acceptedEventId: String(a.acceptedEventId),
        outcome:
          'failure' in a.outcome
            ? { failure: toTemporalFailure(a.outcome.failure) }
            : { success: toPayloads([a.outcome.success]) },
      };
    }
    case 'MarkerRecorded':
      return marker(event.attributes);
    case 'StartChildWorkflowExecutionInitiated':
      return { ...childStart(event.attributes), ...ids(event.attributes) };
    case 'StartChildWorkflowExecutionFailed':
      return {
        namespace: NAMESPACE,
        workflowId: event.attributes.workflowId,
        workflowType: type(event.attributes.workflowType),
        cause: toEnum('START_CHILD_WORKFLOW_EXECUTION_FAILED_CAUSE', event.attributes.cause),
        ...ids(event.attributes),
        workflowTaskCompletedEventId: completedIdOf(event.attributes.initiatedEventId),
      };
    case 'ChildWorkflowExecutionStarted':
    case 'ChildWorkflowExecutionCompleted':
    case 'ChildWorkflowExecutionFailed':
    case 'ChildWorkflowExecutionCanceled':
    case 'ChildWorkflowExecutionTimedOut':
    case 'ChildWorkflowExecutionTerminated': {
      const a = event.attributes as EventAttributes['ChildWorkflowExecutionFailed'] &
        EventAttributes['ChildWorkflowExecutionCompleted'] &
        EventAttributes['ChildWorkflowExecutionCanceled'];
      const out: Attributes = {
        namespace: NAMESPACE,
        workflowExecution: execution(a.workflowExecution),
        workflowType: type(a.workflowType),
        ...ids(a),
      };
      if (event.eventType === 'ChildWorkflowExecutionCompleted') out.result = toPayloads([a.result]);
      if (event.eventType === 'ChildWorkflowExecutionFailed') out.failure = toTemporalFailure(a.failure);
      if (a.retryState !== undefined) out.retryState = a.retryState;
      if (a.details !== undefined) out.details = toPayloads(a.details);
      return out;
    }
    case 'SignalExternalWorkflowExecutionInitiated': {
      const a = event.attributes;
      return {
        ...ids(a),
        namespace: NAMESPACE,
        workflowExecution: execution(a.workflowExecution),
        signalName: a.signalName,
        input: toPayloads(a.input),
        childWorkflowOnly: a.childWorkflowOnly,
      };
    }
    case 'RequestCancelExternalWorkflowExecutionInitiated': {
      const a = event.attributes;
      return {
        ...ids(a),
        namespace: NAMESPACE,
        workflowExecution: execution(a.workflowExecution),
        childWorkflowOnly: a.childWorkflowOnly,
      };
    }
    case 'ExternalWorkflowExecutionSignaled':
    case 'ExternalWorkflowExecutionCancelRequested':
      return {
        ...ids(event.attributes),
        namespace: NAMESPACE,
        workflowExecution: execution(event.attributes.workflowExecution),
      };
    case 'SignalExternalWorkflowExecutionFailed':
    case 'RequestCancelExternalWorkflowExecutionFailed': {
      const prefix =
        event.eventType === 'SignalExternalWorkflowExecutionFailed'
          ? 'SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE'
          : 'CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE';
      return {
        cause: toEnum(prefix, event.attributes.cause),
        workflowTaskCompletedEventId: completedIdOf(event.attributes.initiatedEventId),
        namespace: NAMESPACE,
        workflowExecution: execution(event.attributes.workflowExecution),
        ...ids(event.attributes),
      };
    }
    case 'WorkflowExecutionCompleted':
      return { result: toPayloads([event.attributes.result]), ...ids(event.attributes) };
    case 'WorkflowExecutionFailed': {
      const a = event.attributes;
      return {
        failure: toTemporalFailure(a.failure),
        retryState: a.retryState,
        ...ids(a),
        ...(a.newExecutionRunId !== undefined ? { newExecutionRunId: a.newExecutionRunId } : {}),
      };
    }
    case 'WorkflowExecutionCanceled':
      return {
        ...ids(event.attributes),
        ...(event.attributes.details ? { details: toPayloads(event.attributes.details) } : {}),
      };
    case 'WorkflowExecutionTerminated':
      return {
        reason: event.attributes.reason,
        ...(event.attributes.identity !== undefined ? { identity: event.attributes.identity } : {}),
      };
    case 'WorkflowExecutionTimedOut':
      return {
        retryState: event.attributes.retryState,
        ...(event.attributes.newExecutionRunId !== undefined
          ? { newExecutionRunId: event.attributes.newExecutionRunId }
          : {}),
      };
    case 'WorkflowExecutionContinuedAsNew': {
      const a = event.attributes;
      return {
        newExecutionRunId: a.newExecutionRunId,
        workflowType: type(a.workflowType),
        taskQueue: taskQueue(a.taskQueue),
        input: toPayloads(a.input),
        ...durations(a, ['workflowRunTimeout', 'workflowTaskTimeout']),
        ...ids(a),
        initiator: 'CONTINUE_AS_NEW_INITIATOR_WORKFLOW',
      };
    }
    default:
      // Handled by the caller: WorkflowTaskScheduled, WorkflowTaskCompleted, WorkflowExecutionUpdateAccepted.
      return {};
  }
}
