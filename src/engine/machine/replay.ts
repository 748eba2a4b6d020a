import { type Command, commandEventType } from '../commands.ts';
import type { EventAttributes, HistoryEvent } from '../events.ts';
import { DeterminismViolationError } from '../failure.ts';
import type { OpenActivities } from './activities.ts';

/**
 * What replay compares: the commands workflow code produces again against the events a
 * workflow task recorded, in kind and sequence number.
 */

/** The events a workflow task's commands produce. */
const commandEvents = new Set(Object.values(commandEventType));

/** True for events that a workflow task's commands produce. */
export function isCommandEvent(event: HistoryEvent): boolean {
  return commandEvents.has(event.eventType);
}

/**
 * Compares a replayed task's commands with its recorded events, in order. `apply` does the
 * bookkeeping for each event, with the command that matched it.
 * @param afterEventId the task's WorkflowTaskCompleted event (errors name it)
 * @throws DeterminismViolationError when the commands and the events differ.
 */
export function matchCommands(
  commands: Command[],
  recorded: HistoryEvent[],
  afterEventId: number,
  activities: OpenActivities,
  apply: (event: HistoryEvent, command?: Command) => void,
): void {
  let j = 0;
  for (const command of commands) {
    if (command.type === 'RejectUpdate') continue;
    // A patch marker whose `patched()` call was removed from the code is allowed to stay.
    while (j < recorded.length && isPatchMarker(recorded[j]!) && !sameMarker(command, recorded[j]!)) {
      apply(recorded[j++]!);
    }
    const event = recorded[j];
    if (!event) {
      throw new DeterminismViolationError(
        `Nondeterminism after event ${afterEventId}: code produced ${describeCommand(command)}, history has no matching event`,
      );
    }
    const difference = mismatch(command, event, activities);
    if (difference !== undefined) {
      throw new DeterminismViolationError(
        `Nondeterminism at event ${event.eventId}: code produced ${describeCommand(command)}, history has ${event.eventType}${difference}`,
      );
    }
    apply(event, command);
    j++;
  }
  for (; j < recorded.length; j++) {
    const event = recorded[j]!;
    if (!isPatchMarker(event)) {
      throw new DeterminismViolationError(
        `Nondeterminism at event ${event.eventId}: history has ${event.eventType}, code no longer produces it`,
      );
    }
    apply(event);
  }
}

export function isPatchMarker(
  event: HistoryEvent,
): event is Extract<HistoryEvent, { eventType: 'MarkerRecorded' }> {
  return event.eventType === 'MarkerRecorded' && event.attributes.markerName === 'core_patch';
}

export function sameMarker(command: Command, event: HistoryEvent): boolean {
  return (
    command.type === 'RecordMarker' &&
    event.eventType === 'MarkerRecorded' &&
    command.markerName === event.attributes.markerName &&
    command.details.patchId === event.attributes.details.patchId
  );
}

/** Undefined when the command matches the event; otherwise what differs. */
export function mismatch(
  command: Command,
  event: HistoryEvent,
  activities: OpenActivities,
): string | undefined {
  const expected = commandEventType[command.type];
  if (event.eventType !== expected) return '';
  const differ = (what: string, ours: string | number | undefined, theirs: string | number) =>
    ours === theirs ? undefined : ` (${what}: code has ${ours}, history has ${theirs})`;
  switch (command.type) {
    case 'ScheduleActivityTask': {
      const a = event.attributes as EventAttributes['ActivityTaskScheduled'];
      return (
        differ('activityId', String(command.seq), a.activityId) ??
        differ('activityType', command.activityType, a.activityType)
      );
    }
    case 'StartTimer':
    case 'CancelTimer':
      return differ('timerId', String(command.seq), (event.attributes as { timerId: string }).timerId);
    case 'RequestCancelActivityTask':
      return differ(
        'scheduledEventId',
        activities.scheduledEventId(command.seq),
        (event.attributes as EventAttributes['ActivityTaskCancelRequested']).scheduledEventId,
      );
    case 'RecordMarker':
      return sameMarker(command, event) ? undefined : ' (a different marker)';
    case 'StartChildWorkflowExecution': {
      const a = event.attributes as EventAttributes['StartChildWorkflowExecutionInitiated'];
      return (
        differ('workflowType', command.workflowType, a.workflowType) ??
        differ('workflowId', command.workflowId, a.workflowId)
      );
    }
    case 'SignalExternalWorkflowExecution': {
      const a = event.attributes as EventAttributes['SignalExternalWorkflowExecutionInitiated'];
      return (
        differ('signalName', command.signalName, a.signalName) ??
        differ('workflowId', command.workflowId, a.workflowExecution.workflowId)
      );
    }
    case 'RequestCancelExternalWorkflowExecution': {
      const a = event.attributes as EventAttributes['RequestCancelExternalWorkflowExecutionInitiated'];
      return differ('workflowId', command.workflowId, a.workflowExecution.workflowId);
    }
    case 'AcceptUpdate':
    case 'CompleteUpdate':
      return differ(
        'updateId',
        command.updateId,
        (event.attributes as { protocolInstanceId: string }).protocolInstanceId,
      );
    default:
      return undefined;
  }
}

export function describeCommand(command: Command): string {
  switch (command.type) {
    case 'ScheduleActivityTask':
      return `${command.type}(${command.activityType}, seq ${command.seq})`;
    case 'StartTimer':
      return `${command.type}(seq ${command.seq}, ${command.startToFireTimeout} ms)`;
    case 'StartChildWorkflowExecution':
      return `${command.type}(${command.workflowType}, ${command.workflowId})`;
    default:
      return command.type;
  }
}
