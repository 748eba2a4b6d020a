/**
 * The failure model. Errors cross every boundary (store, worker, Comlink) as plain
 * `FailureRecord`s and are rebuilt as typed failures at the edges, so `instanceof`,
 * `type`, `details` and the `cause` chain survive a reload.
 */

/** A serialisable failure: what is stored in history and sent across the worker boundary. */
export interface FailureRecord {
  /** Class of the failure, e.g. `ApplicationFailure`, `ActivityFailure`, `CancelledFailure`. */
  name: string;
  message: string;
  stack?: string;
  /** Application-defined error type (`ApplicationFailure.type`), or the JS error's name. */
  type?: string;
  nonRetryable?: boolean;
  /** `ApplicationFailure` and `CancelledFailure` details; `TimeoutFailure`: `[lastHeartbeatDetails]`. */
  details?: unknown[];
  /** `TimeoutFailure.timeoutType`. */
  timeoutType?: TimeoutType;
  /** `ActivityFailure`: which activity failed. */
  activityType?: string;
  activityId?: string;
  /** `ChildWorkflowFailure`: which child failed. */
  workflowType?: string;
  workflowExecution?: { workflowId: string; runId: string };
  retryState?: RetryState;
  cause?: FailureRecord;
}

export type TimeoutType = 'START_TO_CLOSE' | 'SCHEDULE_TO_START' | 'SCHEDULE_TO_CLOSE' | 'HEARTBEAT';
export type RetryState =
  | 'RETRY_STATE_UNSPECIFIED'
  | 'RETRY_STATE_IN_PROGRESS'
  | 'RETRY_STATE_NON_RETRYABLE_FAILURE'
  | 'RETRY_STATE_TIMEOUT'
  | 'RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED'
  | 'RETRY_STATE_RETRY_POLICY_NOT_SET'
  | 'RETRY_STATE_CANCEL_REQUESTED';

/**
 * Marks weft failures so `instanceof` works across realms and bundles: two copies of this
 * module (page and worker, or two bundles) still recognise each other's failures.
 */
const failureMarker = Symbol.for('weft.failure');

/*
 * Fields set in a constructor are `declare`d rather than parameter properties: those would
 * also emit a class field each, and the properties come out the same, in the same order.
 */

/** Base of every failure weft produces. Mirrors Temporal's `TemporalFailure`. */
export class TemporalFailure extends Error {
  readonly [failureMarker] = true;
  declare cause: Error | undefined;
  constructor(message?: string, cause?: Error) {
    super(message ?? '');
    this.cause = cause;
  }
  static override [Symbol.hasInstance](this: Function, value: unknown): boolean {
    if (typeof value !== 'object' || value === null) return false;
    if (!(failureMarker in value)) return Function.prototype[Symbol.hasInstance].call(this, value);
    return hasErrorName(value, (this.prototype as Error).name);
  }
}
named(TemporalFailure, 'TemporalFailure');

/**
 * A failure raised by user code. `nonRetryable` stops activity retries; `type` is matched
 * against `retry.nonRetryableErrorTypes`.
 *
 * @example throw ApplicationFailure.create({ message: 'card declined', type: 'Declined', nonRetryable: true });
 */
export class ApplicationFailure extends TemporalFailure {
  declare readonly type?: string | undefined;
  declare readonly nonRetryable: boolean;
  declare readonly details?: unknown[] | undefined;
  constructor(
    message?: string,
    type?: string | undefined,
    nonRetryable = false,
    details?: unknown[] | undefined,
    cause?: Error,
  ) {
    super(message, cause);
    this.type = type;
    this.nonRetryable = nonRetryable;
    this.details = details;
  }
  static create(options: {
    message?: string;
    type?: string;
    nonRetryable?: boolean;
    details?: unknown[];
    cause?: Error;
  }): ApplicationFailure {
    return new ApplicationFailure(
      options.message,
      options.type,
      options.nonRetryable ?? false,
      options.details,
      options.cause,
    );
  }
  static retryable(message?: string, type?: string, ...details: unknown[]): ApplicationFailure {
    return new ApplicationFailure(message, type ?? 'Error', false, details);
  }
  static nonRetryable(message?: string, type?: string, ...details: unknown[]): ApplicationFailure {
    return new ApplicationFailure(message, type ?? 'Error', true, details);
  }
  static fromError(error: unknown): ApplicationFailure {
    if (error instanceof ApplicationFailure) return error;
    const e = error instanceof Error ? error : new Error(String(error));
    return new ApplicationFailure(e.message, e.name);
  }
}
named(ApplicationFailure, 'ApplicationFailure');

/** An activity failed; `cause` is why (an `ApplicationFailure`, `TimeoutFailure`, ...). */
export class ActivityFailure extends TemporalFailure {
  declare readonly activityType: string;
  declare readonly activityId: string | undefined;
  declare readonly retryState: RetryState;
  constructor(
    message: string | undefined,
    activityType: string,
    activityId: string | undefined,
    retryState: RetryState,
    cause?: Error,
  ) {
    super(message, cause);
    this.activityType = activityType;
    this.activityId = activityId;
    this.retryState = retryState;
  }
}
named(ActivityFailure, 'ActivityFailure');

/** A child workflow did not complete; `cause` is the child's own failure. */
export class ChildWorkflowFailure extends TemporalFailure {
  declare readonly namespace: string | undefined;
  declare readonly workflowExecution: { workflowId: string; runId: string };
  declare readonly workflowType: string;
  declare readonly retryState: RetryState;
  constructor(
    namespace: string | undefined,
    workflowExecution: { workflowId: string; runId: string },
    workflowType: string,
    retryState: RetryState,
    cause?: Error,
  ) {
    super('Child Workflow execution failed', cause);
    this.namespace = namespace;
    this.workflowExecution = workflowExecution;
    this.workflowType = workflowType;
    this.retryState = retryState;
  }

  /** Temporal's name for {@link workflowExecution}: code that reads it runs on both. */
  get execution(): { workflowId: string; runId: string } {
    return this.workflowExecution;
  }
}
named(ChildWorkflowFailure, 'ChildWorkflowFailure');

/** A scope, activity, timer, child or workflow was cancelled. */
export class CancelledFailure extends TemporalFailure {
  declare readonly details: unknown[];
  constructor(message?: string, details: unknown[] = [], cause?: Error) {
    super(message, cause);
    this.details = details;
  }
}
named(CancelledFailure, 'CancelledFailure');

/** The execution was terminated. */
export class TerminatedFailure extends TemporalFailure {}
named(TerminatedFailure, 'TerminatedFailure');

/** A timeout expired; `timeoutType` says which. */
export class TimeoutFailure extends TemporalFailure {
  declare readonly lastHeartbeatDetails: unknown;
  declare readonly timeoutType: TimeoutType;
  constructor(message: string | undefined, lastHeartbeatDetails: unknown, timeoutType: TimeoutType) {
    super(message);
    this.lastHeartbeatDetails = lastHeartbeatDetails;
    this.timeoutType = timeoutType;
  }
}
named(TimeoutFailure, 'TimeoutFailure');

/** A failure that does not come from user code (e.g. a worker crash). */
export class ServerFailure extends TemporalFailure {
  declare readonly nonRetryable: boolean;
  constructor(message: string | undefined, nonRetryable: boolean, cause?: Error) {
    super(message, cause);
    this.nonRetryable = nonRetryable;
  }
}
named(ServerFailure, 'ServerFailure');

/** Base of errors that are not failures of an execution but misuse of the API. */
export class WeftError extends Error {
  static override [Symbol.hasInstance](this: Function, value: unknown): boolean {
    return (
      Function.prototype[Symbol.hasInstance].call(this, value) ||
      hasErrorName(value, (this.prototype as Error).name)
    );
  }
}
named(WeftError, 'WeftError');

/**
 * Compares the `name` each class defines on its prototype, walking the chain: class names
 * are minified in production bundles, prototype `name` strings are not.
 */
function hasErrorName(value: unknown, name: string): boolean {
  let proto: object | null =
    typeof value === 'object' && value !== null ? (Object.getPrototypeOf(value) as object | null) : null;
  while (proto !== null && proto !== Error.prototype) {
    if (Object.hasOwn(proto, 'name') && (proto as { name: unknown }).name === name) return true;
    proto = Object.getPrototypeOf(proto) as object | null;
  }
  return false;
}

/** Replay produced a command that does not match the recorded history. */
export class DeterminismViolationError extends WeftError {}
named(DeterminismViolationError, 'DeterminismViolationError');
/** Temporal's name for the same error. */
export const NonDeterminismError = DeterminismViolationError;

/**
 * A workflow with this ID is already running (or the reuse policy forbids a new run). A
 * failure, as in Temporal: uncaught in workflow code, it fails the workflow.
 */
export class WorkflowExecutionAlreadyStartedError extends TemporalFailure {
  declare readonly workflowId: string;
  declare readonly workflowType: string;
  constructor(message: string, workflowId: string, workflowType: string) {
    super(message);
    this.workflowId = workflowId;
    this.workflowType = workflowType;
  }
}
named(WorkflowExecutionAlreadyStartedError, 'WorkflowExecutionAlreadyStartedError');

/** No execution matches the given ID (or the run is closed, for operations that need an open one). */
export class WorkflowNotFoundError extends WeftError {
  declare readonly workflowId: string;
  declare readonly runId: string | undefined;
  constructor(message: string, workflowId: string, runId: string | undefined) {
    super(message);
    this.workflowId = workflowId;
    this.runId = runId;
  }
}
named(WorkflowNotFoundError, 'WorkflowNotFoundError');

/** Input that weft refuses: unknown type, a payload that cannot be cloned, a bad option. */
export class InvalidArgumentError extends WeftError {}
named(InvalidArgumentError, 'InvalidArgumentError');

/** The client-side outcome of a workflow that did not complete; `cause` is its failure. */
export class WorkflowFailedError extends WeftError {
  declare readonly cause: Error | undefined;
  declare readonly retryState: RetryState;
  constructor(message: string, cause: Error | undefined, retryState: RetryState) {
    super(message);
    this.cause = cause;
    this.retryState = retryState;
  }
}
named(WorkflowFailedError, 'WorkflowFailedError');

/** An update was rejected by its validator, or failed in its handler. */
export class WorkflowUpdateFailedError extends WeftError {
  declare readonly cause: Error | undefined;
  constructor(message: string, cause: Error | undefined) {
    super(message);
    this.cause = cause;
  }
}
named(WorkflowUpdateFailedError, 'WorkflowUpdateFailedError');

/** A query failed (unknown query, handler threw). */
export class QueryNotRegisteredError extends WeftError {}
named(QueryNotRegisteredError, 'QueryNotRegisteredError');

/** The database belongs to a newer weft or to another application. */
export class SchemaMismatchError extends WeftError {}
named(SchemaMismatchError, 'SchemaMismatchError');

/**
 * The engine a client was connected to is gone: its worker was terminated, crashed or was
 * stopped by the browser. Calls in flight and later calls fail with it; connect to a new worker.
 */
export class EngineGoneError extends WeftError {}
named(EngineGoneError, 'EngineGoneError');

/**
 * The database is gone: deleted or cleared (by another tab, the user, the browser) while the
 * engine ran. The engine stopped; it never recreates an empty database in its place.
 */
export class StorageLostError extends WeftError {}
named(StorageLostError, 'StorageLostError');

/**
 * A record in the database is not one weft wrote: an unknown event type, a gap or a duplicate
 * in a history, a record cut short, a `__proto__` key. The execution it belongs to is
 * quarantined (blocked, with the reason); the others go on.
 */
export class CorruptRecordError extends WeftError {}
named(CorruptRecordError, 'CorruptRecordError');

/** True for any cancellation, also one wrapped in an ActivityFailure or ChildWorkflowFailure. */
export function isCancellation(error: unknown): boolean {
  if (error instanceof CancelledFailure) return true;
  if (error instanceof ActivityFailure || error instanceof ChildWorkflowFailure) {
    return error.cause instanceof CancelledFailure;
  }
  return false;
}

/** Turns any thrown value into a plain record. */
export function toFailureRecord(error: unknown): FailureRecord {
  if (!(error instanceof Error)) {
    return { name: 'ApplicationFailure', message: String(error), type: 'Error', nonRetryable: false };
  }
  const record: FailureRecord = { name: error.name, message: error.message };
  if (error.stack !== undefined) record.stack = error.stack;
  if (error instanceof ApplicationFailure) {
    record.name = 'ApplicationFailure';
    if (error.type !== undefined) record.type = error.type;
    record.nonRetryable = error.nonRetryable;
    if (error.details !== undefined) record.details = error.details;
  } else if (error instanceof ActivityFailure) {
    record.activityType = error.activityType;
    if (error.activityId !== undefined) record.activityId = error.activityId;
    record.retryState = error.retryState;
  } else if (error instanceof ChildWorkflowFailure) {
    record.workflowType = error.workflowType;
    record.workflowExecution = { ...error.workflowExecution };
    record.retryState = error.retryState;
  } else if (error instanceof CancelledFailure) {
    if (error.details.length > 0) record.details = error.details;
  } else if (error instanceof TimeoutFailure) {
    record.timeoutType = error.timeoutType;
    // Temporal's `timeoutFailureInfo.lastHeartbeatDetails`: one payload, kept as the details.
    if (error.lastHeartbeatDetails !== undefined) record.details = [error.lastHeartbeatDetails];
  } else if (error instanceof ServerFailure) {
    record.nonRetryable = error.nonRetryable;
  } else if (error instanceof WorkflowExecutionAlreadyStartedError) {
    record.workflowType = error.workflowType;
    record.workflowExecution = { workflowId: error.workflowId, runId: '' };
  } else if (!(error instanceof TemporalFailure)) {
    // A plain JS error thrown by user code becomes an ApplicationFailure of its name's type.
    record.name = 'ApplicationFailure';
    record.type = error.name;
    record.nonRetryable = false;
  }
  if (error.cause !== undefined) record.cause = toFailureRecord(error.cause);
  return record;
}

/** Rebuilds a typed failure from a record; the inverse of {@link toFailureRecord}. */
export function fromFailureRecord(record: FailureRecord): TemporalFailure {
  const failure = typedFailure(record, record.cause && fromFailureRecord(record.cause));
  if (record.stack !== undefined) failure.stack = record.stack;
  return failure;
}

/** The failure class a record names, with the record's fields (all but the stack). */
function typedFailure(record: FailureRecord, cause: TemporalFailure | undefined): TemporalFailure {
  switch (record.name) {
    case 'ActivityFailure':
      return new ActivityFailure(
        record.message,
        record.activityType ?? '',
        record.activityId,
        record.retryState ?? 'RETRY_STATE_UNSPECIFIED',
        cause,
      );
    case 'ChildWorkflowFailure':
      return new ChildWorkflowFailure(
        undefined,
        record.workflowExecution ?? { workflowId: '', runId: '' },
        record.workflowType ?? '',
        record.retryState ?? 'RETRY_STATE_UNSPECIFIED',
        cause,
      );
    case 'CancelledFailure':
      return new CancelledFailure(record.message, record.details ?? [], cause);
    case 'TerminatedFailure':
      return new TerminatedFailure(record.message, cause);
    case 'TimeoutFailure':
      return new TimeoutFailure(record.message, record.details?.[0], record.timeoutType ?? 'START_TO_CLOSE');
    case 'ServerFailure':
      return new ServerFailure(record.message, record.nonRetryable ?? false, cause);
    case 'WorkflowExecutionAlreadyStartedError':
      return new WorkflowExecutionAlreadyStartedError(
        record.message,
        record.workflowExecution?.workflowId ?? '',
        record.workflowType ?? '',
      );
    default:
      return new ApplicationFailure(
        record.message,
        record.type,
        record.nonRetryable ?? false,
        record.details,
        cause,
      );
  }
}

const weftErrors: Record<string, new (message: string) => Error> = {
  DeterminismViolationError,
  EngineGoneError,
  InvalidArgumentError,
  QueryNotRegisteredError,
  SchemaMismatchError,
  StorageLostError,
  CorruptRecordError,
  WeftError,
};

/** A plain record of a client-facing error (not an execution failure), for crossing a worker boundary. */
export interface ErrorRecord {
  name: string;
  message: string;
  workflowId?: string;
  runId?: string;
  workflowType?: string;
  failure?: FailureRecord;
  retryState?: RetryState;
}

export function toErrorRecord(error: unknown): ErrorRecord {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  if (error instanceof TemporalFailure && !(error instanceof WorkflowExecutionAlreadyStartedError)) {
    return { name: 'Failure', message: error.message, failure: toFailureRecord(error) };
  }
  const record: ErrorRecord = { name: error.name, message: error.message };
  if (error instanceof WorkflowExecutionAlreadyStartedError) {
    record.workflowId = error.workflowId;
    record.workflowType = error.workflowType;
  } else if (error instanceof WorkflowNotFoundError) {
    record.workflowId = error.workflowId;
    if (error.runId !== undefined) record.runId = error.runId;
  } else if (error instanceof WorkflowFailedError || error instanceof WorkflowUpdateFailedError) {
    if (error.cause !== undefined) record.failure = toFailureRecord(error.cause);
    if (error instanceof WorkflowFailedError) record.retryState = error.retryState;
  }
  return record;
}

export function fromErrorRecord(record: ErrorRecord): Error {
  const failure = record.failure && fromFailureRecord(record.failure);
  switch (record.name) {
    case 'WorkflowExecutionAlreadyStartedError':
      return new WorkflowExecutionAlreadyStartedError(
        record.message,
        record.workflowId ?? '',
        record.workflowType ?? '',
      );
    case 'WorkflowNotFoundError':
      return new WorkflowNotFoundError(record.message, record.workflowId ?? '', record.runId);
    case 'WorkflowFailedError':
      return new WorkflowFailedError(record.message, failure, record.retryState ?? 'RETRY_STATE_UNSPECIFIED');
    case 'WorkflowUpdateFailedError':
      return new WorkflowUpdateFailedError(record.message, failure);
    case 'Failure':
      return failure ?? new Error(record.message);
  }
  const Ctor = weftErrors[record.name];
  if (Ctor) return new Ctor(record.message);
  const e = new Error(record.message);
  e.name = record.name;
  return e;
}

/**
 * Gives a class's instances their `name` on the prototype: class names are minified in
 * production bundles, prototype `name` strings are not, and `instanceof` across bundles
 * compares them.
 */
export function named(cls: Function, name: string): void {
  Object.defineProperty(cls.prototype, 'name', { value: name });
}
