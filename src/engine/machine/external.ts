import type { Job } from '../activation.ts';
import type { CommandOf } from '../commands.ts';
import { defined } from '../defined.ts';
import type { EventOf, HistoryEvent } from '../events.ts';
import { take } from '../helpers.ts';
import type { AddEvent, CompletedTask, MessageOf } from './task.ts';

/** The event each message about a signal or cancel request to another execution becomes. */
const externalEventTypes = {
  externalSignaled: 'ExternalWorkflowExecutionSignaled',
  externalSignalFailed: 'SignalExternalWorkflowExecutionFailed',
  externalCancelRequested: 'ExternalWorkflowExecutionCancelRequested',
  externalCancelFailed: 'RequestCancelExternalWorkflowExecutionFailed',
} as const;

type ExternalOutcomeEvent = EventOf<(typeof externalEventTypes)[keyof typeof externalEventTypes]>;

/**
 * The run's signals and cancel requests to other executions, from their Initiated event
 * until their outcome is in history.
 */
export class OpenExternal {
  /** Seqs of signals and cancel requests to other executions, by their initiated event ID. */
  readonly #open = new Map<number, number>();

  has(initiatedEventId: number): boolean {
    return this.#open.has(initiatedEventId);
  }

  /** Opens the request that `event` initiated, for the command numbered `seq`. */
  initiated(
    event: EventOf<
      'SignalExternalWorkflowExecutionInitiated' | 'RequestCancelExternalWorkflowExecutionInitiated'
    >,
    seq: number,
  ): void {
    this.#open.set(event.eventId, seq);
  }

  /** The job for a request's outcome, if the request is open; closes it. */
  jobFor(event: ExternalOutcomeEvent): Job | undefined {
    const seq = take(this.#open, event.attributes.initiatedEventId);
    if (seq === undefined) return undefined;
    // The outcome of a signal names one (`...Signaled`, `Signal...Failed`); of a cancel request, not.
    const kind = event.eventType.includes('Signal') ? 'signal' : 'cancel';
    return {
      type: kind === 'signal' ? 'ResolveSignalExternalWorkflow' : 'ResolveRequestCancelExternalWorkflow',
      seq,
      ...(event.eventType.endsWith('Failed') && {
        failure: {
          name: 'ApplicationFailure',
          type: 'ExternalWorkflowExecutionNotFound',
          message: `Cannot ${kind} workflow '${event.attributes.workflowExecution.workflowId}': not found or already closed`,
          nonRetryable: true,
        },
      }),
    };
  }

  /** Adds the event a request's outcome becomes, through `add`. */
  messageEvents(message: MessageOf<keyof typeof externalEventTypes>, add: AddEvent): void {
    add(externalEventTypes[message.kind], {
      initiatedEventId: message.initiatedEventId,
      workflowExecution: message.execution,
      ...('cause' in message && { cause: message.cause }),
    });
  }

  /** Adds the event a command to another execution becomes. */
  commandEvent(
    command: CommandOf<'SignalExternalWorkflowExecution' | 'RequestCancelExternalWorkflowExecution'>,
    w: CompletedTask,
    add: AddEvent,
  ): HistoryEvent {
    switch (command.type) {
      case 'SignalExternalWorkflowExecution': {
        const { type, seq, workflowId, runId, ...signal } = command;
        return add('SignalExternalWorkflowExecutionInitiated', {
          workflowExecution: defined({ workflowId, runId }),
          ...signal,
          ...w,
        });
      }
      case 'RequestCancelExternalWorkflowExecution': {
        const { type, seq, workflowId, runId, ...request } = command;
        return add('RequestCancelExternalWorkflowExecutionInitiated', {
          workflowExecution: defined({ workflowId, runId }),
          ...request,
          ...w,
        });
      }
    }
  }
}
