import type { Job } from '../activation.ts';
import type { CommandOf } from '../commands.ts';
import type { EventOf, HistoryEvent } from '../events.ts';
import type { AddEvent, CompletedTask, MessageOf } from './task.ts';

/** The run's timers from `TimerStarted` until they fire or are cancelled. */
export class OpenTimers {
  /** Each open timer's started event, by seq. */
  readonly #open = new Map<number, number>();

  has(seq: number): boolean {
    return this.#open.has(seq);
  }

  started(event: EventOf<'TimerStarted'>): void {
    this.#open.set(Number(event.attributes.timerId), event.eventId);
  }

  canceled(event: EventOf<'TimerCanceled'>): void {
    this.#open.delete(Number(event.attributes.timerId));
  }

  /** The job for a timer that fired; closes it. */
  jobFor(event: EventOf<'TimerFired'>): Job {
    const seq = Number(event.attributes.timerId);
    this.#open.delete(seq);
    return { type: 'FireTimer', seq };
  }

  /** Adds the event a fired timer becomes, through `add`. */
  messageEvents(message: MessageOf<'timerFired'>, add: AddEvent): void {
    add('TimerFired', {
      timerId: String(message.seq),
      startedEventId: this.#open.get(message.seq)!,
    });
  }

  /** Adds the event a command about a timer becomes. */
  commandEvent(
    command: CommandOf<'StartTimer' | 'CancelTimer'>,
    w: CompletedTask,
    add: AddEvent,
  ): HistoryEvent {
    switch (command.type) {
      case 'StartTimer':
        return add('TimerStarted', {
          timerId: String(command.seq),
          startToFireTimeout: command.startToFireTimeout,
          ...w,
        });
      case 'CancelTimer':
        return add('TimerCanceled', {
          timerId: String(command.seq),
          startedEventId: this.#open.get(command.seq) ?? 0,
          ...w,
        });
    }
  }
}
