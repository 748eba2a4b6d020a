import type { ExecutionRef } from './events.ts';
import type { FailureRecord, RetryState } from './failure.ts';

/** Something that happened, handed to workflow code in an activation. */
export type Job =
  | { type: 'StartWorkflow'; input: unknown[] }
  | Settlement
  | { type: 'SignalWorkflow'; signalName: string; input: unknown[] }
  | { type: 'CancelWorkflow' }
  /** `accepted` is set on replay: the update was recorded, so its validator is not run again. */
  | { type: 'DoUpdate'; updateId: string; name: string; input: unknown[]; accepted: boolean }
  | { type: 'ResolveChildWorkflowExecutionStart'; seq: number; result: ChildStartResolution }
  /** A child's end: `failure` is its own, or the cancellation, timeout or termination it stands for. */
  | {
      type: 'ResolveChildWorkflowExecution';
      seq: number;
      result?: unknown;
      failure?: FailureRecord;
      retryState?: RetryState;
    };

export type JobOf<T extends Job['type']> = Extract<Job, { type: T }>;

/**
 * A job that settles what workflow code awaits (a timer, an activity, a signal or cancel request
 * to another execution): it rejects with `failure` if given (for an activity, its ActivityFailure,
 * whose cause says why), else resolves with `result`.
 */
export interface Settlement {
  type:
    | 'FireTimer'
    | 'ResolveActivity'
    | 'ResolveSignalExternalWorkflow'
    | 'ResolveRequestCancelExternalWorkflow';
  seq: number;
  result?: unknown;
  failure?: FailureRecord;
}

export type ChildStartResolution =
  | { succeeded: { runId: string } }
  | { failed: { workflowId: string; workflowType: string; cause: 'WORKFLOW_ALREADY_EXISTS' } };

/** Facts about the run that workflow code reads through `workflowInfo()`. */
export interface WorkflowInfo {
  workflowId: string;
  runId: string;
  workflowType: string;
  taskQueue: string;
  namespace: string;
  firstExecutionRunId: string;
  continuedFromExecutionRunId?: string;
  parent?: ExecutionRef;
  root?: ExecutionRef;
  attempt: number;
  historyLength: number;
  continueAsNewSuggested: boolean;
  startTime: Date;
  runStartTime: Date;
  executionTimeout?: number;
  runTimeout?: number;
  taskTimeout?: number;
  memo?: Record<string, unknown>;
  unsafe: { isReplaying: boolean; now(): number };
}

/** One workflow task's input. */
export interface Activation {
  /** Deterministic time: the workflow task's start, milliseconds since the epoch. */
  timestamp: number;
  isReplaying: boolean;
  historyLength: number;
  continueAsNewSuggested: boolean;
  jobs: Job[];
  /** Patch IDs recorded in the task being replayed (markers `patched()` must match). */
  patches?: string[];
}
