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
}

export type Reply<T> = { ok: T } | { error: ErrorRecord };

export interface EngineApi {
  start(
    workflowType: string,
    options: WorkflowStartOptions,
  ): Promise<Reply<{ workflowId: string; runId: string }>>;
  signal(
    workflowId: string,
    runId: string | undefined,
    signalName: string,
    args: unknown[],
  ): Promise<Reply<void>>;
  query(
    workflowId: string,
    runId: string | undefined,
    queryName: string,
    args: unknown[],
  ): Promise<Reply<unknown>>;
  update(
    workflowId: string,
    runId: string | undefined,
    updateName: string,
    args: unknown[],
  ): Promise<Reply<unknown>>;
  cancel(workflowId: string, runId: string | undefined, reason?: string): Promise<Reply<void>>;
  terminate(workflowId: string, runId: string | undefined, reason?: string): Promise<Reply<void>>;
  describe(workflowId: string, runId: string | undefined): Promise<Reply<WorkflowDescription>>;
  history(workflowId: string, runId: string | undefined): Promise<Reply<HistoryEvent[]>>;
  /** Resolves when the run (or the last run of its chain) closes. */
  result(workflowId: string, runId: string | undefined): Promise<Reply<WorkflowOutcome>>;
  list(filter: WorkflowListFilter): Promise<Reply<WorkflowDescription[]>>;
  /** Calls `listener` for each change until the returned id is passed to `unwatch`. */
  watch(listener: (changes: WorkflowChange[]) => void): Promise<number>;
  unwatch(id: number): Promise<void>;
}
