import type { ExecutionRef } from './events.ts';
import type { FailureRecord, RetryState } from './failure.ts';

/**
 * Something addressed to a run from outside its own workflow task: a signal, a timer that
 * fired, an activity's outcome, a child's progress. Writers anywhere (the page, another
 * execution, an activity) add messages to the run's inbox; only the run's next workflow
 * task turns them into history events. So a run's history has a single writer, and a
 * signal can never race a workflow task.
 */
export type InboxMessage =
  | { kind: 'signal'; signalName: string; input: unknown[]; identity?: string }
  | { kind: 'cancelRequest'; reason?: string; identity?: string; externalInitiatedEventId?: number }
  | { kind: 'update'; updateId: string; name: string; input: unknown[] }
  | { kind: 'timerFired'; seq: number }
  | { kind: 'activityCompleted'; seq: number; attempt: number; result: unknown; identity: string }
  | {
      kind: 'activityFailed';
      seq: number;
      attempt: number;
      failure: FailureRecord;
      retryState: RetryState;
      identity: string;
    }
  | {
      kind: 'activityTimedOut';
      seq: number;
      attempt: number;
      failure: FailureRecord;
      retryState: RetryState;
      identity: string;
    }
  | { kind: 'activityCanceled'; seq: number; attempt: number; started: boolean; identity: string }
  | { kind: 'childStarted'; initiatedEventId: number; execution: ExecutionRef; workflowType: string }
  | {
      kind: 'childStartFailed';
      initiatedEventId: number;
      workflowId: string;
      workflowType: string;
      cause: 'WORKFLOW_ALREADY_EXISTS';
    }
  | {
      kind: 'childCompleted';
      initiatedEventId: number;
      execution: ExecutionRef;
      workflowType: string;
      result: unknown;
    }
  | {
      kind: 'childFailed';
      initiatedEventId: number;
      execution: ExecutionRef;
      workflowType: string;
      failure: FailureRecord;
      retryState: RetryState;
    }
  | {
      kind: 'childCanceled';
      initiatedEventId: number;
      execution: ExecutionRef;
      workflowType: string;
      details?: unknown[];
    }
  | {
      kind: 'childTimedOut';
      initiatedEventId: number;
      execution: ExecutionRef;
      workflowType: string;
      retryState: RetryState;
    }
  | { kind: 'childTerminated'; initiatedEventId: number; execution: ExecutionRef; workflowType: string }
  | { kind: 'externalSignaled'; initiatedEventId: number; execution: { workflowId: string; runId?: string } }
  | {
      kind: 'externalSignalFailed';
      initiatedEventId: number;
      execution: { workflowId: string; runId?: string };
      cause: 'EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND';
    }
  | {
      kind: 'externalCancelRequested';
      initiatedEventId: number;
      execution: { workflowId: string; runId?: string };
    }
  | {
      kind: 'externalCancelFailed';
      initiatedEventId: number;
      execution: { workflowId: string; runId?: string };
      cause: 'EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND';
    };

export type InboxKind = InboxMessage['kind'];
