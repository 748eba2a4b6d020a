import type { Activation, Job, Settlement, WorkflowInfo } from './activation.ts';
import type { Command } from './commands.ts';
import { CancelledFailure } from './failure.ts';
import { promiseOf } from './helpers.ts';
import { seededRandom, uuid4From } from './random.ts';
import { Activities, type ActivityCallOptions } from './runtime/activities.ts';
import {
  type ChildJob,
  type ChildOptions,
  Children,
  type ChildState,
  type ChildWorkflowHandle,
} from './runtime/children.ts';
import { Conditions } from './runtime/conditions.ts';
import { RuntimeCore, setActiveRuntime } from './runtime/core.ts';
import { ExternalRequests } from './runtime/external.ts';
import { type Handler, Handlers } from './runtime/handlers.ts';
import { type Pending, settle } from './runtime/operations.ts';
import { Timers } from './runtime/timers.ts';
import { type CancellationScope, type ScopeTimerHost, setScopeContext } from './scope.ts';

export type { ActivityCallOptions } from './runtime/activities.ts';
export type { ChildOptions, ChildWorkflowHandle } from './runtime/children.ts';
export { activeRuntime, ContinueAsNew } from './runtime/core.ts';

/**
 * Runs one workflow run's code: activation in, commands out. Each authoring call takes the
 * next sequence number of its kind, so replay matches commands to events by position.
 *
 * An activation runs inside one microtask checkpoint: jobs are applied one at a time and the
 * runtime waits for the workflow's microtasks to go quiet before the next. No macrotask can
 * run in between, so activity code in the same worker never observes the workflow's
 * deterministic clock, and workflow code never sees real time.
 *
 * Here: the activation (jobs in, quiescence, commands out) and the run's facts. Each kind
 * of operation keeps its state in a part under `runtime/`; the authoring methods here hand
 * calls on to it, so workflow code still talks to one object.
 */

/** A reaction on it runs one microtask later: the quiescence wait's unit of time. */
const fulfilled = Promise.resolve();

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

/**
 * The jobs in the order they are applied, as Temporal's SDK applies them: signals first in every
 * activation, so a handler has seen every signal of the task before the code that a resolution
 * resumes runs on (a continue-as-new that carries what it has seen misses none). In a run's first
 * activation a cancellation comes before the workflow function starts too, and a signal is
 * buffered until its handler is set, so a handler set at the top of the function already has it
 * when the function goes on. Updates keep their place: their handlers are not buffered.
 */
function inSdkOrder(jobs: Job[]): Job[] {
  const starting = jobs.some((job) => job.type === 'StartWorkflow');
  const first = (job: Job) => job.type === 'SignalWorkflow' || (starting && job.type === 'CancelWorkflow');
  if (!jobs.some(first)) return jobs;
  const rest = jobs.filter((job) => !first(job));
  if (starting) rest.sort((a, b) => Number(b.type === 'StartWorkflow') - Number(a.type === 'StartWorkflow'));
  return [...jobs.filter(first), ...rest];
}

export class WorkflowRuntime implements ScopeTimerHost {
  /** Set last by the constructor (`declare`d: no class field). */
  declare readonly rootScope: CancellationScope;
  readonly #core = new RuntimeCore();
  readonly #workflowFn: Handler;
  readonly #random: () => number;
  readonly #budget: number;
  readonly #timers: Timers;
  readonly #activities: Activities;
  readonly #conditions: Conditions;
  readonly #handlers: Handlers;
  readonly #external: ExternalRequests;
  readonly #children: Children;
  /** The open operations each kind of job settles, by the job's `seq`. */
  readonly #operations: Record<Settlement['type'], Map<number, Pending>> &
    Record<ChildJob['type'], Map<number, ChildState>>;
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

  constructor(init: RuntimeInit) {
    this.#workflowFn = init.workflowFn;
    this.#random = seededRandom(init.randomnessSeed);
    this.#budget = init.quiescenceBudget ?? 200;
    this.#facts = init.info;
    const core = this.#core;
    this.#timers = new Timers(core);
    this.#activities = new Activities(core);
    this.#conditions = new Conditions(core);
    this.#handlers = new Handlers(core, this);
    this.#external = new ExternalRequests(core);
    this.#children = new Children(core, this.#external, init, () => this.#infoObject ?? this.#facts);
    this.#operations = {
      FireTimer: this.#timers.pending,
      ResolveActivity: this.#activities.pending,
      ResolveChildWorkflowExecutionStart: this.#children.pending,
      ResolveChildWorkflowExecution: this.#children.pending,
      ResolveSignalExternalWorkflow: this.#external.signals,
      ResolveRequestCancelExternalWorkflow: this.#external.cancels,
    };
    this.rootScope = core.rootScope;
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
    const core = this.#core;
    this.#now = activation.timestamp;
    this.#replaying = activation.isReplaying;
    this.#progress = {
      historyLength: activation.historyLength,
      continueAsNewSuggested: activation.continueAsNewSuggested,
    };
    if (this.#infoObject !== undefined) Object.assign(this.#infoObject, this.#progress);
    this.#patchesInTask = activation.patches ?? [];
    setActiveRuntime(this);
    core.inActivation = true;
    setScopeContext(this.rootScope, this);
    try {
      // Consecutive jobs that resume code in the same scope are applied together (as Temporal
      // applies a whole activation), then the workflow's microtasks drain once: a fan-in of
      // a thousand results costs one quiescence wait, not a thousand.
      const jobs = inSdkOrder(activation.jobs);
      for (let i = 0; i < jobs.length && !core.taskFailure; ) {
        const scope = this.#scopeOfJob(jobs[i]!);
        do this.#applyJob(jobs[i++]!);
        while (i < jobs.length && this.#scopeOfJob(jobs[i]!) === scope);
        await this.#quiesce();
      }
      while (!core.taskFailure && this.#conditions.unblock()) await this.#quiesce();
    } finally {
      core.inActivation = false;
      setActiveRuntime(undefined);
      setScopeContext(undefined);
    }
    if (core.taskFailure) {
      const { error } = core.taskFailure;
      core.taskFailure = undefined;
      throw error;
    }
    return core.takeCommands();
  }

  /** Deterministic time for `Date` inside the workflow. */
  currentTime(): number {
    this.#core.touch();
    return this.#now;
  }

  /** The run's seeded random number, which workflow code sees as its random source. */
  nextRandom(): number {
    this.#core.touch();
    return this.#random();
  }

  uuid4(): string {
    this.#core.touch();
    return uuid4From(this.#random);
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
    const core = this.#core;
    let idle = 0;
    let seen = core.tick;
    while (idle < budget) {
      await fulfilled;
      if (core.tick !== seen) {
        seen = core.tick;
        idle = 0;
      } else idle++;
    }
  }

  /** Called by every authoring function: refuses use outside an activation. */
  assertActive(what: string): void {
    this.#core.assertActive(what);
  }

  /** The scope whose code a job resumes (root for inputs such as signals). */
  #scopeOfJob(job: Job): CancellationScope {
    return ('seq' in job && this.#operations[job.type].get(job.seq)?.scope) || this.rootScope;
  }

  #applyJob(job: Job): void {
    this.#core.touch();
    switch (job.type) {
      case 'StartWorkflow':
        this.#startMain(job.input);
        return;
      case 'FireTimer':
      case 'ResolveActivity':
      case 'ResolveSignalExternalWorkflow':
      case 'ResolveRequestCancelExternalWorkflow':
        settle(this.#core, this.#operations[job.type], job);
        return;
      case 'SignalWorkflow':
        this.#handlers.deliverSignal(job.signalName, job.input);
        return;
      case 'CancelWorkflow':
        setScopeContext(this.rootScope);
        this.rootScope.cancel(new CancelledFailure('Workflow cancelled'));
        return;
      case 'DoUpdate':
        this.#handlers.doUpdate(job.updateId, job.name, job.input, job.accepted);
        return;
      case 'ResolveChildWorkflowExecutionStart':
        this.#children.resolveStart(job.seq, job.result);
        return;
      case 'ResolveChildWorkflowExecution':
        this.#children.resolve(job);
        return;
    }
  }

  #startMain(input: unknown[]): void {
    setScopeContext(this.rootScope);
    promiseOf(() => this.#workflowFn(...input)).then(
      (value) => this.#core.push({ type: 'CompleteWorkflowExecution', result: value }),
      (error: unknown) => this.#core.failWorkflow(error),
    );
  }

  // ---- authoring calls, each handed on to its part ------------------------------------

  /** A durable timer in the current scope. */
  sleep(ms: number): Promise<void> {
    return this.#timers.sleep(ms);
  }

  startScopeTimer(ms: number, scope: CancellationScope): { promise: Promise<void>; cancel(): void } {
    return this.#timers.startScopeTimer(ms, scope);
  }

  scheduleActivity(activityType: string, input: unknown[], options: ActivityCallOptions): Promise<unknown> {
    return this.#activities.schedule(activityType, input, options);
  }

  condition(fn: () => boolean): Promise<void> {
    return this.#conditions.condition(fn);
  }

  setSignalHandler(name: string, handler: Handler | undefined): void {
    this.#handlers.setSignalHandler(name, handler);
  }

  setDefaultSignalHandler(handler: ((signalName: string, ...args: unknown[]) => unknown) | undefined): void {
    this.#handlers.setDefaultSignalHandler(handler);
  }

  setQueryHandler(name: string, handler: Handler | undefined): void {
    this.#handlers.setQueryHandler(name, handler);
  }

  setUpdateHandler(name: string, handler: Handler | undefined, validator?: Handler): void {
    this.#handlers.setUpdateHandler(name, handler, validator);
  }

  /** Runs a query handler against the current state. Never changes the state. */
  query(name: string, args: unknown[]): unknown {
    return this.#handlers.query(name, args);
  }

  /** Resolves a workflow function or type name to the registered type name. */
  workflowTypeName(workflow: string | Function): string {
    return this.#children.workflowTypeName(workflow);
  }

  /** Starts a child; resolves once `ChildWorkflowExecutionStarted` is in history. */
  startChild(workflowType: string, options: ChildOptions): Promise<ChildWorkflowHandle> {
    return this.#children.start(workflowType, options);
  }

  /** Signals another execution; resolves once the signal is delivered. */
  signalExternal(
    workflowId: string,
    runId: string | undefined,
    signalName: string,
    input: unknown[],
    childWorkflowOnly: boolean,
  ): Promise<void> {
    return this.#external.signal(workflowId, runId, signalName, input, childWorkflowOnly);
  }

  /** Requests cancellation of another execution; resolves once the request is delivered. */
  cancelExternal(workflowId: string, runId: string | undefined): Promise<void> {
    return this.#external.cancel(workflowId, runId);
  }

  // ---- patches and markers --------------------------------------------------------------

  patched(patchId: string, deprecated: boolean): boolean {
    this.assertActive('patched');
    const memo = this.#patchMemo.get(patchId);
    if (memo !== undefined) return memo;
    const present = !this.#replaying || this.#patchesInTask.includes(patchId);
    if (present)
      this.#core.push({ type: 'RecordMarker', markerName: 'core_patch', details: { patchId, deprecated } });
    // A deprecated patch always takes the new code path.
    const result = deprecated ? true : present;
    this.#patchMemo.set(patchId, result);
    return result;
  }
}
