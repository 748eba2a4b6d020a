import type { CommandOf } from '../commands.ts';
import type { EventOf, HistoryEvent } from '../events.ts';
import type { AddEvent } from './task.ts';

/** The run's updates from `WorkflowExecutionUpdateAccepted` until they complete. */
export class OpenUpdates {
  /** Each open update's accepted event, by update ID. */
  readonly #open = new Map<string, number>();

  accepted(event: EventOf<'WorkflowExecutionUpdateAccepted'>): void {
    this.#open.set(event.attributes.protocolInstanceId, event.eventId);
  }

  completed(event: EventOf<'WorkflowExecutionUpdateCompleted'>): void {
    this.#open.delete(event.attributes.protocolInstanceId);
  }

  /** Adds the event a command about an update becomes (none for `RejectUpdate`). */
  commandEvent(
    command: CommandOf<'AcceptUpdate' | 'CompleteUpdate' | 'RejectUpdate'>,
    add: AddEvent,
  ): HistoryEvent | undefined {
    switch (command.type) {
      case 'AcceptUpdate':
        return add('WorkflowExecutionUpdateAccepted', {
          protocolInstanceId: command.updateId,
          name: command.name,
          input: command.input,
        });
      case 'CompleteUpdate':
        return add('WorkflowExecutionUpdateCompleted', {
          protocolInstanceId: command.updateId,
          acceptedEventId: this.#open.get(command.updateId) ?? 0,
          outcome: command.outcome,
        });
      case 'RejectUpdate':
        return undefined;
    }
  }
}
