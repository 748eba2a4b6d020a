/**
 * The API that workflow code imports: a subset of `@temporalio/workflow` with the same
 * names, options and semantics. Every function here must be called from workflow code
 * during an activation; the runtime it talks to is found through the engine.
 */
import {
  type ActivityCallOptions,
  ApplicationFailure,
  activeRuntime,
  CancellationScope,
  type ChildOptions,
  type ChildWorkflowHandle,
  ContinueAsNew,
  type Duration,
  InvalidArgumentError,
  msOptional,
  msToNumber,
  type RetryPolicy,
  type WorkflowInfo,
  type WorkflowRuntime,
} from '../engine/index.ts';
import type {
  ActivityCancellationType as ActivityCancellationTypeValue,
  ChildWorkflowCancellationType as ChildWorkflowCancellationTypeValue,
  ParentClosePolicy as ParentClosePolicyValue,
  WorkflowIdConflictPolicy as WorkflowIdConflictPolicyValue,
  WorkflowIdReusePolicy as WorkflowIdReusePolicyValue,
} from './enums.ts';
import { ActivityCancellationType } from './enums.ts';

export type { ChildWorkflowHandle, Duration, RetryPolicy, WorkflowInfo } from '../engine/index.ts';
export {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  ChildWorkflowFailure,
  DeterminismViolationError,
  isCancellation,
  NonDeterminismError,
  ServerFailure,
  TemporalFailure,
  TerminatedFailure,
  TimeoutFailure,
  WorkflowExecutionAlreadyStartedError,
} from '../engine/index.ts';
export {
  ActivityCancellationType,
  ChildWorkflowCancellationType,
  ParentClosePolicy,
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
} from './enums.ts';

function runtime(what: string): WorkflowRuntime {
  const rt = activeRuntime();
  if (!rt) throw new Error(`${what} can only be called from workflow code, during a workflow activation`);
  rt.assertActive(what);
  return rt;
}

/** Options of an activity call. */
export interface ActivityOptions {
  startToCloseTimeout?: Duration;
  scheduleToCloseTimeout?: Duration;
  heartbeatTimeout?: Duration;
  retry?: RetryPolicy;
  taskQueue?: string;
  /** What cancelling the call's scope does (default `WAIT_CANCELLATION_COMPLETED`). */
  cancellationType?: ActivityCancellationTypeValue;
}

type ActivityFunction = (...args: never[]) => unknown;
/** The functions of `typeof activities`, each returning a promise of its result. */
export type ActivityInterfaceFor<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;
};

/**
 * Activities as functions; each call schedules the activity durably.
 * @example
 * const { charge } = proxyActivities<typeof activities>({ startToCloseTimeout: '10s', retry: { maximumAttempts: 3 } });
 * const receipt = await charge(order);
 */
export function proxyActivities<A = Record<string, ActivityFunction>>(
  options: ActivityOptions,
): ActivityInterfaceFor<A> {
  if (options.startToCloseTimeout === undefined && options.scheduleToCloseTimeout === undefined) {
    throw new InvalidArgumentError('proxyActivities needs startToCloseTimeout or scheduleToCloseTimeout');
  }
  const startToCloseTimeout = msOptional(options.startToCloseTimeout);
  const scheduleToCloseTimeout = msOptional(options.scheduleToCloseTimeout);
  const heartbeatTimeout = msOptional(options.heartbeatTimeout);
  if (
    options.cancellationType !== undefined &&
    !Object.hasOwn(ActivityCancellationType, options.cancellationType)
  ) {
    throw new InvalidArgumentError(
      `proxyActivities: cancellationType must be one of ${Object.keys(ActivityCancellationType).join(', ')}, not ${String(options.cancellationType)}`,
    );
  }
  // Built again only when the task queue or `options.retry` changes, not per call: the runtime
  // only reads it.
  let callOptions: ActivityCallOptions | undefined;
  const optionsFor = (taskQueue: string): ActivityCallOptions => {
    if (callOptions?.taskQueue !== taskQueue || callOptions.retry !== options.retry) {
      callOptions = {
        taskQueue,
        ...(startToCloseTimeout !== undefined && { startToCloseTimeout }),
        ...(scheduleToCloseTimeout !== undefined && { scheduleToCloseTimeout }),
        ...(heartbeatTimeout !== undefined && { heartbeatTimeout }),
        ...(options.retry !== undefined && { retry: options.retry }),
        ...(options.cancellationType !== undefined && { cancellationType: options.cancellationType }),
      };
    }
    return callOptions;
  };
  return new Proxy({} as ActivityInterfaceFor<A>, {
    get(_, activityType) {
      if (typeof activityType !== 'string') return undefined;
      return (...args: unknown[]) => {
        const rt = runtime(`Activity ${activityType}`);
        return rt.scheduleActivity(activityType, args, optionsFor(options.taskQueue ?? rt.taskQueue));
      };
    },
  });
}

/**
 * A durable timer: survives reloads and fires when the page reopens if it came due meanwhile.
 * @example await sleep('5 minutes');
 */
export function sleep(duration: Duration): Promise<void> {
  return runtime('sleep').sleep(msToNumber(duration));
}

/**
 * Waits until `fn` returns true (re-checked after every job), or until `timeout`.
 * @returns with a timeout: true if `fn` became true, false if the timeout fired.
 * @example const approved = await condition(() => state.approved, '1 day');
 */
export function condition(fn: () => boolean, timeout: Duration): Promise<boolean>;
export function condition(fn: () => boolean): Promise<void>;
// biome-ignore lint/suspicious/noConfusingVoidType: the implementation signature of the two overloads above
export function condition(fn: () => boolean, timeout?: Duration): Promise<boolean | void> {
  const rt = runtime('condition');
  if (timeout === undefined) return rt.condition(fn).then(() => undefined);
  const ms = msToNumber(timeout);
  return CancellationScope.cancellable(async () => {
    try {
      return await Promise.race([rt.sleep(ms).then(() => false), rt.condition(fn).then(() => true)]);
    } finally {
      CancellationScope.current().cancel();
    }
  });
}

/** The current run: IDs, type, queue, parent and root, history length. */
export function workflowInfo(): WorkflowInfo {
  const rt = activeRuntime();
  if (!rt) throw new Error('workflowInfo() can only be called from workflow code');
  return rt.info;
}

/** A UUID drawn from the run's seeded randomness: the same on replay. */
export function uuid4(): string {
  return runtime('uuid4').uuid4();
}

/** Definitions: a name with types attached. */
export interface SignalDefinition<Args extends unknown[] = [], Name extends string = string> {
  type: 'signal';
  name: Name;
  __args?: Args;
}
export interface QueryDefinition<Ret, Args extends unknown[] = [], Name extends string = string> {
  type: 'query';
  name: Name;
  __args?: Args;
  __ret?: Ret;
}
export interface UpdateDefinition<Ret, Args extends unknown[] = [], Name extends string = string> {
  type: 'update';
  name: Name;
  __args?: Args;
  __ret?: Ret;
}

/** @example export const approve = defineSignal<[string]>('approve'); */
export function defineSignal<Args extends unknown[] = [], Name extends string = string>(
  name: Name,
): SignalDefinition<Args, Name> {
  return { type: 'signal', name };
}
/** @example export const status = defineQuery<string>('status'); */
export function defineQuery<Ret, Args extends unknown[] = [], Name extends string = string>(
  name: Name,
): QueryDefinition<Ret, Args, Name> {
  return { type: 'query', name };
}
/** @example export const setLimit = defineUpdate<number, [number]>('setLimit'); */
export function defineUpdate<Ret, Args extends unknown[] = [], Name extends string = string>(
  name: Name,
): UpdateDefinition<Ret, Args, Name> {
  return { type: 'update', name };
}

/**
 * Registers (or with `undefined`, removes) the handler of a signal, query or update.
 * Signals that arrived before their handler are delivered when it is set.
 * @example setHandler(approve, (by) => { state.approvedBy = by; });
 */
export function setHandler<Args extends unknown[]>(
  def: SignalDefinition<Args>,
  handler: ((...args: Args) => void | Promise<void>) | undefined,
): void;
export function setHandler<Ret, Args extends unknown[]>(
  def: QueryDefinition<Ret, Args>,
  handler: ((...args: Args) => Ret) | undefined,
): void;
export function setHandler<Ret, Args extends unknown[]>(
  def: UpdateDefinition<Ret, Args>,
  handler: ((...args: Args) => Ret | Promise<Ret>) | undefined,
  options?: { validator?: (...args: Args) => void },
): void;
export function setHandler(
  def: { type: 'signal' | 'query' | 'update'; name: string },
  handler: ((...args: never[]) => unknown) | undefined,
  options?: { validator?: (...args: never[]) => void },
): void {
  const rt = runtime('setHandler');
  const h = handler as ((...args: unknown[]) => unknown) | undefined;
  if (def.type === 'signal') rt.setSignalHandler(def.name, h);
  else if (def.type === 'query') rt.setQueryHandler(def.name, h);
  else rt.setUpdateHandler(def.name, h, options?.validator as ((...args: unknown[]) => unknown) | undefined);
}

/** Receives signals that have no handler of their own. */
export function setDefaultSignalHandler(
  handler: ((signalName: string, ...args: unknown[]) => void) | undefined,
): void {
  runtime('setDefaultSignalHandler').setDefaultSignalHandler(handler);
}

export interface ContinueAsNewOptions {
  workflowType?: string;
  taskQueue?: string;
  workflowRunTimeout?: Duration;
  workflowTaskTimeout?: Duration;
}

/**
 * Returns a function that ends this run and starts a fresh one of the same workflow ID.
 * @example const next = makeContinueAsNewFunc<typeof counter>(); await next(count);
 */
export function makeContinueAsNewFunc<F extends (...args: never[]) => unknown>(
  options?: ContinueAsNewOptions,
): (...args: Parameters<F>) => Promise<never> {
  return (...args: Parameters<F>) => {
    const rt = runtime('continueAsNew');
    const workflowRunTimeout = msOptional(options?.workflowRunTimeout);
    const workflowTaskTimeout = msOptional(options?.workflowTaskTimeout);
    return Promise.reject(
      new ContinueAsNew({
        type: 'ContinueAsNewWorkflowExecution',
        workflowType: options?.workflowType ?? rt.info.workflowType,
        taskQueue: options?.taskQueue ?? rt.info.taskQueue,
        input: args,
        ...(workflowRunTimeout !== undefined && { workflowRunTimeout }),
        ...(workflowTaskTimeout !== undefined && { workflowTaskTimeout }),
      }),
    );
  };
}

/**
 * Ends this run and starts a new one with `args` (same workflow ID, fresh history).
 * @example if (workflowInfo().continueAsNewSuggested) await continueAsNew<typeof loop>(state);
 */
export function continueAsNew<F extends (...args: never[]) => unknown>(
  ...args: Parameters<F>
): Promise<never> {
  return makeContinueAsNewFunc<F>()(...args);
}

/**
 * Versioning: true on runs that reach this point with the new code, false on runs recorded
 * before it. Recorded as a marker.
 * @example if (patched('v2-discount')) { await applyDiscount(); }
 */
export function patched(patchId: string): boolean {
  return runtime('patched').patched(patchId, false);
}

/** Marks a patch whose old branch has been removed: every run takes the new code. */
export function deprecatePatch(patchId: string): void {
  runtime('deprecatePatch').patched(patchId, true);
}

/** True while workflow code is running (useful in code shared with activities). */
export function inWorkflowContext(): boolean {
  return activeRuntime() !== undefined;
}

/** Raises a failure that fails the workflow (rather than its task). */
export function fail(message: string, type?: string): never {
  throw ApplicationFailure.create({ message, ...(type !== undefined && { type }), nonRetryable: true });
}

// ---- child workflows and external handles -------------------------------------------------

/** Options of a child workflow (Temporal's `ChildWorkflowOptions`). */
export interface ChildWorkflowOptions {
  /** Default: derived from the parent's run and the child's sequence number (stable on replay). */
  workflowId?: string;
  args?: unknown[];
  taskQueue?: string;
  parentClosePolicy?: ParentClosePolicyValue;
  cancellationType?: ChildWorkflowCancellationTypeValue;
  workflowExecutionTimeout?: Duration;
  workflowRunTimeout?: Duration;
  workflowTaskTimeout?: Duration;
  retry?: RetryPolicy;
  workflowIdReusePolicy?: WorkflowIdReusePolicyValue;
  workflowIdConflictPolicy?: WorkflowIdConflictPolicyValue;
  memo?: Record<string, unknown>;
}

type WorkflowRef = string | ((...args: never[]) => Promise<unknown>);
type ResultOf<W> = W extends (...args: never[]) => Promise<infer R> ? R : unknown;

function childOptions(options: ChildWorkflowOptions | undefined): ChildOptions {
  const o = options ?? {};
  const workflowExecutionTimeout = msOptional(o.workflowExecutionTimeout);
  const workflowRunTimeout = msOptional(o.workflowRunTimeout);
  const workflowTaskTimeout = msOptional(o.workflowTaskTimeout);
  return {
    ...(o.workflowId !== undefined && { workflowId: o.workflowId }),
    ...(o.args !== undefined && { args: o.args }),
    ...(o.taskQueue !== undefined && { taskQueue: o.taskQueue }),
    ...(o.parentClosePolicy !== undefined && { parentClosePolicy: o.parentClosePolicy }),
    ...(o.cancellationType !== undefined && { cancellationType: o.cancellationType }),
    ...(workflowExecutionTimeout !== undefined && { workflowExecutionTimeout }),
    ...(workflowRunTimeout !== undefined && { workflowRunTimeout }),
    ...(workflowTaskTimeout !== undefined && { workflowTaskTimeout }),
    ...(o.retry !== undefined && { retry: o.retry }),
    ...(o.workflowIdReusePolicy !== undefined && { workflowIdReusePolicy: o.workflowIdReusePolicy }),
    ...(o.workflowIdConflictPolicy !== undefined && { workflowIdConflictPolicy: o.workflowIdConflictPolicy }),
    ...(o.memo !== undefined && { memo: o.memo }),
  };
}

/**
 * Starts a child workflow and resolves once it has started (`ChildWorkflowExecutionStarted`).
 * A function is resolved to its registered type by identity, so minified builds work.
 * @example
 * const child = await startChild(payment, { args: [order], parentClosePolicy: ParentClosePolicy.ABANDON });
 * const receipt = await child.result();
 */
export function startChild<W extends WorkflowRef = string>(
  workflow: W | string,
  options?: ChildWorkflowOptions,
): Promise<ChildWorkflowHandle<ResultOf<W>>> {
  const rt = runtime('startChild');
  let type: string;
  let resolved: ChildOptions;
  try {
    type = rt.workflowTypeName(workflow);
    resolved = childOptions(options);
  } catch (error) {
    return Promise.reject(error);
  }
  return rt.startChild(type, resolved) as Promise<ChildWorkflowHandle<ResultOf<W>>>;
}

/**
 * Starts a child workflow and waits for its result.
 * @throws ChildWorkflowFailure whose `cause` is the child's own failure.
 * @example const total = await executeChild(sum, { args: [1, 2] });
 */
export async function executeChild<W extends WorkflowRef = string>(
  workflow: W | string,
  options?: ChildWorkflowOptions,
): Promise<ResultOf<W>> {
  const handle = await startChild<W>(workflow, options);
  return handle.result();
}

/** A handle on another execution, to signal or cancel it. */
export interface ExternalWorkflowHandle {
  readonly workflowId: string;
  readonly runId: string | undefined;
  signal(def: SignalDefinition<unknown[]> | string, ...args: unknown[]): Promise<void>;
  cancel(): Promise<void>;
}

/**
 * A handle to signal or cancel any execution by ID.
 * @example await getExternalWorkflowHandle('order-7').signal(paid, receipt);
 */
export function getExternalWorkflowHandle(workflowId: string, runId?: string): ExternalWorkflowHandle {
  return {
    workflowId,
    runId,
    signal: (def, ...args) =>
      runtime('signal').signalExternal(
        workflowId,
        runId,
        typeof def === 'string' ? def : def.name,
        args,
        false,
      ),
    cancel: () => runtime('cancel').cancelExternal(workflowId, runId),
  };
}

/**
 * Signals this run's parent.
 * @throws Error when this workflow has no parent.
 * @example await sendToParent(paymentDone, receiptId);
 */
export function sendToParent(def: SignalDefinition<unknown[]> | string, ...args: unknown[]): Promise<void> {
  const rt = runtime('sendToParent');
  const parent = rt.info.parent;
  if (!parent) {
    return Promise.reject(
      new InvalidArgumentError(
        `sendToParent: workflow ${rt.info.workflowId} has no parent (it was not started as a child)`,
      ),
    );
  }
  return rt.signalExternal(
    parent.workflowId,
    parent.runId,
    typeof def === 'string' ? def : def.name,
    args,
    false,
  );
}
