import type { EventAttributes, EventType, HistoryEvent } from '../events.ts';
import { DeterminismViolationError, toFailureRecord } from '../failure.ts';
import type { InboxMessage } from '../inbox.ts';

/** How a workflow task writes events: numbered in order, at the task's time. */

export type AddEvent = <K extends EventType>(eventType: K, attributes: EventAttributes[K]) => HistoryEvent;

export type MessageOf<K extends InboxMessage['kind']> = Extract<InboxMessage, { kind: K }>;

/** What each command event names: the completion of the workflow task that produced it. */
export interface CompletedTask {
  workflowTaskCompletedEventId: number;
}

/** Records new events in `events` at `time`, numbered by `nextId()`. */
export function recorder(events: HistoryEvent[], time: number, nextId: () => number): AddEvent {
  return (eventType, attributes) => {
    const event = { eventId: nextId(), eventTime: time, eventType, attributes } as HistoryEvent;
    events.push(event);
    return event;
  };
}

/** Adds the events that open a workflow task; returns their IDs, as the task's end names them. */
export function openTask(add: AddEvent, taskQueue: string, identity: string, attempt = 1) {
  const scheduledEventId = add('WorkflowTaskScheduled', { taskQueue, attempt }).eventId;
  const startedEventId = add('WorkflowTaskStarted', { scheduledEventId, identity }).eventId;
  return { scheduledEventId, startedEventId };
}

/** The events of a workflow task that failed: recorded once, inputs stay in the inbox. */
export function failedTaskEvents(
  nextEventId: number,
  time: number,
  taskQueue: string,
  identity: string,
  error: unknown,
): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  const add = recorder(events, time, () => nextEventId++);
  add('WorkflowTaskFailed', {
    ...openTask(add, taskQueue, identity),
    cause:
      error instanceof DeterminismViolationError
        ? 'NON_DETERMINISTIC_ERROR'
        : 'WORKFLOW_WORKER_UNHANDLED_FAILURE',
    failure: toFailureRecord(error),
    identity,
  });
  return events;
}

/**
 * The events of a workflow task that its host took and did not complete within the run's
 * workflow task timeout: recorded once (the first of consecutive ones, as in Temporal), the
 * inputs stay in the inbox for the next attempt.
 * @param time when the task was handed out; the timeout is recorded at `timedOutAt`
 */
export function timedOutTaskEvents(
  nextEventId: number,
  time: number,
  timedOutAt: number,
  taskQueue: string,
  identity: string,
): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  const task = openTask(
    recorder(events, time, () => nextEventId++),
    taskQueue,
    identity,
  );
  recorder(
    events,
    timedOutAt,
    () => nextEventId++,
  )('WorkflowTaskTimedOut', {
    ...task,
    timeoutType: 'START_TO_CLOSE',
  });
  return events;
}
