import type { Job } from '../activation.ts';
import type { CommandOf } from '../commands.ts';
import { defined } from '../defined.ts';
import type { EventAttributes, EventOf, HistoryEvent } from '../events.ts';
import type { FailureRecord } from '../failure.ts';
import { take } from '../helpers.ts';
import type { AddEvent, CompletedTask, MessageOf } from './task.ts';

interface OpenChild {
  seq: number;
  startedEventId?: number;
}

type ChildClosingEventType =
  | 'ChildWorkflowExecutionCompleted'
  | 'ChildWorkflowExecutionFailed'
  | 'ChildWorkflowExecutionCanceled'
  | 'ChildWorkflowExecutionTimedOut'
  | 'ChildWorkflowExecutionTerminated';

/** The event each message about a child's end becomes. */
const childEventTypes: Record<
  'childCompleted' | 'childFailed' | 'childCanceled' | 'childTimedOut' | 'childTerminated',
  ChildClosingEventType
> = {
  childCompleted: 'ChildWorkflowExecutionCompleted',
  childFailed: 'ChildWorkflowExecutionFailed',
  childCanceled: 'ChildWorkflowExecutionCanceled',
  childTimedOut: 'ChildWorkflowExecutionTimedOut',
  childTerminated: 'ChildWorkflowExecutionTerminated',
};

type ChildEvent = EventOf<
  'ChildWorkflowExecutionStarted' | 'StartChildWorkflowExecutionFailed' | ChildClosingEventType
>;

type ChildMessage = MessageOf<
  | 'childStarted'
  | 'childStartFailed'
  | 'childCompleted'
  | 'childFailed'
  | 'childCanceled'
  | 'childTimedOut'
  | 'childTerminated'
>;

/** The run's children from `StartChildWorkflowExecutionInitiated` until their end is in history. */
export class OpenChildren {
  /** Children by their initiated event ID. Sequence numbers follow the order of initiation. */
  readonly #open = new Map<number, OpenChild>();

  has(initiatedEventId: number): boolean {
    return this.#open.has(initiatedEventId);
  }

  /** Opens the child that `event` initiated, for the command numbered `seq`. */
  initiated(event: EventOf<'StartChildWorkflowExecutionInitiated'>, seq: number): void {
    this.#open.set(event.eventId, { seq });
  }

  /** The job for a child's start or end, if the child is open; its end closes it. */
  jobFor(event: ChildEvent): Job | undefined {
    switch (event.eventType) {
      case 'ChildWorkflowExecutionStarted': {
        const child = this.#open.get(event.attributes.initiatedEventId);
        if (!child) return undefined;
        child.startedEventId = event.eventId;
        return {
          type: 'ResolveChildWorkflowExecutionStart',
          seq: child.seq,
          result: { succeeded: event.attributes.workflowExecution },
        };
      }
      case 'StartChildWorkflowExecutionFailed': {
        const child = take(this.#open, event.attributes.initiatedEventId);
        if (!child) return undefined;
        return {
          type: 'ResolveChildWorkflowExecutionStart',
          seq: child.seq,
          result: { failed: event.attributes },
        };
      }
      case 'ChildWorkflowExecutionCompleted':
      case 'ChildWorkflowExecutionFailed':
      case 'ChildWorkflowExecutionCanceled':
      case 'ChildWorkflowExecutionTimedOut':
      case 'ChildWorkflowExecutionTerminated': {
        const child = take(this.#open, event.attributes.initiatedEventId);
        if (!child) return undefined;
        if (event.eventType === 'ChildWorkflowExecutionCompleted') {
          return {
            type: 'ResolveChildWorkflowExecution',
            seq: child.seq,
            result: event.attributes.result,
          };
        }
        // The child's own failure, or the one its end stands for.
        const failure: FailureRecord =
          event.eventType === 'ChildWorkflowExecutionFailed'
            ? event.attributes.failure
            : event.eventType === 'ChildWorkflowExecutionCanceled'
              ? {
                  name: 'CancelledFailure',
                  message: 'Child workflow canceled',
                  ...defined({ details: event.attributes.details }),
                }
              : event.eventType === 'ChildWorkflowExecutionTimedOut'
                ? {
                    name: 'TimeoutFailure',
                    message: 'Child workflow timed out',
                    timeoutType: 'START_TO_CLOSE',
                  }
                : { name: 'TerminatedFailure', message: 'Child workflow terminated' };
        return {
          type: 'ResolveChildWorkflowExecution',
          seq: child.seq,
          failure,
          ...('retryState' in event.attributes && { retryState: event.attributes.retryState }),
        };
      }
    }
  }

  /** Adds the events a message about a child becomes, through `add`. */
  messageEvents(message: ChildMessage, add: AddEvent): void {
    switch (message.kind) {
      case 'childStarted':
        // jobFor records the started event ID on the open child.
        add('ChildWorkflowExecutionStarted', {
          workflowExecution: message.execution,
          workflowType: message.workflowType,
          initiatedEventId: message.initiatedEventId,
        });
        return;
      case 'childStartFailed':
        add('StartChildWorkflowExecutionFailed', {
          workflowId: message.workflowId,
          workflowType: message.workflowType,
          cause: message.cause,
          initiatedEventId: message.initiatedEventId,
        });
        return;
      case 'childCompleted':
      case 'childFailed':
      case 'childCanceled':
      case 'childTimedOut':
      case 'childTerminated': {
        const attributes: Record<string, unknown> = {
          workflowExecution: message.execution,
          workflowType: message.workflowType,
          initiatedEventId: message.initiatedEventId,
          startedEventId: this.#open.get(message.initiatedEventId)!.startedEventId ?? 0,
        };
        if (message.kind === 'childCompleted') attributes.result = message.result;
        else if (message.kind === 'childCanceled') {
          if (message.details !== undefined) attributes.details = message.details;
        } else if (message.kind !== 'childTerminated') {
          if (message.kind === 'childFailed') attributes.failure = message.failure;
          attributes.retryState = message.retryState;
        }
        add(childEventTypes[message.kind], attributes as EventAttributes[ChildClosingEventType]);
        return;
      }
    }
  }

  /** Adds the event `StartChildWorkflowExecution` becomes. */
  commandEvent(
    command: CommandOf<'StartChildWorkflowExecution'>,
    w: CompletedTask,
    add: AddEvent,
  ): HistoryEvent {
    const { type, seq, ...start } = command;
    return add('StartChildWorkflowExecutionInitiated', { ...start, ...w });
  }
}
