import type { Job } from '../activation.ts';
import type { CommandOf } from '../commands.ts';
import type { EventOf, HistoryEvent } from '../events.ts';
import type { FailureRecord, RetryState } from '../failure.ts';
import { take } from '../helpers.ts';
import type { AddEvent, CompletedTask, MessageOf } from './task.ts';

interface OpenActivity {
  scheduledEventId: number;
  activityType: string;
}

type ActivityEndEvent = EventOf<
  'ActivityTaskCompleted' | 'ActivityTaskFailed' | 'ActivityTaskTimedOut' | 'ActivityTaskCanceled'
>;

type ActivityMessage = MessageOf<
  'activityCompleted' | 'activityFailed' | 'activityTimedOut' | 'activityCanceled'
>;

/** The run's activities from `ActivityTaskScheduled` until their end is in history. */
export class OpenActivities {
  readonly #open = new Map<number, OpenActivity>();
  /** The reverse of `#open`: a completion names its scheduled event, not its seq. */
  readonly #byScheduledEventId = new Map<number, number>();

  has(seq: number): boolean {
    return this.#open.has(seq);
  }

  /** The event that scheduled activity `seq`, while it is open. */
  scheduledEventId(seq: number): number | undefined {
    return this.#open.get(seq)?.scheduledEventId;
  }

  scheduled(event: EventOf<'ActivityTaskScheduled'>): void {
    const seq = Number(event.attributes.activityId);
    this.#open.set(seq, {
      scheduledEventId: event.eventId,
      activityType: event.attributes.activityType,
    });
    this.#byScheduledEventId.set(event.eventId, seq);
  }

  /** The job for an activity's end, if the activity is open; closes it. */
  jobFor(event: ActivityEndEvent): Job | undefined {
    const seq = take(this.#byScheduledEventId, event.attributes.scheduledEventId);
    if (seq === undefined) return undefined;
    const { activityType } = take(this.#open, seq)!;
    if (event.eventType === 'ActivityTaskCompleted') {
      return { type: 'ResolveActivity', seq, result: event.attributes.result };
    }
    const [message, retryState, cause]: [string, RetryState, FailureRecord] =
      event.eventType === 'ActivityTaskCanceled'
        ? [
            'Activity cancelled',
            'RETRY_STATE_CANCEL_REQUESTED',
            { name: 'CancelledFailure', message: 'Activity cancelled' },
          ]
        : [
            event.eventType === 'ActivityTaskFailed' ? 'Activity task failed' : 'Activity task timed out',
            event.attributes.retryState,
            event.attributes.failure,
          ];
    const failure = {
      name: 'ActivityFailure',
      message,
      activityType,
      activityId: String(seq),
      retryState,
      cause,
    };
    return { type: 'ResolveActivity', seq, failure };
  }

  /** Adds the events an activity's outcome becomes, through `add`. */
  messageEvents(message: ActivityMessage, add: AddEvent): void {
    const scheduledEventId = this.#open.get(message.seq)!.scheduledEventId;
    const started = message.kind !== 'activityCanceled' || message.started;
    const startedEventId = started
      ? add('ActivityTaskStarted', {
          scheduledEventId,
          attempt: message.attempt,
          identity: message.identity,
        }).eventId
      : 0;
    if (message.kind === 'activityCompleted') {
      add('ActivityTaskCompleted', { scheduledEventId, startedEventId, result: message.result });
    } else if (message.kind === 'activityCanceled') {
      add('ActivityTaskCanceled', started ? { scheduledEventId, startedEventId } : { scheduledEventId });
    } else {
      add(message.kind === 'activityFailed' ? 'ActivityTaskFailed' : 'ActivityTaskTimedOut', {
        scheduledEventId,
        startedEventId,
        failure: message.failure,
        retryState: message.retryState,
      });
    }
  }

  /** Adds the event a command about an activity becomes. */
  commandEvent(
    command: CommandOf<'ScheduleActivityTask' | 'RequestCancelActivityTask'>,
    w: CompletedTask,
    add: AddEvent,
  ): HistoryEvent {
    switch (command.type) {
      case 'ScheduleActivityTask': {
        const { type, seq, ...schedule } = command;
        return add('ActivityTaskScheduled', { activityId: String(seq), ...schedule, ...w });
      }
      case 'RequestCancelActivityTask':
        return add('ActivityTaskCancelRequested', {
          scheduledEventId: this.#open.get(command.seq)?.scheduledEventId ?? 0,
          ...w,
        });
    }
  }
}
