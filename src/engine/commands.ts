import { type ChildWorkflowStart, closingStatus, type EventType, type RetryPolicy } from './events.ts';
import type { FailureRecord } from './failure.ts';

/**
 * What workflow code asks for in one activation. Each command that has an event becomes
 * that event when the workflow task commits; on replay it must match the recorded event in
 * kind and sequence number, in order.
 */
export type Command =
  | {
      type: 'ScheduleActivityTask';
      seq: number;
      activityType: string;
      taskQueue: string;
      input: unknown[];
      startToCloseTimeout?: number;
      scheduleToCloseTimeout?: number;
      heartbeatTimeout?: number;
      retryPolicy?: RetryPolicy;
    }
  | { type: 'RequestCancelActivityTask'; seq: number }
  | { type: 'StartTimer'; seq: number; startToFireTimeout: number }
  | { type: 'CancelTimer'; seq: number }
  | { type: 'RecordMarker'; markerName: string; details: Record<string, unknown> }
  | ({ type: 'StartChildWorkflowExecution'; seq: number } & ChildWorkflowStart)
  | {
      type: 'SignalExternalWorkflowExecution';
      seq: number;
      workflowId: string;
      runId?: string;
      signalName: string;
      input: unknown[];
      childWorkflowOnly: boolean;
    }
  | {
      type: 'RequestCancelExternalWorkflowExecution';
      seq: number;
      workflowId: string;
      runId?: string;
      childWorkflowOnly: boolean;
    }
  | { type: 'AcceptUpdate'; updateId: string; name: string; input: unknown[] }
  | { type: 'CompleteUpdate'; updateId: string; outcome: { success: unknown } | { failure: FailureRecord } }
  /** A validator refused the update: answered to the caller, never recorded. */
  | { type: 'RejectUpdate'; updateId: string; failure: FailureRecord }
  | { type: 'CompleteWorkflowExecution'; result: unknown }
  | { type: 'FailWorkflowExecution'; failure: FailureRecord }
  | { type: 'CancelWorkflowExecution' }
  | {
      type: 'ContinueAsNewWorkflowExecution';
      workflowType: string;
      taskQueue: string;
      input: unknown[];
      workflowRunTimeout?: number;
      workflowTaskTimeout?: number;
    };

export type CommandType = Command['type'];
export type CommandOf<T extends CommandType> = Extract<Command, { type: T }>;

/** The event each command becomes (none for `RejectUpdate`). */
export const commandEventType: Record<CommandType, EventType | undefined> = {
  ScheduleActivityTask: 'ActivityTaskScheduled',
  RequestCancelActivityTask: 'ActivityTaskCancelRequested',
  StartTimer: 'TimerStarted',
  CancelTimer: 'TimerCanceled',
  RecordMarker: 'MarkerRecorded',
  StartChildWorkflowExecution: 'StartChildWorkflowExecutionInitiated',
  SignalExternalWorkflowExecution: 'SignalExternalWorkflowExecutionInitiated',
  RequestCancelExternalWorkflowExecution: 'RequestCancelExternalWorkflowExecutionInitiated',
  AcceptUpdate: 'WorkflowExecutionUpdateAccepted',
  CompleteUpdate: 'WorkflowExecutionUpdateCompleted',
  RejectUpdate: undefined,
  CompleteWorkflowExecution: 'WorkflowExecutionCompleted',
  FailWorkflowExecution: 'WorkflowExecutionFailed',
  CancelWorkflowExecution: 'WorkflowExecutionCanceled',
  ContinueAsNewWorkflowExecution: 'WorkflowExecutionContinuedAsNew',
};

/** True for the commands that close the run. */
export function isClosingCommand(command: Command): boolean {
  const eventType = commandEventType[command.type];
  return eventType !== undefined && closingStatus(eventType) !== undefined;
}
