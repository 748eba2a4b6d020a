import type { ChildStartResolution, JobOf, WorkflowInfo } from '../activation.ts';
import type { Command } from '../commands.ts';
import { defined } from '../defined.ts';
import type {
  ChildWorkflowCancellationType,
  ParentClosePolicy,
  RetryPolicy,
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
} from '../events.ts';
import {
  ApplicationFailure,
  CancelledFailure,
  ChildWorkflowFailure,
  fromFailureRecord,
  InvalidArgumentError,
  type RetryState,
  WorkflowExecutionAlreadyStartedError,
} from '../failure.ts';
import { take } from '../helpers.ts';
import type { RuntimeOptions } from '../runtime.ts';
import { CancellationScope } from '../scope.ts';
import type { RuntimeCore } from './core.ts';
import type { ExternalRequests } from './external.ts';
import { type Deferred, deferred } from './operations.ts';

export interface ChildOptions {
  workflowId?: string;
  args?: unknown[];
  taskQueue?: string;
  parentClosePolicy?: ParentClosePolicy;
  cancellationType?: ChildWorkflowCancellationType;
  workflowExecutionTimeout?: number;
  workflowRunTimeout?: number;
  workflowTaskTimeout?: number;
  retry?: RetryPolicy;
  workflowIdReusePolicy?: WorkflowIdReusePolicy;
  workflowIdConflictPolicy?: WorkflowIdConflictPolicy;
  memo?: Record<string, unknown>;
}

/** What `startChild` returns. */
export interface ChildWorkflowHandle<R = unknown> {
  readonly workflowId: string;
  readonly firstExecutionRunId: string;
  result(): Promise<R>;
  signal(def: string | { name: string }, ...args: unknown[]): Promise<void>;
}

export type ChildJob = JobOf<'ResolveChildWorkflowExecutionStart' | 'ResolveChildWorkflowExecution'>;

export interface ChildState {
  workflowId: string;
  workflowType: string;
  cancellationType: ChildWorkflowCancellationType;
  command: Command;
  scope: CancellationScope;
  /**
   * The scope of the code that last asked for the result: its continuation runs there, not in
   * `scope`, which may be cancelled while that code is not (the scope that started the child
   * has often returned by then).
   */
  resume?: CancellationScope;
  /** Set once the child has started. */
  runId?: string;
  cancelSent: boolean;
  start: Deferred<ChildWorkflowHandle>;
  result: Deferred<unknown>;
}

/**
 * Child workflows: `StartChildWorkflowExecution` out; their start and their end come back in
 * (`ResolveChildWorkflowExecutionStart`, `ResolveChildWorkflowExecution`). Cancelling a
 * child's scope follows its cancellation type.
 */
export class Children {
  /** Children not yet closed, by seq. */
  readonly pending = new Map<number, ChildState>();
  #seq = 1;
  /** Children whose result has not settled: counted, as a fan-out of thousands checks it per start. */
  #open = 0;
  readonly #childClosed = (): void => {
    this.#open--;
  };
  readonly #core: RuntimeCore;
  readonly #external: ExternalRequests;
  readonly #typeOf: ((fn: Function) => string | undefined) | undefined;
  readonly #maxPendingChildren: number;
  /** The run's IDs and task queue, as `workflowInfo()` shows them. */
  readonly #facts: () => Pick<WorkflowInfo, 'workflowId' | 'runId' | 'taskQueue'>;

  constructor(
    core: RuntimeCore,
    external: ExternalRequests,
    options: RuntimeOptions,
    facts: () => Pick<WorkflowInfo, 'workflowId' | 'runId' | 'taskQueue'>,
  ) {
    this.#core = core;
    this.#external = external;
    this.#typeOf = options.workflowTypeOf;
    this.#maxPendingChildren = options.maxPendingChildren ?? 2_000;
    this.#facts = facts;
  }

  /** Resolves a workflow function or type name to the registered type name. */
  workflowTypeName(workflow: string | Function): string {
    if (typeof workflow === 'string') return workflow;
    const name = this.#typeOf?.(workflow);
    if (name === undefined) {
      throw new InvalidArgumentError(
        `Workflow function ${workflow.name || '(anonymous)'} is not registered; register it or pass its type name`,
      );
    }
    return name;
  }

  /** Starts a child; resolves once `ChildWorkflowExecutionStarted` is in history. */
  start(workflowType: string, options: ChildOptions): Promise<ChildWorkflowHandle> {
    this.#core.assertActive('startChild');
    const scope = CancellationScope.current();
    if (scope.consideredCancelled)
      return Promise.reject(new CancelledFailure('Child workflow cancelled before start'));
    if (this.#open >= this.#maxPendingChildren) {
      return Promise.reject(
        ApplicationFailure.nonRetryable(
          `Too many pending child workflows (at most ${this.#maxPendingChildren} per run)`,
          'PendingChildWorkflowsLimitExceeded',
        ),
      );
    }
    const seq = this.#seq++;
    // Deterministic on replay: derived from this run and the child's sequence number.
    const facts = this.#facts();
    const workflowId = options.workflowId ?? `${facts.workflowId}/${facts.runId.slice(0, 8)}/child-${seq}`;
    const command: Command = {
      type: 'StartChildWorkflowExecution',
      seq,
      workflowId,
      workflowType,
      taskQueue: options.taskQueue ?? facts.taskQueue,
      input: options.args ?? [],
      parentClosePolicy: options.parentClosePolicy ?? 'TERMINATE',
      cancellationType: options.cancellationType ?? 'WAIT_CANCELLATION_COMPLETED',
      workflowIdReusePolicy: options.workflowIdReusePolicy ?? 'ALLOW_DUPLICATE',
      workflowIdConflictPolicy: options.workflowIdConflictPolicy ?? 'FAIL',
      ...defined({
        workflowExecutionTimeout: options.workflowExecutionTimeout,
        workflowRunTimeout: options.workflowRunTimeout,
        workflowTaskTimeout: options.workflowTaskTimeout,
        retryPolicy: options.retry,
        memo: options.memo,
      }),
    };
    this.#core.push(command);
    const start = deferred<ChildWorkflowHandle>(scope);
    this.#open++;
    const result = deferred<unknown>(scope, this.#childClosed);
    // An unawaited result must not be reported as unhandled.
    result.promise.catch(() => undefined);
    const child: ChildState = {
      workflowId,
      workflowType,
      cancellationType: command.cancellationType,
      command,
      scope,
      cancelSent: false,
      start,
      result,
    };
    this.pending.set(seq, child);
    scope.onCancel((failure) => this.#cancelChild(seq, failure));
    return start.promise;
  }

  #cancelChild(seq: number, failure: CancelledFailure): void {
    const child = this.pending.get(seq);
    if (!child || child.result.settled) return;
    this.#core.touch();
    if (child.runId === undefined) {
      if (this.#core.unsend(child.command)) {
        // Never left this activation: as if it had not been called.
        this.#dropChild(seq, failure);
        return;
      }
      // Initiated but not started yet: the start resolves as cancelled; the cancel request is
      // sent once the child has started (see resolveStart).
      child.start.reject(failure);
      if (child.cancellationType === 'ABANDON' || child.cancellationType === 'TRY_CANCEL') {
        child.result.reject(this.#childFailure(child, failure));
      }
      return;
    }
    this.#requestChildCancel(child, failure);
  }

  #requestChildCancel(child: ChildState, failure: CancelledFailure): void {
    if (child.cancellationType === 'ABANDON') {
      child.result.reject(this.#childFailure(child, failure));
      return;
    }
    if (!child.cancelSent) {
      child.cancelSent = true;
      const requested = this.#external.requestCancel(child.workflowId, child.runId, true, child.scope);
      requested.catch(() => undefined);
    }
    if (child.cancellationType === 'TRY_CANCEL') child.result.reject(this.#childFailure(child, failure));
    // WAIT_CANCELLATION_COMPLETED and WAIT_CANCELLATION_REQUESTED: the result follows the child's
    // own outcome. Temporal's documentation says the latter settles once the request is
    // delivered, but its SDKs' core resolves only TRY_CANCEL and ABANDON at once and the others
    // on the child's close; Temporal's replayer is the judge of weft's histories, so weft does
    // as its SDK does.
  }

  #childFailure(
    child: ChildState,
    cause: Error,
    retryState: RetryState = 'RETRY_STATE_NON_RETRYABLE_FAILURE',
  ) {
    return new ChildWorkflowFailure(
      'default',
      { workflowId: child.workflowId, runId: child.runId ?? '' },
      child.workflowType,
      retryState,
      cause,
    );
  }

  resolveStart(seq: number, resolution: ChildStartResolution): void {
    const child = this.pending.get(seq);
    if (!child) return;
    this.#core.enter(child.scope);
    if ('succeeded' in resolution) {
      child.runId = resolution.succeeded.runId;
      const handle: ChildWorkflowHandle = {
        workflowId: child.workflowId,
        firstExecutionRunId: resolution.succeeded.runId,
        result: () => {
          child.resume = CancellationScope.current();
          return child.result.promise;
        },
        signal: (def, ...args) =>
          this.#external.signal(
            child.workflowId,
            child.runId,
            typeof def === 'string' ? def : def.name,
            args,
            true,
          ),
      };
      if (child.start.settled) {
        // Cancelled while only initiated: now that it runs, ask it to stop (an abandoned
        // child's result was rejected then, so this changes nothing for it).
        this.#requestChildCancel(child, new CancelledFailure('Child workflow cancelled'));
      } else {
        child.start.resolve(handle);
      }
    } else {
      const { workflowId, workflowType, cause } = resolution.failed;
      this.#dropChild(
        seq,
        new WorkflowExecutionAlreadyStartedError(
          `Child workflow '${workflowId}' was not started: ${cause}`,
          workflowId,
          workflowType,
        ),
      );
    }
  }

  /** Forgets a child that will never run: its start and result reject with `error`. */
  #dropChild(seq: number, error: Error): void {
    const child = take(this.pending, seq)!;
    child.start.reject(error);
    child.result.reject(error);
  }

  resolve(job: JobOf<'ResolveChildWorkflowExecution'>): void {
    const child = take(this.pending, job.seq);
    if (!child) return;
    this.#core.enter(child.resume ?? child.scope);
    // A missing retry state (always, for a cancellation) is #childFailure's default.
    if (job.failure)
      child.result.reject(this.#childFailure(child, fromFailureRecord(job.failure), job.retryState));
    else child.result.resolve(job.result);
  }
}
