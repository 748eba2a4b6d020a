import type {
  Duration,
  ErrorRecord,
  ExecutionRef,
  ExecutionStatus,
  FailureRecord,
  HistoryEvent,
  RetryPolicy,
  RetryState,
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
} from '../engine/index.ts';

/**
 * What a page hears of its engine's storage, as the `detail` of a `storage` event on the
 * client: `full` (the database is out of space: writes, and the calls waiting on them, wait
 * until it takes them), `ok` (space came back, all goes on), `lost` (the database was deleted
 * or cleared: the engine stopped, and calls fail with `StorageLostError`). The store's
 * `StoreStatus`, as the page sees it (the client reaches nothing of the store, not even a type).
 */
export type StorageStatus =
  | { state: 'ok' }
  | { state: 'full'; message: string }
  | { state: 'lost'; message: string };

/**
 * The flat API a host exposes (over Comlink from a worker, or directly in process). Every
 * argument and result is plain, structured-cloneable data; errors come back as records in
 * the reply, so the client can rebuild typed errors (Comlink alone keeps only name and message).
 */

export interface WorkflowStartOptions {
  workflowId: string;
  /**
   * Makes the start idempotent, as Temporal's request ID: a start with the ID of the run it
   * finds returns that run. Hosts set one on every start, so one that is sent again to a new
   * leader (the old one died before it answered) does not fail as already started.
   */
  requestId?: string;
  args?: unknown[];
  taskQueue?: string;
  workflowIdReusePolicy?: WorkflowIdReusePolicy;
  workflowIdConflictPolicy?: WorkflowIdConflictPolicy;
  workflowExecutionTimeout?: Duration;
  workflowRunTimeout?: Duration;
  workflowTaskTimeout?: Duration;
  retry?: RetryPolicy;
  memo?: Record<string, unknown>;
}

/**
 * `signalWithStart`'s options: a start's, and the signal. `workflowIdConflictPolicy` may only be
 * `USE_EXISTING` (the default: a running execution gets the signal), as in Temporal.
 */
export interface WorkflowSignalWithStartOptions extends WorkflowStartOptions {
  /** The signal's name. */
  signal: string;
  signalArgs?: unknown[];
}

export interface WorkflowDescription {
  workflowId: string;
  runId: string;
  type: string;
  taskQueue: string;
  status: ExecutionStatus;
  startTime: Date;
  closeTime?: Date;
  parent?: ExecutionRef;
  root?: ExecutionRef;
  historyLength: number;
  firstExecutionRunId: string;
  /** Set while the last workflow task failed (e.g. nondeterminism): the run waits for a fix. */
  blocked?: { reason: string; since: Date };
  parentClosePolicy?: string;
  memo?: Record<string, unknown>;
}

export interface WorkflowListFilter {
  workflowType?: string;
  status?: ExecutionStatus;
  parentWorkflowId?: string;
  workflowId?: string;
  /** Started at or after this time (a Date, or milliseconds since the epoch). */
  startTimeFrom?: Date | number;
  /** Started before this time (a Date, or milliseconds since the epoch). */
  startTimeTo?: Date | number;
}

/** A filter, and which page of what it matches. */
export interface WorkflowListQuery extends WorkflowListFilter {
  /** Executions per page: 1 to 1,000 (default 100). */
  pageSize?: number;
  /** From the previous page: this page starts after it. Absent: the first page. */
  nextPageToken?: string;
}

/** One page of executions, newest first; `nextPageToken` is absent on the last page. */
export interface WorkflowListPage {
  executions: WorkflowDescription[];
  nextPageToken?: string;
}

/** A closed run's outcome, following continue-as-new and retries to the last run. */
export type WorkflowOutcome =
  | { status: 'COMPLETED'; runId: string; result: unknown }
  | {
      status: Exclude<ExecutionStatus, 'COMPLETED' | 'RUNNING' | 'CONTINUED_AS_NEW'>;
      runId: string;
      failure: FailureRecord;
      retryState: RetryState;
    };

/** What `watch` listeners receive: a run changed. */
export interface WorkflowChange {
  workflowId: string;
  runId: string;
  type: string;
  status: ExecutionStatus;
  parentWorkflowId?: string;
  historyLength: number;
  blocked: boolean;
  /** The execution was deleted (retention, or `delete()`). */
  deleted?: true;
}

export type Reply<T> = { ok: T } | { error: ErrorRecord };

export interface EngineApi {
  start(
    workflowType: string,
    options: WorkflowStartOptions,
  ): Promise<Reply<{ workflowId: string; runId: string }>>;
  /**
   * Signals the ID's running execution, or starts one with the signal first in its history, in
   * one transaction. `started`: this request started the run.
   */
  signalWithStart(
    workflowType: string,
    options: WorkflowSignalWithStartOptions,
  ): Promise<Reply<{ workflowId: string; runId: string; started: boolean }>>;
  /**
   * `requestId` (and the like on `cancel` and `terminate`): the host the client called sets one
   * on each call, so that a call it sends again to a new leader takes effect once.
   */
  signal(
    workflowId: string,
    runId: string | undefined,
    signalName: string,
    args: unknown[],
    requestId?: string,
  ): Promise<Reply<void>>;
  query(
    workflowId: string,
    runId: string | undefined,
    queryName: string,
    args: unknown[],
  ): Promise<Reply<unknown>>;
  /** An update sent again with the same `updateId` runs once, and returns the first one's outcome. */
  update(
    workflowId: string,
    runId: string | undefined,
    updateName: string,
    args: unknown[],
    updateId?: string,
  ): Promise<Reply<unknown>>;
  cancel(
    workflowId: string,
    runId: string | undefined,
    reason?: string,
    requestId?: string,
  ): Promise<Reply<void>>;
  terminate(
    workflowId: string,
    runId: string | undefined,
    reason?: string,
    requestId?: string,
  ): Promise<Reply<void>>;
  describe(workflowId: string, runId: string | undefined): Promise<Reply<WorkflowDescription>>;
  history(workflowId: string, runId: string | undefined): Promise<Reply<HistoryEvent[]>>;
  /** Resolves when the run (or the last run of its chain) closes. */
  result(workflowId: string, runId: string | undefined): Promise<Reply<WorkflowOutcome>>;
  /** Deletes a closed execution with its history. */
  delete(workflowId: string, runId: string | undefined): Promise<Reply<void>>;
  listPage(query: WorkflowListQuery): Promise<Reply<WorkflowListPage>>;
  count(filter: WorkflowListFilter): Promise<Reply<{ count: number }>>;
  /** Calls `listener` for each change until the returned id is passed to `unwatch`. */
  watch(listener: (changes: WorkflowChange[]) => void): Promise<number>;
  unwatch(id: number): Promise<void>;
}

/** Every method of {@link EngineApi}: what a client calls, and all a worker lets through. */
export const ENGINE_API_METHODS = [
  'start',
  'signalWithStart',
  'signal',
  'query',
  'update',
  'cancel',
  'terminate',
  'describe',
  'history',
  'result',
  'delete',
  'listPage',
  'count',
  'watch',
  'unwatch',
] as const satisfies readonly (keyof EngineApi)[];
// A method added to EngineApi and not listed above fails to compile here.
const everyMethod: [Exclude<keyof EngineApi, (typeof ENGINE_API_METHODS)[number]>] extends [never]
  ? true
  : never = true;
void everyMethod;
