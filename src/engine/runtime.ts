import type { Activation, ChildStartResolution, Job, JobOf, Settlement, WorkflowInfo } from './activation.ts';
import { type Command, type CommandOf, isClosingCommand } from './commands.ts';
import { defined } from './defined.ts';
import type {
  ChildWorkflowCancellationType,
  ParentClosePolicy,
  RetryPolicy,
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
} from './events.ts';
import {
  ActivityFailure,
  ApplicationFailure,
  CancelledFailure,
  ChildWorkflowFailure,
  fromFailureRecord,
  InvalidArgumentError,
  isCancellation,
  named,
  QueryNotRegisteredError,
  type RetryState,
  TemporalFailure,
  toFailureRecord,
  WorkflowExecutionAlreadyStartedError,
} from './failure.ts';
import { promiseOf, take } from './helpers.ts';
import { seededRandom, uuid4From } from './random.ts';
import { CancellationScope, type ScopeTimerHost, setScopeContext } from './scope.ts';

/**
 * Runs one workflow run's code: activation in, commands out. Each authoring call takes the
 * next sequence number of its kind, so replay matches commands to events by position.
 *
 * An activation runs inside one microtask checkpoint: jobs are applied one at a time and the
 * runtime waits for the workflow's microtasks to go quiet before the next. No macrotask can
 * run in between, so activity code in the same worker never observes the workflow's
 * deterministic clock, and workflow code never sees real time.
 */
let active: WorkflowRuntime | undefined;

/** The runtime whose activation is running now, if any. */
export function activeRuntime(): WorkflowRuntime | undefined {
  return active;
}

/** Thrown by `continueAsNew` to end this run and start a fresh one. */
export class ContinueAsNew extends Error {
  // `declare`d, as in failure.ts: the property without a class field.
  declare readonly command: CommandOf<'ContinueAsNewWorkflowExecution'>;
  constructor(command: CommandOf<'ContinueAsNewWorkflowExecution'>) {
    super('Workflow continued as new');
    this.command = command;
  }
}
named(ContinueAsNew, 'ContinueAsNew');

type Handler = (...args: unknown[]) => unknown;

/** A reaction on it runs one microtask later: the quiescence wait's unit of time. */
const fulfilled = Promise.resolve();

interface Deferred<T> extends Pending {
  promise: Promise<T>;
  settled: boolean;
}

/** `onSettled` runs once, when the deferred first settles. */
function deferred<T>(scope: CancellationScope, onSettled?: () => void): Deferred<T> {
  const d = { settled: false, scope } as Deferred<T>;
  d.promise = new Promise<T>((resolve, reject) => {
    d.resolve = (value) => {
      if (d.settled) return;
      d.settled = true;
      onSettled?.();
      resolve(value as T);
    };
    d.reject = (error) => {
      if (d.settled) return;
      d.settled = true;
      onSettled?.();
      reject(error);
    };
  });
  return d;
}
interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
  scope: CancellationScope;
}

export interface ActivityCallOptions {
  taskQueue: string;
  startToCloseTimeout?: number;
  scheduleToCloseTimeout?: number;
  heartbeatTimeout?: number;
  retry?: RetryPolicy;
}

/** How a run's code runs: the machine passes these on to its runtime as they are. */
export interface RuntimeOptions {
  /** Microtask hops without workflow activity that count as quiet (default 200). */
  quiescenceBudget?: number;
  /** Finds the registered type name of a workflow function (by identity, never by `fn.name`). */
  workflowTypeOf?: (fn: Function) => string | undefined;
  /** Children started and not yet closed, per run (default 2,000). */
  maxPendingChildren?: number;
}

export interface RuntimeInit extends RuntimeOptions {
  info: Omit<WorkflowInfo, 'unsafe' | 'historyLength' | 'continueAsNewSuggested'>;
  workflowFn: Handler;
  randomnessSeed: number;
}

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

type ChildJob = JobOf<'ResolveChildWorkflowExecutionStart' | 'ResolveChildWorkflowExecution'>;

interface ChildState {
  workflowId: string;
  workflowType: string;
  cancellationType: ChildWorkflowCancellationType;
  command: Command;
  scope: CancellationScope;
  /** Set once the child has started. */
  runId?: string;
  cancelSent: boolean;
  start: Deferred<ChildWorkflowHandle>;
  result: Deferred<unknown>;
}

export class WorkflowRuntime implements ScopeTimerHost {
  /** Set last by the constructor (`declare`d: no class field). */
  declare readonly rootScope: CancellationScope;
  readonly #workflowFn: Handler;
  readonly #random: () => number;
  readonly #budget: number;
  #commands: Command[] = [];
  #closed = false;
  readonly #seq = { timer: 1, activity: 1, child: 1, signal: 1, cancel: 1 };
  readonly #children = new Map<number, ChildState>();
  /** Children whose result has not settled: counted, as a fan-out of thousands checks it per start. */
  #openChildren = 0;
  readonly #childClosed = (): void => {
    this.#openChildren--;
  };
  readonly #externalSignals = new Map<number, Pending>();
  readonly #externalCancels = new Map<number, Pending>();
  readonly #typeOf: ((fn: Function) => string | undefined) | undefined;
  readonly #maxPendingChildren: number;
  readonly #timers = new Map<number, Pending>();
  readonly #activities = new Map<number, Pending>();
  /** The open operations each kind of job settles, by the job's `seq`. */
  readonly #operations: Record<Settlement['type'], Map<number, Pending>> &
    Record<ChildJob['type'], Map<number, ChildState>> = {
    FireTimer: this.#timers,
    ResolveActivity: this.#activities,
    ResolveChildWorkflowExecutionStart: this.#children,
    ResolveChildWorkflowExecution: this.#children,
    ResolveSignalExternalWorkflow: this.#externalSignals,
    ResolveRequestCancelExternalWorkflow: this.#externalCancels,
  };
  /** Conditions waiting, in the order they were called. */
  readonly #conditions = new Set<{ fn: () => boolean; resolve(): void }>();
  readonly #signalHandlers = new Map<string, Handler>();
  #defaultSignalHandler: ((signalName: string, ...args: unknown[]) => unknown) | undefined;
  readonly #bufferedSignals: { signalName: string; input: unknown[] }[] = [];
  readonly #queryHandlers = new Map<string, Handler>();
  readonly #updateHandlers = new Map<string, { handler: Handler; validator?: Handler }>();
  readonly #patchMemo = new Map<string, boolean>();
  /** The patches recorded in the task being replayed: a few at most, and `patched()` memoises. */
  #patchesInTask: readonly string[] = [];
  readonly #facts: RuntimeInit['info'];
  /** What `workflowInfo()` returns, built on first use: most runs never ask for it. */
  #infoObject: WorkflowInfo | undefined;
  /** The `workflowInfo()` fields that change at each activation. */
  #progress: Pick<WorkflowInfo, 'historyLength' | 'continueAsNewSuggested'> = {
    historyLength: 0,
    continueAsNewSuggested: false,
  };
  #now = 0;
  #replaying = false;
  #tick = 0;
  #inActivation = false;
  /** An error that fails the current workflow task (not the workflow). */
  #taskFailure: { error: unknown } | undefined;

  constructor(init: RuntimeInit) {
    this.#workflowFn = init.workflowFn;
    this.#random = seededRandom(init.randomnessSeed);
    this.#budget = init.quiescenceBudget ?? 200;
    this.#typeOf = init.workflowTypeOf;
    this.#maxPendingChildren = init.maxPendingChildren ?? 2_000;
    this.#facts = init.info;
    this.rootScope = new CancellationScope({ cancellable: true, parent: 'root' });
  }

  /** The run's facts for `workflowInfo()`: one object per run, updated at each activation. */
  get info(): WorkflowInfo {
    if (this.#infoObject === undefined) {
      const runtime = this;
      // Object.assign rather than `{ ...this.#facts, more }`: V8 builds a literal that starts
      // with a spread on a slow path.
      this.#infoObject = Object.assign({}, this.#facts, this.#progress, {
        unsafe: {
          get isReplaying() {
            return runtime.#replaying;
          },
          now: () => runtime.#now,
        },
      });
    }
    return this.#infoObject;
  }

  /** The run's task queue, as `workflowInfo()` shows it, without building that object. */
  get taskQueue(): string {
    return (this.#infoObject ?? this.#facts).taskQueue;
  }

  /** Applies an activation's jobs and returns the commands the workflow produced. */
  async activate(activation: Activation): Promise<Command[]> {
    this.#now = activation.timestamp;
    this.#replaying = activation.isReplaying;
    this.#progress = {
      historyLength: activation.historyLength,
      continueAsNewSuggested: activation.continueAsNewSuggested,
    };
    if (this.#infoObject !== undefined) Object.assign(this.#infoObject, this.#progress);
    this.#patchesInTask = activation.patches ?? [];
    active = this;
    this.#inActivation = true;
    setScopeContext(this.rootScope, this);
    try {
      // Consecutive jobs that resume code in the same scope are applied together (as Temporal
      // applies a whole activation), then the workflow's microtasks drain once: a fan-in of
      // a thousand results costs one quiescence wait, not a thousand.
      const jobs = activation.jobs;
      for (let i = 0; i < jobs.length && !this.#taskFailure; ) {
        const scope = this.#scopeOfJob(jobs[i]!);
        do this.#applyJob(jobs[i++]!);
        while (i < jobs.length && this.#scopeOfJob(jobs[i]!) === scope);
        await this.#quiesce();
      }
      while (!this.#taskFailure && this.#unblockConditions()) await this.#quiesce();
    } finally {
      this.#inActivation = false;
      active = undefined;
      setScopeContext(undefined);
    }
    if (this.#taskFailure) {
      const { error } = this.#taskFailure;
      this.#taskFailure = undefined;
      throw error;
    }
    const commands = this.#commands;
    this.#commands = [];
    return commands;
  }

  /** Deterministic time for `Date` inside the workflow. */
  currentTime(): number {
    this.#touch();
    return this.#now;
  }

  /** The run's seeded random number, which workflow code sees as its random source. */
  nextRandom(): number {
    this.#touch();
    return this.#random();
  }

  uuid4(): string {
    this.#touch();
    return uuid4From(this.#random);
  }

  #touch(): void {
    this.#tick++;
  }

  /**
   * Waits until the workflow's microtasks have gone quiet: `budget` hops in a row in which no
   * workflow API was called. Each hop is exactly one microtask (`await` on a fulfilled native
   * promise), and this runs hundreds of times per activation: an async loop allocates no
   * derived promise per hop, unlike a chain of `then` (measured: a quarter less time, and the
   * largest source of garbage in a start gone).
   */
  async #quiesce(): Promise<void> {
    const budget = this.#budget;
    let idle = 0;
    let seen = this.#tick;
    while (idle < budget) {
      await fulfilled;
      if (this.#tick !== seen) {
        seen = this.#tick;
        idle = 0;
      } else idle++;
    }
  }

  /** Called by every authoring function: refuses use outside an activation. */
  assertActive(what: string): void {
    if (!this.#inActivation) {
      const error = new Error(
        `${what} called outside a workflow activation: workflow code awaited a non-workflow promise (e.g. fetch, a real timer)`,
      );
      this.#taskFailure ??= { error };
      throw error;
    }
    this.#touch();
  }

  #push(command: Command): void {
    // Temporal drops commands after the one that closes the run.
    if (this.#closed) return;
    this.#commands.push(command);
    if (isClosingCommand(command)) this.#closed = true;
  }

  /** Removes a command not yet handed out (cancelled in the same activation). */
  #unsend(command: Command): boolean {
    const index = this.#commands.indexOf(command);
    if (index < 0) return false;
    this.#commands.splice(index, 1);
    return true;
  }

  /** The scope whose code a job resumes (root for inputs such as signals). */
  #scopeOfJob(job: Job): CancellationScope {
    return ('seq' in job && this.#operations[job.type].get(job.seq)?.scope) || this.rootScope;
  }

  #applyJob(job: Job): void {
    this.#touch();
    switch (job.type) {
      case 'StartWorkflow':
        this.#startMain(job.input);
        return;
      case 'FireTimer':
      case 'ResolveActivity':
      case 'ResolveSignalExternalWorkflow':
      case 'ResolveRequestCancelExternalWorkflow':
        this.#settle(this.#operations[job.type], job);
        return;
      case 'SignalWorkflow':
        this.#deliverSignal(job.signalName, job.input);
        return;
      case 'CancelWorkflow':
        setScopeContext(this.rootScope);
        this.rootScope.cancel(new CancelledFailure('Workflow cancelled'));
        return;
      case 'DoUpdate':
        this.#doUpdate(job.updateId, job.name, job.input, job.accepted);
        return;
      case 'ResolveChildWorkflowExecutionStart':
        this.#resolveChildStart(job.seq, job.result);
        return;
      case 'ResolveChildWorkflowExecution':
        this.#resolveChild(job);
        return;
    }
  }

  /** Settles an open operation (if it still is), in its own scope. */
  #settle(operations: Map<number, Pending>, { seq, result, failure }: Settlement): void {
    const pending = take(operations, seq);
    if (!pending) return;
    this.#enter(pending.scope);
    if (failure) pending.reject(fromFailureRecord(failure));
    else pending.resolve(result);
  }

  #startMain(input: unknown[]): void {
    setScopeContext(this.rootScope);
    promiseOf(() => this.#workflowFn(...input)).then(
      (value) => this.#push({ type: 'CompleteWorkflowExecution', result: value }),
      (error: unknown) => this.#failWorkflow(error),
    );
  }

  /** What an error thrown out of workflow code (main function or a handler) means. */
  #failWorkflow(error: unknown): void {
    this.#touch();
    if (error instanceof ContinueAsNew) {
      this.#push(error.command);
    } else if (isCancellation(error) && this.rootScope.consideredCancelled) {
      this.#push({ type: 'CancelWorkflowExecution' });
    } else if (error instanceof TemporalFailure) {
      this.#push({ type: 'FailWorkflowExecution', failure: toFailureRecord(error) });
    } else {
      // Temporal's rule: an error that is not a failure fails the workflow task, not the
      // workflow, so a bug can be fixed and the run resumed.
      this.#taskFailure ??= { error };
    }
  }

  // ---- timers -------------------------------------------------------------------------

  /** A durable timer in the current scope. */
  sleep(ms: number): Promise<void> {
    this.assertActive('sleep');
    return this.startScopeTimer(ms, CancellationScope.current()).promise;
  }

  startScopeTimer(ms: number, scope: CancellationScope): { promise: Promise<void>; cancel(): void } {
    this.#touch();
    if (scope.consideredCancelled) {
      return { promise: Promise.reject(new CancelledFailure('Timer cancelled')), cancel: () => undefined };
    }
    const seq = this.#seq.timer++;
    return this.#open<void>(
      this.#timers,
      seq,
      { type: 'StartTimer', seq, startToFireTimeout: Math.max(1, Math.round(ms)) },
      { type: 'CancelTimer', seq },
      scope,
    );
  }

  /**
   * Sends `command` and keeps its operation open until a job settles it. Cancelling `scope`
   * drops the operation: the command is withdrawn if not handed out yet, else `cancelCommand`
   * is sent, and the promise rejects with `cancelled(failure)`. `cancel()` drops it silently.
   * The caller has checked that `scope` is not cancelled already.
   */
  #open<T>(
    operations: Map<number, Pending>,
    seq: number,
    command: Command,
    cancelCommand: Command,
    scope: CancellationScope,
    cancelled: (failure: CancelledFailure) => Error = (failure) => failure,
  ): { promise: Promise<T>; cancel(): void } {
    this.#push(command);
    const pending = deferred<T>(scope, () => unlisten());
    /** False if the operation was no longer open. */
    const drop = (): boolean => {
      if (!operations.delete(seq)) return false;
      unlisten();
      if (!this.#unsend(command)) this.#push(cancelCommand);
      return true;
    };
    const unlisten = scope.onCancel((failure) => {
      if (!drop()) return;
      this.#touch();
      pending.reject(cancelled(failure));
    });
    operations.set(seq, pending);
    return { promise: pending.promise, cancel: drop };
  }

  // ---- activities ---------------------------------------------------------------------

  scheduleActivity(activityType: string, input: unknown[], options: ActivityCallOptions): Promise<unknown> {
    this.assertActive('An activity call');
    const scope = CancellationScope.current();
    const seq = this.#seq.activity++;
    const cancelled = () =>
      new ActivityFailure(
        'Activity cancelled',
        activityType,
        String(seq),
        'RETRY_STATE_CANCEL_REQUESTED',
        new CancelledFailure('Activity cancelled'),
      );
    if (scope.consideredCancelled) return Promise.reject(cancelled());
    const command: Command = {
      type: 'ScheduleActivityTask',
      seq,
      activityType,
      taskQueue: options.taskQueue,
      input,
      ...defined({
        scheduleToCloseTimeout: options.scheduleToCloseTimeout,
        startToCloseTimeout: options.startToCloseTimeout,
        heartbeatTimeout: options.heartbeatTimeout,
        retryPolicy: options.retry,
      }),
    };
    // TRY_CANCEL, the SDK's default: ask the activity to stop and reject at once.
    return this.#open(
      this.#activities,
      seq,
      command,
      { type: 'RequestCancelActivityTask', seq },
      scope,
      cancelled,
    ).promise;
  }

  // ---- conditions ---------------------------------------------------------------------

  condition(fn: () => boolean): Promise<void> {
    this.assertActive('condition');
    const scope = CancellationScope.current();
    if (scope.consideredCancelled) return Promise.reject(new CancelledFailure('Condition cancelled'));
    return new Promise<void>((resolve, reject) => {
      const condition = {
        fn,
        resolve: () => {
          unlisten();
          setScopeContext(scope);
          resolve();
        },
      };
      const unlisten = scope.onCancel((failure) => {
        if (this.#conditions.delete(condition)) reject(failure);
      });
      this.#conditions.add(condition);
    });
  }

  #unblockConditions(): boolean {
    let unblocked = false;
    for (const condition of this.#conditions) {
      if (condition.fn()) {
        this.#conditions.delete(condition);
        this.#touch();
        condition.resolve();
        unblocked = true;
      }
    }
    return unblocked;
  }

  // ---- signals, queries, updates --------------------------------------------------------

  setSignalHandler(name: string, handler: Handler | undefined): void {
    if (handler === undefined) {
      this.#signalHandlers.delete(name);
      return;
    }
    this.#signalHandlers.set(name, handler);
    for (let i = 0; i < this.#bufferedSignals.length; ) {
      const buffered = this.#bufferedSignals[i]!;
      if (buffered.signalName === name) {
        this.#bufferedSignals.splice(i, 1);
        this.#callHandler(() => handler(...buffered.input));
      } else {
        i++;
      }
    }
  }

  setDefaultSignalHandler(handler: ((signalName: string, ...args: unknown[]) => unknown) | undefined): void {
    this.#defaultSignalHandler = handler;
    if (handler === undefined) return;
    for (const buffered of this.#bufferedSignals.splice(0)) {
      this.#callHandler(() => handler(buffered.signalName, ...buffered.input));
    }
  }

  setQueryHandler(name: string, handler: Handler | undefined): void {
    if (handler === undefined) this.#queryHandlers.delete(name);
    else this.#queryHandlers.set(name, handler);
  }

  setUpdateHandler(name: string, handler: Handler | undefined, validator?: Handler): void {
    if (handler === undefined) this.#updateHandlers.delete(name);
    else this.#updateHandlers.set(name, validator ? { handler, validator } : { handler });
  }

  #deliverSignal(signalName: string, input: unknown[]): void {
    setScopeContext(this.rootScope);
    const handler = this.#signalHandlers.get(signalName);
    if (handler) this.#callHandler(() => handler(...input));
    else if (this.#defaultSignalHandler) {
      const fallback = this.#defaultSignalHandler;
      this.#callHandler(() => fallback(signalName, ...input));
    } else this.#bufferedSignals.push({ signalName, input });
  }

  #callHandler(fn: () => unknown): void {
    try {
      const result = fn();
      if (result instanceof Promise) result.catch((error: unknown) => this.#failWorkflow(error));
    } catch (error) {
      this.#failWorkflow(error);
    }
  }

  /** Runs a query handler against the current state. Never changes the state. */
  query(name: string, args: unknown[]): unknown {
    const handler = this.#queryHandlers.get(name);
    // Temporal's built-in query: the handlers the workflow has registered (UIs list them).
    if (name === '__temporal_workflow_metadata' && !handler) {
      const names = (handlers: Map<string, unknown>) => [...handlers.keys()].map((n) => ({ name: n }));
      return {
        definition: {
          type: this.info.workflowType,
          queryDefinitions: names(this.#queryHandlers),
          signalDefinitions: names(this.#signalHandlers),
          updateDefinitions: names(this.#updateHandlers),
        },
      };
    }
    if (!handler) {
      throw new QueryNotRegisteredError(
        `Workflow ${this.info.workflowType} has no query handler '${name}' (known: ${[...this.#queryHandlers.keys()].join(', ') || 'none'})`,
      );
    }
    const previous = active;
    active = this;
    try {
      return handler(...args);
    } finally {
      active = previous;
    }
  }

  #doUpdate(updateId: string, name: string, input: unknown[], accepted: boolean): void {
    setScopeContext(this.rootScope);
    const entry = this.#updateHandlers.get(name);
    const reject = (error: unknown) =>
      this.#push({ type: 'RejectUpdate', updateId, failure: toFailureRecord(error) });
    if (!entry) {
      if (!accepted) {
        reject(
          ApplicationFailure.create({ message: `No update handler for '${name}'`, type: 'UnknownUpdate' }),
        );
      }
      return;
    }
    if (!accepted && entry.validator) {
      try {
        entry.validator(...input);
      } catch (error) {
        reject(error);
        return;
      }
    }
    this.#push({ type: 'AcceptUpdate', updateId, name, input });
    const complete = (outcome: CommandOf<'CompleteUpdate'>['outcome']) => {
      this.#touch();
      this.#push({ type: 'CompleteUpdate', updateId, outcome });
    };
    promiseOf(() => entry.handler(...input)).then(
      (value) => complete({ success: value }),
      (error: unknown) => complete({ failure: toFailureRecord(error) }),
    );
  }

  // ---- child workflows ----------------------------------------------------------------

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
  startChild(workflowType: string, options: ChildOptions): Promise<ChildWorkflowHandle> {
    this.assertActive('startChild');
    const scope = CancellationScope.current();
    if (scope.consideredCancelled)
      return Promise.reject(new CancelledFailure('Child workflow cancelled before start'));
    if (this.#openChildren >= this.#maxPendingChildren) {
      return Promise.reject(
        ApplicationFailure.nonRetryable(
          `Too many pending child workflows (at most ${this.#maxPendingChildren} per run)`,
          'PendingChildWorkflowsLimitExceeded',
        ),
      );
    }
    const seq = this.#seq.child++;
    // Deterministic on replay: derived from this run and the child's sequence number.
    const facts = this.#infoObject ?? this.#facts;
    const workflowId = options.workflowId ?? `${facts.workflowId}/${facts.runId.slice(0, 8)}/child-${seq}`;
    const command: Command = {
      type: 'StartChildWorkflowExecution',
      seq,
      workflowId,
      workflowType,
      taskQueue: options.taskQueue ?? this.taskQueue,
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
    this.#push(command);
    const start = deferred<ChildWorkflowHandle>(scope);
    this.#openChildren++;
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
    this.#children.set(seq, child);
    scope.onCancel((failure) => this.#cancelChild(seq, failure));
    return start.promise;
  }

  #cancelChild(seq: number, failure: CancelledFailure): void {
    const child = this.#children.get(seq);
    if (!child || child.result.settled) return;
    this.#touch();
    if (child.runId === undefined) {
      if (this.#unsend(child.command)) {
        // Never left this activation: as if it had not been called.
        this.#dropChild(seq, failure);
        return;
      }
      // Initiated but not started yet: the start resolves as cancelled; the cancel request is
      // sent once the child has started (see resolveChildStart).
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
      const requested = this.#requestCancel(child.workflowId, child.runId, true, child.scope);
      requested.catch(() => undefined);
      if (child.cancellationType === 'WAIT_CANCELLATION_REQUESTED') {
        requested.then(
          () => child.result.reject(this.#childFailure(child, failure)),
          () => undefined,
        );
      }
    }
    if (child.cancellationType === 'TRY_CANCEL') child.result.reject(this.#childFailure(child, failure));
    // WAIT_CANCELLATION_COMPLETED: the result follows the child's own outcome.
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

  #resolveChildStart(seq: number, resolution: ChildStartResolution): void {
    const child = this.#children.get(seq);
    if (!child) return;
    this.#enter(child.scope);
    if ('succeeded' in resolution) {
      child.runId = resolution.succeeded.runId;
      const handle: ChildWorkflowHandle = {
        workflowId: child.workflowId,
        firstExecutionRunId: resolution.succeeded.runId,
        result: () => child.result.promise,
        signal: (def, ...args) =>
          this.signalExternal(
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
    const child = take(this.#children, seq)!;
    child.start.reject(error);
    child.result.reject(error);
  }

  #resolveChild(job: JobOf<'ResolveChildWorkflowExecution'>): void {
    const child = take(this.#children, job.seq);
    if (!child) return;
    this.#enter(child.scope);
    // A missing retry state (always, for a cancellation) is #childFailure's default.
    if (job.failure)
      child.result.reject(this.#childFailure(child, fromFailureRecord(job.failure), job.retryState));
    else child.result.resolve(job.result);
  }

  /** Signals another execution; resolves once the signal is delivered. */
  signalExternal(
    workflowId: string,
    runId: string | undefined,
    signalName: string,
    input: unknown[],
    childWorkflowOnly: boolean,
  ): Promise<void> {
    this.assertActive('signal');
    const scope = CancellationScope.current();
    if (scope.consideredCancelled) return Promise.reject(new CancelledFailure('Signal cancelled'));
    return this.#toExternal(
      {
        type: 'SignalExternalWorkflowExecution',
        seq: this.#seq.signal++,
        workflowId,
        ...defined({ runId }),
        signalName,
        input,
        childWorkflowOnly,
      },
      scope,
    );
  }

  /** Requests cancellation of another execution; resolves once the request is delivered. */
  cancelExternal(workflowId: string, runId: string | undefined): Promise<void> {
    this.assertActive('cancel');
    return this.#requestCancel(workflowId, runId, false, CancellationScope.current());
  }

  #requestCancel(
    workflowId: string,
    runId: string | undefined,
    childWorkflowOnly: boolean,
    scope: CancellationScope,
  ): Promise<void> {
    return this.#toExternal(
      {
        type: 'RequestCancelExternalWorkflowExecution',
        seq: this.#seq.cancel++,
        workflowId,
        ...defined({ runId }),
        childWorkflowOnly,
      },
      scope,
    );
  }

  /** Sends a command to another execution; the promise settles when its outcome comes back. */
  #toExternal(
    command: CommandOf<'SignalExternalWorkflowExecution' | 'RequestCancelExternalWorkflowExecution'>,
    scope: CancellationScope,
  ): Promise<void> {
    this.#push(command);
    const pending = deferred<void>(scope);
    (command.type === 'SignalExternalWorkflowExecution' ? this.#externalSignals : this.#externalCancels).set(
      command.seq,
      pending,
    );
    return pending.promise;
  }

  // ---- patches and markers --------------------------------------------------------------

  patched(patchId: string, deprecated: boolean): boolean {
    this.assertActive('patched');
    const memo = this.#patchMemo.get(patchId);
    if (memo !== undefined) return memo;
    const present = !this.#replaying || this.#patchesInTask.includes(patchId);
    if (present)
      this.#push({ type: 'RecordMarker', markerName: 'core_patch', details: { patchId, deprecated } });
    // A deprecated patch always takes the new code path.
    const result = deprecated ? true : present;
    this.#patchMemo.set(patchId, result);
    return result;
  }

  /** Sets the current scope before settling an operation of that scope. */
  #enter(scope: CancellationScope): void {
    setScopeContext(scope);
    this.#touch();
  }
}
