/**
 * The page-side API: `connect()` to an engine worker, then start, signal, query, update,
 * cancel, terminate, describe, list and watch workflows through typed handles. Imports only
 * types from the worker, so the page bundle stays small.
 */

export type { ExecutionStatus, HistoryEvent } from '../engine/events.ts';
export {
  ActivityFailure,
  ApplicationFailure,
  CancelledFailure,
  ChildWorkflowFailure,
  CorruptRecordError,
  DeterminismViolationError,
  EngineGoneError,
  InvalidArgumentError,
  QueryNotRegisteredError,
  SchemaMismatchError,
  StorageLostError,
  TerminatedFailure,
  TimeoutFailure,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
} from '../engine/failure.ts';
export type {
  EngineApi,
  StorageStatus,
  WorkflowChange,
  WorkflowDescription,
  WorkflowListFilter,
  WorkflowSignalWithStartOptions,
  WorkflowStartOptions,
} from '../protocol/api.ts';
export {
  WorkflowClient,
  WorkflowHandle,
  WorkflowHandleWithSignaledRunId,
} from './client.ts';
export { type Client, connect } from './connect.ts';
