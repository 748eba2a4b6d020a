import { type EventType, type HistoryEvent, InvalidArgumentError } from '../engine/index.ts';
import { fromRetryState, fromTimeoutType } from './failures.ts';
import {
  attributesKey,
  Fields,
  fromEnum,
  fromEventTypeName,
  type Payloads,
  type TemporalHistory,
} from './json.ts';
import {
  childStart,
  execution,
  failure,
  KNOWN,
  marker,
  optional,
  payloads,
  retry,
  started,
  TASK_FAILED,
  target,
} from './read.ts';
import { fromDuration, fromSinglePayload, fromTimestamp } from './values.ts';

/**
 * Converts Temporal's JSON history (as `temporal workflow show --output json` writes it, or
 * {@link toTemporalHistory} made it) to weft's, for `replayHistory` or a look at a cluster's
 * run in weft's terms. Either spelling of event types is read (`EVENT_TYPE_TIMER_FIRED`,
 * `TimerFired`).
 *
 * @example
 * const { events } = fromTemporalHistory(JSON.parse(await readFile('history.json', 'utf8')));
 * @throws InvalidArgumentError naming every event type weft does not know (local activities'
 *   markers are read, but nothing weft runs replays them), and any malformed field.
 */
export function fromTemporalHistory(json: unknown): { events: HistoryEvent[] } {
  const history = json as Partial<TemporalHistory> | null;
  if (typeof history !== 'object' || history === null || !Array.isArray(history.events)) {
    throw new InvalidArgumentError('A Temporal history is an object with an array of events');
  }
  const raw = history.events.map((e, i) => new Fields(e, `event ${i + 1}`));
  const unknown = [
    ...new Set(raw.map((e) => fromEventTypeName(e.str('eventType'))).filter((t) => !KNOWN.has(t))),
  ];
  if (unknown.length > 0) {
    throw new InvalidArgumentError(
      `weft does not support these Temporal event types: ${unknown.join(', ')} (the history cannot replay in weft)`,
    );
  }
  let taskQueue = '';
  const events = raw.map((e): HistoryEvent => {
    const eventType = fromEventTypeName(e.str('eventType')) as EventType;
    const eventId = e.int('eventId');
    const a = e.obj(attributesKey(eventType));
    const attributes = convert(eventType, a, taskQueue);
    if (eventType === 'WorkflowExecutionStarted') taskQueue = a.named('taskQueue');
    return { eventId, eventTime: fromTimestamp(e.str('eventTime')), eventType, attributes } as HistoryEvent;
  });
  return { events };
}

function child(a: Fields) {
  return {
    workflowExecution: execution(a.obj('workflowExecution')),
    workflowType: a.named('workflowType'),
    initiatedEventId: a.int('initiatedEventId'),
  };
}

/** The weft attributes of one Temporal event. `taskQueue`: the run's, for workflow tasks. */
function convert(type: EventType, a: Fields, taskQueue: string): HistoryEvent['attributes'] {
  const completedId = () => a.int('workflowTaskCompletedEventId', 0);
  const identity = a.str('identity', '');
  switch (type) {
    case 'WorkflowExecutionStarted':
      return started(a);
    case 'WorkflowTaskScheduled':
      return {
        taskQueue: a.has('taskQueue') ? a.named('taskQueue') : taskQueue,
        attempt: a.int('attempt', 1),
      };
    case 'WorkflowTaskStarted':
      return { scheduledEventId: a.int('scheduledEventId'), identity };
    case 'WorkflowTaskCompleted':
      return {
        scheduledEventId: a.int('scheduledEventId'),
        startedEventId: a.int('startedEventId'),
        identity,
      };
    case 'WorkflowTaskFailed':
      return {
        scheduledEventId: a.int('scheduledEventId'),
        startedEventId: a.int('startedEventId'),
        cause: fromEnum(
          'WORKFLOW_TASK_FAILED_CAUSE',
          a.str('cause', 'WORKFLOW_WORKER_UNHANDLED_FAILURE'),
          TASK_FAILED,
        ),
        failure: failure(a, 'failure'),
        identity,
      };
    case 'WorkflowTaskTimedOut':
      return {
        scheduledEventId: a.int('scheduledEventId'),
        startedEventId: a.int('startedEventId'),
        timeoutType: fromTimeoutType(a.str('timeoutType', 'START_TO_CLOSE')),
      };
    case 'ActivityTaskScheduled':
      return {
        activityId: a.str('activityId'),
        activityType: a.named('activityType'),
        taskQueue: a.has('taskQueue') ? a.named('taskQueue') : taskQueue,
        input: payloads(a, 'input'),
        ...optional(a, {
          scheduleToCloseTimeout: 'duration',
          startToCloseTimeout: 'duration',
          heartbeatTimeout: 'duration',
        }),
        ...retry(a),
        workflowTaskCompletedEventId: completedId(),
      };
    case 'ActivityTaskStarted':
      return { scheduledEventId: a.int('scheduledEventId'), attempt: a.int('attempt', 1), identity };
    case 'ActivityTaskCompleted':
      return {
        scheduledEventId: a.int('scheduledEventId'),
        startedEventId: a.int('startedEventId'),
        result: fromSinglePayload(a.message<Payloads>('result')),
      };
    case 'ActivityTaskFailed':
    case 'ActivityTaskTimedOut':
      return {
        scheduledEventId: a.int('scheduledEventId'),
        startedEventId: a.int('startedEventId'),
        failure: failure(a, 'failure'),
        retryState: fromRetryState(a.optStr('retryState')),
      };
    case 'ActivityTaskCancelRequested':
      return { scheduledEventId: a.int('scheduledEventId'), workflowTaskCompletedEventId: completedId() };
    case 'ActivityTaskCanceled':
      return {
        scheduledEventId: a.int('scheduledEventId'),
        ...optional(a, { startedEventId: 'int' }),
        ...(a.has('details') ? { details: payloads(a, 'details') } : {}),
      };
    case 'TimerStarted':
      return {
        timerId: a.str('timerId'),
        startToFireTimeout: fromDuration(a.str('startToFireTimeout', '0s')),
        workflowTaskCompletedEventId: completedId(),
      };
    case 'TimerFired':
      return { timerId: a.str('timerId'), startedEventId: a.int('startedEventId') };
    case 'TimerCanceled':
      return {
        timerId: a.str('timerId'),
        startedEventId: a.int('startedEventId'),
        workflowTaskCompletedEventId: completedId(),
      };
    case 'WorkflowExecutionSignaled':
      return {
        signalName: a.str('signalName'),
        input: payloads(a, 'input'),
        ...optional(a, { identity: 'str' }),
      };
    case 'WorkflowExecutionCancelRequested':
      return optional(a, { cause: 'str', identity: 'str', externalInitiatedEventId: 'int' });
    case 'WorkflowExecutionUpdateAccepted': {
      const request = a.obj('acceptedRequest');
      const input = request.obj('input');
      return {
        protocolInstanceId: a.str('protocolInstanceId'),
        name: input.str('name'),
        input: payloads(input, 'args'),
      };
    }
    case 'WorkflowExecutionUpdateCompleted': {
      const outcome = a.obj('outcome');
      return {
        protocolInstanceId: a.obj('meta').str('updateId'),
        acceptedEventId: a.int('acceptedEventId'),
        outcome: outcome.has('failure')
          ? { failure: failure(outcome, 'failure') }
          : { success: fromSinglePayload(outcome.message<Payloads>('success')) },
      };
    }
    case 'MarkerRecorded':
      return marker(a);
    case 'StartChildWorkflowExecutionInitiated':
      return { ...childStart(a), workflowTaskCompletedEventId: completedId() };
    case 'StartChildWorkflowExecutionFailed':
      return {
        workflowId: a.str('workflowId'),
        workflowType: a.named('workflowType'),
        cause: fromEnum('START_CHILD_WORKFLOW_EXECUTION_FAILED_CAUSE', a.str('cause'), [
          'WORKFLOW_ALREADY_EXISTS',
        ] as const),
        initiatedEventId: a.int('initiatedEventId'),
      };
    case 'ChildWorkflowExecutionStarted':
      return child(a);
    case 'ChildWorkflowExecutionCompleted':
      return {
        ...child(a),
        startedEventId: a.int('startedEventId'),
        result: fromSinglePayload(a.message<Payloads>('result')),
      };
    case 'ChildWorkflowExecutionFailed':
      return {
        ...child(a),
        startedEventId: a.int('startedEventId'),
        failure: failure(a, 'failure'),
        retryState: fromRetryState(a.optStr('retryState')),
      };
    case 'ChildWorkflowExecutionCanceled':
      return {
        ...child(a),
        startedEventId: a.int('startedEventId'),
        ...(a.has('details') ? { details: payloads(a, 'details') } : {}),
      };
    case 'ChildWorkflowExecutionTimedOut':
      return {
        ...child(a),
        startedEventId: a.int('startedEventId'),
        retryState: fromRetryState(a.optStr('retryState')),
      };
    case 'ChildWorkflowExecutionTerminated':
      return { ...child(a), startedEventId: a.int('startedEventId') };
    case 'SignalExternalWorkflowExecutionInitiated':
      return {
        workflowExecution: target(a.obj('workflowExecution')),
        signalName: a.str('signalName'),
        input: payloads(a, 'input'),
        childWorkflowOnly: a.bool('childWorkflowOnly'),
        workflowTaskCompletedEventId: completedId(),
      };
    case 'RequestCancelExternalWorkflowExecutionInitiated':
      return {
        workflowExecution: target(a.obj('workflowExecution')),
        childWorkflowOnly: a.bool('childWorkflowOnly'),
        workflowTaskCompletedEventId: completedId(),
      };
    case 'ExternalWorkflowExecutionSignaled':
    case 'ExternalWorkflowExecutionCancelRequested':
      return {
        initiatedEventId: a.int('initiatedEventId'),
        workflowExecution: target(a.obj('workflowExecution')),
      };
    case 'SignalExternalWorkflowExecutionFailed':
    case 'RequestCancelExternalWorkflowExecutionFailed': {
      const prefix =
        type === 'SignalExternalWorkflowExecutionFailed'
          ? 'SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE'
          : 'CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE';
      return {
        initiatedEventId: a.int('initiatedEventId'),
        workflowExecution: target(a.obj('workflowExecution')),
        cause: fromEnum(prefix, a.str('cause'), ['EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND'] as const),
      };
    }
    case 'WorkflowExecutionCompleted':
      return {
        result: fromSinglePayload(a.message<Payloads>('result')),
        workflowTaskCompletedEventId: completedId(),
      };
    case 'WorkflowExecutionFailed':
      return {
        failure: failure(a, 'failure'),
        retryState: fromRetryState(a.optStr('retryState')),
        workflowTaskCompletedEventId: completedId(),
        ...optional(a, { newExecutionRunId: 'str' }),
      };
    case 'WorkflowExecutionCanceled':
      return {
        ...(a.has('details') ? { details: payloads(a, 'details') } : {}),
        workflowTaskCompletedEventId: completedId(),
      };
    case 'WorkflowExecutionTerminated':
      return { reason: a.str('reason', ''), ...optional(a, { identity: 'str' }) };
    case 'WorkflowExecutionTimedOut':
      return {
        retryState: fromRetryState(a.optStr('retryState')),
        ...optional(a, { newExecutionRunId: 'str' }),
      };
    case 'WorkflowExecutionContinuedAsNew':
      return {
        newExecutionRunId: a.str('newExecutionRunId'),
        workflowType: a.named('workflowType'),
        taskQueue: a.named('taskQueue'),
        input: payloads(a, 'input'),
        ...optional(a, { workflowRunTimeout: 'duration', workflowTaskTimeout: 'duration' }),
        workflowTaskCompletedEventId: completedId(),
      };
  }
}
