/**
 * Whether what the store handed out is what weft writes: a run's history, its execution record
 * and its inbox, checked before a run is replayed or its history handed out. What is not (an
 * unknown event type, a gap or a duplicate, a record cut short, a `__proto__` key: a foreign
 * or damaged record) quarantines the run rather than stop the engine (see `WorkflowTasks`).
 * Payloads (arguments, results, details) are the application's data, and are not looked into.
 */

import type { InboxKind } from '../../engine/inbox.ts';
import { EVENT_TYPES, type EventType, EXECUTION_STATUSES, type HistoryEvent } from '../../engine/index.ts';
import type { ExecutionRecord, InboxRecord } from '../../store/types.ts';

const EVENT_TYPE_SET: ReadonlySet<string> = new Set(EVENT_TYPES);
const STATUS_SET: ReadonlySet<string> = new Set(EXECUTION_STATUSES);

/** Every inbox kind (typed: a kind added to `InboxMessage` and missing here does not compile). */
const INBOX_KINDS: ReadonlySet<string> = new Set(
  Object.keys({
    signal: 0,
    cancelRequest: 0,
    update: 0,
    timerFired: 0,
    activityCompleted: 0,
    activityFailed: 0,
    activityTimedOut: 0,
    activityCanceled: 0,
    childStarted: 0,
    childStartFailed: 0,
    childCompleted: 0,
    childFailed: 0,
    childCanceled: 0,
    childTimedOut: 0,
    childTerminated: 0,
    externalSignaled: 0,
    externalSignalFailed: 0,
    externalCancelRequested: 0,
    externalCancelFailed: 0,
  } satisfies Record<InboxKind, 0>),
);

type Field = 'string' | 'number' | 'array' | 'object';

/** The attributes replay reads of each event type that has some: an event without them is cut short. */
const REQUIRED: Partial<Record<EventType, Record<string, Field>>> = {
  WorkflowExecutionStarted: {
    workflowType: 'string',
    taskQueue: 'string',
    input: 'array',
    randomnessSeed: 'number',
  },
  WorkflowTaskCompleted: { scheduledEventId: 'number' },
  WorkflowTaskFailed: { failure: 'object' },
  ActivityTaskScheduled: { activityId: 'string', activityType: 'string', input: 'array' },
  ActivityTaskCompleted: { scheduledEventId: 'number' },
  ActivityTaskFailed: { scheduledEventId: 'number', failure: 'object' },
  ActivityTaskTimedOut: { scheduledEventId: 'number', failure: 'object' },
  ActivityTaskCancelRequested: { scheduledEventId: 'number' },
  ActivityTaskCanceled: { scheduledEventId: 'number' },
  TimerStarted: { timerId: 'string', startToFireTimeout: 'number' },
  TimerFired: { timerId: 'string' },
  TimerCanceled: { timerId: 'string' },
  WorkflowExecutionSignaled: { signalName: 'string', input: 'array' },
  WorkflowExecutionUpdateAccepted: { protocolInstanceId: 'string', name: 'string', input: 'array' },
  WorkflowExecutionUpdateCompleted: { protocolInstanceId: 'string', outcome: 'object' },
  MarkerRecorded: { markerName: 'string', details: 'object' },
  StartChildWorkflowExecutionInitiated: { workflowId: 'string', workflowType: 'string', input: 'array' },
  StartChildWorkflowExecutionFailed: { initiatedEventId: 'number' },
  ChildWorkflowExecutionStarted: { initiatedEventId: 'number', workflowExecution: 'object' },
  ChildWorkflowExecutionCompleted: { initiatedEventId: 'number' },
  ChildWorkflowExecutionFailed: { initiatedEventId: 'number', failure: 'object' },
  ChildWorkflowExecutionCanceled: { initiatedEventId: 'number' },
  ChildWorkflowExecutionTimedOut: { initiatedEventId: 'number' },
  ChildWorkflowExecutionTerminated: { initiatedEventId: 'number' },
  SignalExternalWorkflowExecutionInitiated: {
    signalName: 'string',
    input: 'array',
    workflowExecution: 'object',
  },
  ExternalWorkflowExecutionSignaled: { initiatedEventId: 'number' },
  SignalExternalWorkflowExecutionFailed: { initiatedEventId: 'number' },
  RequestCancelExternalWorkflowExecutionInitiated: { workflowExecution: 'object' },
  ExternalWorkflowExecutionCancelRequested: { initiatedEventId: 'number' },
  RequestCancelExternalWorkflowExecutionFailed: { initiatedEventId: 'number' },
  WorkflowExecutionFailed: { failure: 'object' },
  WorkflowExecutionTerminated: { reason: 'string' },
  WorkflowExecutionContinuedAsNew: { newExecutionRunId: 'string', workflowType: 'string', input: 'array' },
};

/** The same, as lists, looked up once per event: a history may be 50,000 events long. */
const REQUIRED_FIELDS: ReadonlyMap<string, [string, Field][]> = new Map(
  Object.entries(REQUIRED).map(([type, fields]) => [type, Object.entries(fields)]),
);

/**
 * An object as IndexedDB hands records out (structured cloning makes plain ones) without a
 * `__proto__` key of its own.
 */
function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !Object.hasOwn(value, '__proto__')
  );
}

function hasType(value: unknown, field: Field): boolean {
  if (field === 'array') return Array.isArray(value);
  if (field === 'object') return typeof value === 'object' && value !== null;
  return typeof value === field && (field !== 'number' || Number.isFinite(value));
}

/**
 * What is wrong with a run's whole history, read for a record whose next event ID is
 * `nextEventId`, or undefined when nothing is: events 1 to `nextEventId - 1`, in order, each
 * once, each of a type weft records with the attributes replay reads.
 */
export function historyProblem(events: HistoryEvent[], nextEventId: number): string | undefined {
  for (let i = 0; i < events.length; i++) {
    const problem = eventProblem(events[i], i + 1);
    if (problem !== undefined) return problem;
  }
  if (events.length !== nextEventId - 1)
    return `the history ends at event ${events.length}, but the run has ${nextEventId - 1} events`;
  return undefined;
}

/** What is wrong with the event at `eventId` of a history. (Messages are built only when due.) */
function eventProblem(event: unknown, eventId: number): string | undefined {
  if (!isPlainRecord(event))
    return `event ${eventId} is not a record weft writes${hasProtoKey(event) ? ' (a __proto__ key)' : ''}`;
  const { eventType, eventTime, attributes } = event;
  if (event.eventId !== eventId) {
    return typeof event.eventId === 'number' && event.eventId < eventId
      ? `event ${event.eventId} appears twice (again after event ${eventId - 1})`
      : `the history skips from event ${eventId - 1} to ${String(event.eventId)}`;
  }
  if (typeof eventType !== 'string' || !EVENT_TYPE_SET.has(eventType))
    return `event ${eventId} has an unknown event type ${JSON.stringify(eventType) ?? 'undefined'}`;
  if (typeof eventTime !== 'number' || !Number.isFinite(eventTime))
    return `event ${eventId} (${eventType}) has no event time`;
  if (!isPlainRecord(attributes))
    return `event ${eventId} (${eventType}) has ${hasProtoKey(attributes) ? 'a __proto__ key in its attributes' : 'no attributes'}`;
  const required = REQUIRED_FIELDS.get(eventType);
  if (required === undefined) return undefined;
  for (const [field, type] of required)
    if (!hasType(attributes[field], type)) return `event ${eventId} (${eventType}) is cut short: no ${field}`;
  return undefined;
}

/** What is wrong with an execution record, or undefined when nothing is. */
export function executionProblem(exec: ExecutionRecord): string | undefined {
  if (!isPlainRecord(exec))
    return `its execution record is not one weft writes${hasProtoKey(exec) ? ' (a __proto__ key)' : ''}`;
  const { workflowId, workflowType, taskQueue, status, nextEventId } = exec as unknown as Record<
    string,
    unknown
  >;
  if (typeof workflowId !== 'string' || typeof workflowType !== 'string' || typeof taskQueue !== 'string')
    return 'its execution record is cut short (no workflow ID, type or task queue)';
  if (typeof status !== 'string' || !STATUS_SET.has(status))
    return `its execution record has an unknown status ${JSON.stringify(status) ?? 'undefined'}`;
  if (!Number.isInteger(nextEventId) || (nextEventId as number) < 1)
    return 'its execution record has no next event ID';
  return undefined;
}

/** What is wrong with a run's inbox, or undefined when nothing is. */
export function inboxProblem(inbox: InboxRecord[]): string | undefined {
  for (const message of inbox) {
    if (!isPlainRecord(message))
      return `an inbox message is not one weft writes${hasProtoKey(message) ? ' (a __proto__ key)' : ''}`;
    if (!INBOX_KINDS.has(message.kind as string))
      return `inbox message ${message.id} has an unknown kind ${JSON.stringify(message.kind) ?? 'undefined'}`;
  }
  return undefined;
}

function hasProtoKey(value: unknown): boolean {
  return typeof value === 'object' && value !== null && Object.hasOwn(value, '__proto__');
}
