import { defined } from '../engine/defined.ts';
import {
  type CommandOf,
  closingStatus,
  type FailureRecord,
  type HistoryEvent,
  type InboxMessage,
  InvalidArgumentError,
  isClosingCommand,
  nextRetry,
  type ParentClosePolicy,
  type RetryPolicy,
  type TaskResult,
  WorkflowExecutionAlreadyStartedError,
  type WorkflowIdConflictPolicy,
  type WorkflowIdReusePolicy,
  WorkflowNotFoundError,
} from '../engine/index.ts';
import type {
  ActivityTaskRecord,
  ExecutionRecord,
  InboxRecord,
  StoreTx,
  TimerRecord,
} from '../store/types.ts';

/**
 * The history service: each state transition of an execution as one function over one
 * store transaction. Everything a step implies (its events, the executions it creates, the
 * tasks and timers it enqueues, the effects of closing: parent notification and close
 * policies) is written in that transaction, or nothing is. These functions await only the
 * transaction, so they are safe inside IndexedDB's auto-committing transactions.
 */

export interface ServiceContext {
  now: number;
  hostId: string;
  newRunId(): string;
  newSeed(): number;
  historyLimit: number;
  /** Queues this host runs: activities it schedules on them are claimed in the same commit. */
  claimQueues?: readonly string[];
}

/** What a transaction changed, for the host to act on after it commits. */
export interface Effects {
  /** Runs that now have a workflow task, with their task queue. */
  workflowTasks: Map<string, string>;
  activities: ActivityTaskRecord[];
  /** Activities to abort: [runId, seq]. */
  abortActivities: [string, number][];
  timers: TimerRecord[];
  cancelledTimers: [string, string][];
  /** Runs whose status or history changed (for watchers and result waiters). */
  changed: Map<string, ExecutionRecord>;
  /** Events appended per run, for update waiters. */
  appended: Map<string, HistoryEvent[]>;
  /** Closed runs deleted (retention, or on request). */
  deleted: ExecutionRecord[];
}

export function newEffects(): Effects {
  return {
    workflowTasks: new Map(),
    activities: [],
    abortActivities: [],
    timers: [],
    cancelledTimers: [],
    changed: new Map(),
    appended: new Map(),
    deleted: [],
  };
}

export interface StartRequest {
  workflowType: string;
  workflowId: string;
  taskQueue: string;
  args: unknown[];
  workflowIdReusePolicy?: WorkflowIdReusePolicy;
  workflowIdConflictPolicy?: WorkflowIdConflictPolicy;
  workflowExecutionTimeout?: number;
  workflowRunTimeout?: number;
  workflowTaskTimeout?: number;
  retry?: RetryPolicy;
  memo?: Record<string, unknown>;
  identity?: string;
  /** A start sent again with the same ID (its leader died before it answered) returns the run it started. */
  requestId?: string;
  /**
   * The start may have been sent before (it was forwarded from another host): a closed run it
   * started is looked for too. Otherwise only the ID's open run is (it is at hand), unless the
   * reuse policy needs the closed ones.
   */
  maybeResent?: boolean;
  parent?: {
    workflowId: string;
    runId: string;
    initiatedEventId: number;
    parentClosePolicy: ParentClosePolicy;
    root: { workflowId: string; runId: string };
  };
  /** Internal: continue-as-new and retries carry the chain along. */
  continuation?: {
    fromRunId: string;
    firstExecutionRunId: string;
    attempt: number;
    /** A retry's backoff: the first workflow task waits this long. */
    firstWorkflowTaskBackoff?: number;
    executionExpirationTime?: number;
  };
}

function isOpen(e: ExecutionRecord): boolean {
  return e.status === 'RUNNING';
}

function appendEvents(tx: StoreTx, exec: ExecutionRecord, events: HistoryEvent[], fx: Effects): void {
  if (events.length === 0) return;
  tx.history.append(exec.runId, events);
  exec.nextEventId = events[events.length - 1]!.eventId + 1;
  const list = fx.appended.get(exec.runId) ?? [];
  list.push(...events);
  fx.appended.set(exec.runId, list);
}

function save(tx: StoreTx, exec: ExecutionRecord, fx: Effects, created = false): void {
  if (created) tx.executions.add(exec);
  else tx.executions.put(exec);
  fx.changed.set(exec.runId, exec);
}

/** A durable timer of the run; a workflow timer (`kind: 'timer'`) also has its command's seq. */
function addTimer(
  tx: StoreTx,
  exec: ExecutionRecord,
  kind: TimerRecord['kind'],
  key: string,
  fireAt: number,
  fx: Effects,
  seq?: number,
): void {
  const record: TimerRecord = {
    runId: exec.runId,
    key,
    kind,
    fireAt,
    workflowId: exec.workflowId,
    taskQueue: exec.taskQueue,
    ...defined({ seq }),
  };
  tx.timers.put(record);
  fx.timers.push(record);
}

function scheduleWorkflowTask(tx: StoreTx, exec: ExecutionRecord, ctx: ServiceContext, fx: Effects): void {
  tx.workflowTasks.put({
    runId: exec.runId,
    workflowId: exec.workflowId,
    taskQueue: exec.taskQueue,
    scheduledTime: ctx.now,
  });
  fx.workflowTasks.set(exec.runId, exec.taskQueue);
}

/** Adds a message to a run's inbox and makes sure it has a workflow task. */
export function deliver(
  tx: StoreTx,
  exec: ExecutionRecord,
  message: InboxMessage,
  ctx: ServiceContext,
  fx: Effects,
): void {
  tx.inbox.add({ runId: exec.runId, time: ctx.now, ...message });
  scheduleWorkflowTask(tx, exec, ctx, fx);
}

/** The current run of a workflow ID, or the given run. */
export async function findRun(
  tx: StoreTx,
  workflowId: string,
  runId?: string,
): Promise<ExecutionRecord | undefined> {
  if (runId !== undefined) {
    const exec = await tx.executions.get(runId);
    return exec?.workflowId === workflowId ? exec : undefined;
  }
  // A running run is its ID's current one, and at hand: no disk read for open work.
  const [open] = await tx.executions.open({ workflowId });
  if (open) return open;
  const current = await tx.workflowIds.get(workflowId);
  return current ? tx.executions.get(current.runId) : undefined;
}

async function requireOpenRun(tx: StoreTx, workflowId: string, runId: string | undefined, what: string) {
  const exec = await findRun(tx, workflowId, runId);
  if (!exec) {
    throw new WorkflowNotFoundError(
      `Cannot ${what}: no workflow execution '${workflowId}'${runId ? ` run ${runId}` : ''}`,
      workflowId,
      runId,
    );
  }
  if (!isOpen(exec)) {
    throw new WorkflowNotFoundError(
      `Cannot ${what}: workflow execution '${workflowId}' (run ${exec.runId}) is already closed (${exec.status})`,
      workflowId,
      exec.runId,
    );
  }
  return exec;
}

/**
 * Starts a run: WorkflowExecutionStarted, its first workflow task, its timeouts.
 * @returns the run, and whether it is new (false: USE_EXISTING returned the running one).
 */
export async function startWorkflow(
  tx: StoreTx,
  req: StartRequest,
  ctx: ServiceContext,
  fx: Effects,
): Promise<{ runId: string; created: boolean }> {
  const { workflowId, workflowType, taskQueue, continuation, parent, workflowRunTimeout: runTimeout } = req;
  const reuse = req.workflowIdReusePolicy ?? 'ALLOW_DUPLICATE';
  const conflict = req.workflowIdConflictPolicy ?? 'FAIL';
  // The closed runs of the ID are on disk: read only when the outcome depends on them.
  const past = req.maybeResent || reuse === 'REJECT_DUPLICATE' || reuse === 'ALLOW_DUPLICATE_FAILED_ONLY';
  const current = continuation
    ? undefined
    : past
      ? await findRun(tx, workflowId)
      : (await tx.executions.open({ workflowId }))[0];
  if (current?.startRequestId !== undefined && current.startRequestId === req.requestId) {
    return { runId: current.runId, created: false };
  }
  if (current) {
    if (isOpen(current)) {
      if (conflict === 'USE_EXISTING') return { runId: current.runId, created: false };
      if (reuse === 'TERMINATE_IF_RUNNING') {
        await terminateRun(tx, current, 'Terminated by a new start (TERMINATE_IF_RUNNING)', ctx, fx);
      } else {
        throw new WorkflowExecutionAlreadyStartedError(
          `Workflow execution '${workflowId}' is already running (run ${current.runId})`,
          workflowId,
          workflowType,
        );
      }
    } else if (
      reuse === 'REJECT_DUPLICATE' ||
      // Closed and not failed, canceled, terminated or timed out.
      (reuse === 'ALLOW_DUPLICATE_FAILED_ONLY' &&
        (current.status === 'COMPLETED' || current.status === 'CONTINUED_AS_NEW'))
    ) {
      throw new WorkflowExecutionAlreadyStartedError(
        `Workflow ID '${workflowId}' was already used (run ${current.runId}, ${current.status}) and the reuse policy ${reuse} forbids another run`,
        workflowId,
        workflowType,
      );
    }
  }
  const runId = ctx.newRunId();
  const firstExecutionRunId = continuation?.firstExecutionRunId ?? runId;
  const fromNow = (timeout: number | undefined) => (timeout === undefined ? undefined : ctx.now + timeout);
  const executionExpirationTime =
    continuation?.executionExpirationTime ?? fromNow(req.workflowExecutionTimeout);
  const root = parent?.root ?? { workflowId, runId };
  const exec: ExecutionRecord = {
    runId,
    workflowId,
    workflowType,
    taskQueue,
    status: 'RUNNING',
    startTime: ctx.now,
    firstExecutionRunId,
    nextEventId: 1,
    attempt: continuation?.attempt ?? 1,
    root,
    ...defined({
      continuedFromRunId: continuation?.fromRunId,
      startRequestId: req.requestId,
      parentWorkflowId: parent?.workflowId,
      parentRunId: parent?.runId,
      parentInitiatedEventId: parent?.initiatedEventId,
      parentClosePolicy: parent?.parentClosePolicy,
      retryPolicy: req.retry,
      executionExpirationTime,
      workflowRunTimeout: runTimeout,
      runExpirationTime: fromNow(runTimeout),
      workflowTaskTimeout: req.workflowTaskTimeout,
      memo: req.memo,
    }),
  };
  const started: HistoryEvent = {
    eventId: 1,
    eventTime: ctx.now,
    eventType: 'WorkflowExecutionStarted',
    attributes: {
      workflowType,
      taskQueue,
      input: req.args,
      randomnessSeed: ctx.newSeed(),
      attempt: exec.attempt,
      firstExecutionRunId,
      originalExecutionRunId: runId,
      ...defined({
        continuedExecutionRunId: continuation?.fromRunId,
        firstWorkflowTaskBackoff: continuation?.firstWorkflowTaskBackoff,
        workflowExecutionTimeout: req.workflowExecutionTimeout,
        workflowRunTimeout: runTimeout,
        workflowTaskTimeout: req.workflowTaskTimeout,
        workflowExecutionExpirationTime: executionExpirationTime,
        retryPolicy: req.retry,
        memo: req.memo,
        parentWorkflowExecution: parent && { workflowId: parent.workflowId, runId: parent.runId },
        parentInitiatedEventId: parent?.initiatedEventId,
        parentClosePolicy: parent?.parentClosePolicy,
        rootWorkflowExecution: root,
        identity: req.identity,
      }),
    },
  };
  appendEvents(tx, exec, [started], fx);
  // The run it takes over from, when known (continue-as-new, a retry, a restart after a run it
  // found): only then may the start order leave the ID's current run in doubt (see `findRun`).
  const supersedes = continuation?.fromRunId ?? current?.runId;
  tx.workflowIds.put({ workflowId, runId, ...(supersedes !== undefined && { supersedes }) });
  save(tx, exec, fx, true);
  const backoff = continuation?.firstWorkflowTaskBackoff ?? 0;
  // A retry waits out its backoff before its first workflow task, durably (a timer record).
  if (backoff > 0) addTimer(tx, exec, 'backoff', 'backoff', ctx.now + backoff, fx);
  else scheduleWorkflowTask(tx, exec, ctx, fx);
  if (exec.runExpirationTime !== undefined)
    addTimer(tx, exec, 'runTimeout', 'run', exec.runExpirationTime, fx);
  if (executionExpirationTime !== undefined)
    addTimer(tx, exec, 'executionTimeout', 'execution', executionExpirationTime, fx);
  return { runId, created: true };
}

export async function signalWorkflow(
  tx: StoreTx,
  workflowId: string,
  runId: string | undefined,
  signalName: string,
  input: unknown[],
  ctx: ServiceContext,
  fx: Effects,
  identity?: string,
): Promise<void> {
  if (typeof signalName !== 'string' || signalName === '')
    throw new InvalidArgumentError('A signal needs a name');
  const exec = await requireOpenRun(tx, workflowId, runId, `signal '${signalName}'`);
  deliver(
    tx,
    exec,
    { kind: 'signal', signalName, input, ...(identity !== undefined && { identity }) },
    ctx,
    fx,
  );
}

export async function requestCancelWorkflow(
  tx: StoreTx,
  workflowId: string,
  runId: string | undefined,
  ctx: ServiceContext,
  fx: Effects,
  reason?: string,
): Promise<void> {
  const exec = await requireOpenRun(tx, workflowId, runId, 'cancel');
  deliver(tx, exec, { kind: 'cancelRequest', ...(reason !== undefined && { reason }) }, ctx, fx);
}

export async function requestUpdate(
  tx: StoreTx,
  workflowId: string,
  runId: string | undefined,
  update: { updateId: string; name: string; input: unknown[] },
  ctx: ServiceContext,
  fx: Effects,
): Promise<string> {
  const exec = await requireOpenRun(tx, workflowId, runId, `update '${update.name}'`);
  deliver(tx, exec, { kind: 'update', ...update }, ctx, fx);
  return exec.runId;
}

/** Terminates an open run: the closing event is numbered when closeRun appends it. */
function terminateRun(
  tx: StoreTx,
  exec: ExecutionRecord,
  reason: string,
  ctx: ServiceContext,
  fx: Effects,
): Promise<void> {
  return closeRun(
    tx,
    exec,
    { eventId: 0, eventTime: ctx.now, eventType: 'WorkflowExecutionTerminated', attributes: { reason } },
    ctx,
    fx,
  );
}

export async function terminateWorkflow(
  tx: StoreTx,
  workflowId: string,
  runId: string | undefined,
  reason: string,
  ctx: ServiceContext,
  fx: Effects,
): Promise<void> {
  const exec = await requireOpenRun(tx, workflowId, runId, 'terminate');
  await terminateRun(tx, exec, reason, ctx, fx);
}

interface NextRun {
  nextRunId?: string;
  retryBackoff?: number;
}

/**
 * The run a closing event leads to: continue-as-new's, or a workflow retry's (a failed or
 * timed-out run with a retry policy starts again, same ID), which is recorded on the event.
 * Called before the event is appended: the store keeps what it was given then.
 */
function nextRunOf(exec: ExecutionRecord, closing: HistoryEvent, ctx: ServiceContext): NextRun {
  if (closing.eventType === 'WorkflowExecutionContinuedAsNew')
    return { nextRunId: closing.attributes.newExecutionRunId };
  if (
    (closing.eventType === 'WorkflowExecutionFailed' || closing.eventType === 'WorkflowExecutionTimedOut') &&
    exec.retryPolicy
  ) {
    const failure: FailureRecord =
      closing.eventType === 'WorkflowExecutionFailed'
        ? closing.attributes.failure
        : { name: 'TimeoutFailure', message: 'Workflow run timed out', timeoutType: 'START_TO_CLOSE' };
    const decision = nextRetry(
      exec.retryPolicy,
      exec.attempt,
      failure,
      ctx.now,
      exec.executionExpirationTime,
    );
    if (decision.retry) {
      const nextRunId = ctx.newRunId();
      closing.attributes.newExecutionRunId = nextRunId;
      closing.attributes.retryState = 'RETRY_STATE_IN_PROGRESS';
      return { nextRunId, retryBackoff: decision.delay };
    }
    closing.attributes.retryState = decision.retryState;
  }
  return {};
}

/**
 * Closes a run with its closing event: records the outcome, drops its pending work,
 * tells its parent, applies the parent close policy to each child still open, and starts
 * the next run for continue-as-new or a workflow retry.
 */
export async function closeRun(
  tx: StoreTx,
  exec: ExecutionRecord,
  closing: HistoryEvent,
  ctx: ServiceContext,
  fx: Effects,
  /** Set when the closing event is already appended: what `nextRunOf` decided before that. */
  appended?: NextRun,
): Promise<void> {
  const status = closingStatus(closing.eventType);
  if (status === undefined) throw new Error(`${closing.eventType} does not close a run`);
  const { nextRunId, retryBackoff } = appended ?? nextRunOf(exec, closing, ctx);

  // Issued together: IndexedDB answers queued requests far faster than awaited ones.
  const [inbox, timers, activities, children] = await Promise.all([
    tx.inbox.list(exec.runId),
    tx.timers.listByRun(exec.runId),
    tx.activityTasks.listByRun(exec.runId),
    // Only open children have a close policy to apply, and open work is at hand.
    tx.executions.open({ parentRunId: exec.runId }),
  ]);
  if (!appended) {
    // Closed from outside (terminate, timeout): signals and cancel requests that arrived but
    // were not yet processed are recorded first, as Temporal records them on arrival.
    appendEvents(tx, exec, numbered(exec, [...arrivedEvents(inbox), closing]), fx);
  }
  exec.status = status;
  exec.closeTime = ctx.now;
  delete exec.blocked;
  if (closing.eventType === 'WorkflowExecutionCompleted') exec.result = closing.attributes.result;
  if (closing.eventType === 'WorkflowExecutionFailed') exec.failure = closing.attributes.failure;
  if (nextRunId !== undefined) exec.nextRunId = nextRunId;
  save(tx, exec, fx);

  tx.workflowTasks.delete(exec.runId);
  for (const message of inbox) tx.inbox.delete(message.id);
  for (const timer of timers) {
    tx.timers.delete(timer.runId, timer.key);
    fx.cancelledTimers.push([timer.runId, timer.key]);
  }
  for (const activity of activities) {
    tx.activityTasks.delete(activity.runId, activity.seq);
    fx.abortActivities.push([activity.runId, activity.seq]);
  }

  if (nextRunId !== undefined) {
    const newRunId = nextRunId;
    const [first] = await tx.history.read(exec.runId, 1);
    if (first?.eventType !== 'WorkflowExecutionStarted')
      throw new Error(`Run ${exec.runId} has no start event`);
    const a = first.attributes;
    const cont = closing.eventType === 'WorkflowExecutionContinuedAsNew' ? closing.attributes : undefined;
    await startWorkflow(
      tx,
      {
        workflowType: cont?.workflowType ?? a.workflowType,
        workflowId: exec.workflowId,
        taskQueue: cont?.taskQueue ?? a.taskQueue,
        args: cont?.input ?? a.input,
        ...defined({
          workflowRunTimeout: cont?.workflowRunTimeout ?? a.workflowRunTimeout,
          workflowTaskTimeout: cont?.workflowTaskTimeout ?? a.workflowTaskTimeout,
          retry: a.retryPolicy,
          memo: a.memo,
        }),
        ...(exec.parentRunId !== undefined &&
          a.parentWorkflowExecution !== undefined && {
            parent: {
              ...a.parentWorkflowExecution,
              initiatedEventId: a.parentInitiatedEventId ?? 0,
              parentClosePolicy: a.parentClosePolicy ?? 'TERMINATE',
              root: a.rootWorkflowExecution ?? { workflowId: exec.workflowId, runId: exec.runId },
            },
          }),
        continuation: {
          fromRunId: exec.runId,
          firstExecutionRunId: exec.firstExecutionRunId,
          attempt: retryBackoff === undefined ? 1 : exec.attempt + 1,
          ...defined({
            firstWorkflowTaskBackoff: retryBackoff,
            executionExpirationTime: exec.executionExpirationTime,
          }),
        },
      },
      { ...ctx, newRunId: () => newRunId },
      fx,
    );
  } else {
    await notifyParents(tx, exec, closing, ctx, fx);
  }

  await applyParentClosePolicies(tx, exec, children, ctx, fx);
}

/**
 * Signals and cancel requests waiting in an inbox, as the events Temporal would have
 * recorded on their arrival (they need no workflow state). Event IDs are set by the caller.
 */
function arrivedEvents(inbox: InboxRecord[]): HistoryEvent[] {
  return inbox.flatMap((m): HistoryEvent[] => {
    if (m.kind === 'signal') {
      return [
        {
          eventId: 0,
          eventTime: m.time,
          eventType: 'WorkflowExecutionSignaled',
          attributes: { signalName: m.signalName, input: m.input, ...defined({ identity: m.identity }) },
        },
      ];
    }
    if (m.kind === 'cancelRequest') {
      return [
        {
          eventId: 0,
          eventTime: m.time,
          eventType: 'WorkflowExecutionCancelRequested',
          attributes: defined({ cause: m.reason, externalInitiatedEventId: m.externalInitiatedEventId }),
        },
      ];
    }
    return [];
  });
}

/** Numbers events on from the run's next event ID, for appending. */
function numbered(exec: ExecutionRecord, events: HistoryEvent[]): HistoryEvent[] {
  events.forEach((event, i) => {
    event.eventId = exec.nextEventId + i;
  });
  return events;
}

/** Each parent learns its child's outcome as one message (and so one event). */
async function notifyParents(
  tx: StoreTx,
  child: ExecutionRecord,
  closing: HistoryEvent,
  ctx: ServiceContext,
  fx: Effects,
): Promise<void> {
  const outcome = childOutcome(closing);
  if (!outcome) return;
  const parents = [...(child.attachedParents ?? [])];
  if (child.parentRunId !== undefined) {
    parents.unshift({ runId: child.parentRunId, initiatedEventId: child.parentInitiatedEventId ?? 0 });
  }
  for (const { runId, initiatedEventId } of parents) {
    const parent = await tx.executions.get(runId);
    if (parent && isOpen(parent)) {
      const message: InboxMessage = {
        ...outcome,
        initiatedEventId,
        // The parent knows the child by the run it started; the outcome may come from a later run.
        execution: { workflowId: child.workflowId, runId: child.firstExecutionRunId },
        workflowType: child.workflowType,
      };
      deliver(tx, parent, message, ctx, fx);
    }
  }
}

type ChildOutcome = Extract<
  InboxMessage,
  { kind: `child${'Completed' | 'Failed' | 'Canceled' | 'TimedOut' | 'Terminated'}` }
>;

/** What a closing event tells the parent, but for which parent and child. */
function childOutcome(
  closing: HistoryEvent,
): DistributiveOmit<ChildOutcome, 'initiatedEventId' | 'execution' | 'workflowType'> | undefined {
  switch (closing.eventType) {
    case 'WorkflowExecutionCompleted':
      return { kind: 'childCompleted', result: closing.attributes.result };
    case 'WorkflowExecutionFailed':
      return {
        kind: 'childFailed',
        failure: closing.attributes.failure,
        retryState: closing.attributes.retryState,
      };
    case 'WorkflowExecutionCanceled':
      return { kind: 'childCanceled', ...defined({ details: closing.attributes.details }) };
    case 'WorkflowExecutionTimedOut':
      return { kind: 'childTimedOut', retryState: closing.attributes.retryState };
    case 'WorkflowExecutionTerminated':
      return { kind: 'childTerminated' };
    default:
      return undefined;
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** TERMINATE, REQUEST_CANCEL or ABANDON each child of this run that is still open. */
async function applyParentClosePolicies(
  tx: StoreTx,
  exec: ExecutionRecord,
  children: ExecutionRecord[],
  ctx: ServiceContext,
  fx: Effects,
): Promise<void> {
  for (const child of children) {
    if (!isOpen(child)) continue;
    const policy = child.parentClosePolicy ?? 'TERMINATE';
    if (policy === 'TERMINATE') {
      await terminateRun(
        tx,
        child,
        `Parent ${exec.workflowId} closed (${exec.status}): parent close policy TERMINATE`,
        ctx,
        fx,
      );
    } else if (policy === 'REQUEST_CANCEL') {
      deliver(
        tx,
        child,
        {
          kind: 'cancelRequest',
          reason: `Parent ${exec.workflowId} closed: parent close policy REQUEST_CANCEL`,
        },
        ctx,
        fx,
      );
    }
  }
}

/**
 * Starts a child inside its parent's commit, so an initiated child always starts, even when
 * the parent closes in the same task (its close policy then applies to the started child).
 */
async function startChild(
  tx: StoreTx,
  parent: ExecutionRecord,
  command: CommandOf<'StartChildWorkflowExecution'>,
  initiatedEventId: number,
  ctx: ServiceContext,
  fx: Effects,
): Promise<void> {
  const { workflowId, workflowType } = command;
  let started: { runId: string; created: boolean };
  try {
    started = await startWorkflow(
      tx,
      {
        // The command has the request's options by the same names, but for args and retry.
        ...command,
        args: command.input,
        identity: parent.workflowId,
        ...defined({ retry: command.retryPolicy }),
        parent: {
          workflowId: parent.workflowId,
          runId: parent.runId,
          initiatedEventId,
          parentClosePolicy: command.parentClosePolicy,
          root: parent.root ?? { workflowId: parent.workflowId, runId: parent.runId },
        },
      },
      ctx,
      fx,
    );
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    deliver(
      tx,
      parent,
      {
        kind: 'childStartFailed',
        initiatedEventId,
        workflowId,
        workflowType,
        cause: 'WORKFLOW_ALREADY_EXISTS',
      },
      ctx,
      fx,
    );
    return;
  }
  if (!started.created) {
    // USE_EXISTING: the running execution is the child; this parent learns its outcome too.
    const existing = await tx.executions.get(started.runId);
    if (existing) {
      existing.attachedParents = [
        ...(existing.attachedParents ?? []),
        { runId: parent.runId, initiatedEventId },
      ];
      save(tx, existing, fx);
    }
  }
  deliver(
    tx,
    parent,
    { kind: 'childStarted', initiatedEventId, execution: { workflowId, runId: started.runId }, workflowType },
    ctx,
    fx,
  );
}

export interface TaskCommit {
  runId: string;
  /** The run's nextEventId when the task read it: the commit is refused if it moved. */
  expectedNextEventId: number;
  consumedInbox: number[];
  result: TaskResult;
}

/**
 * Commits a completed workflow task.
 * @returns false when the run moved on meanwhile (terminated, timed out, or another host
 *   committed): nothing is written and the caller must drop its cached state.
 */
export async function completeWorkflowTask(
  tx: StoreTx,
  commit: TaskCommit,
  ctx: ServiceContext,
  fx: Effects,
): Promise<boolean> {
  const [exec, inbox] = await Promise.all([tx.executions.get(commit.runId), tx.inbox.list(commit.runId)]);
  if (!exec || !isOpen(exec) || exec.nextEventId !== commit.expectedNextEventId) return false;
  const events = commit.result.events;
  for (const id of commit.consumedInbox) tx.inbox.delete(id);
  // The task's events are numbered on from the run's next event ID.
  if (exec.nextEventId + events.length - 1 > ctx.historyLimit) {
    // Nothing is truncated: the run is terminated, and the task's events are not written.
    await terminateRun(
      tx,
      exec,
      `History size limit exceeded: a run may have at most ${ctx.historyLimit} events; use continueAsNew`,
      ctx,
      fx,
    );
    return true;
  }
  delete exec.blocked;
  // Commands after the one that closes the run are dropped by the runtime: at most one.
  const closingId = commit.result.commands.find(({ command }) => isClosingCommand(command))?.eventId;
  const closing = events.find((e) => e.eventId === closingId);
  // A retry is recorded on the closing event, so it is decided before the event is stored.
  const next = closing && nextRunOf(exec, closing, ctx);
  appendEvents(tx, exec, events, fx);
  // Commands without an event (eventId 0) never close the run, and 0 matches no event.
  for (const { command, eventId = 0 } of commit.result.commands) {
    if (isClosingCommand(command)) continue;
    switch (command.type) {
      case 'ScheduleActivityTask': {
        // The task keeps the command's fields (seq, activity, queue, input, timeouts, retry).
        const { type: _, ...activity } = command;
        const record: ActivityTaskRecord = {
          runId: exec.runId,
          workflowId: exec.workflowId,
          workflowType: exec.workflowType,
          ...activity,
          scheduledEventId: eventId,
          scheduledTime: ctx.now,
          attempt: 1,
          notBefore: ctx.now,
          // Saves the activity a transaction of its own to claim it.
          ...(ctx.claimQueues?.includes(command.taskQueue) && { owner: ctx.hostId, startedTime: ctx.now }),
        };
        tx.activityTasks.put(record);
        fx.activities.push(record);
        break;
      }
      case 'RequestCancelActivityTask': {
        const task = await tx.activityTasks.get(exec.runId, command.seq);
        if (!task) break;
        if (task.owner === undefined) {
          // Not running: cancelled at once.
          tx.activityTasks.delete(exec.runId, command.seq);
          deliver(
            tx,
            exec,
            {
              kind: 'activityCanceled',
              seq: command.seq,
              attempt: task.attempt,
              started: false,
              identity: ctx.hostId,
            },
            ctx,
            fx,
          );
        } else {
          task.cancelRequested = true;
          tx.activityTasks.put(task);
          fx.abortActivities.push([exec.runId, command.seq]);
        }
        break;
      }
      case 'StartTimer':
        addTimer(tx, exec, 'timer', `t${command.seq}`, ctx.now + command.startToFireTimeout, fx, command.seq);
        break;
      case 'CancelTimer':
        tx.timers.delete(exec.runId, `t${command.seq}`);
        fx.cancelledTimers.push([exec.runId, `t${command.seq}`]);
        break;
      case 'StartChildWorkflowExecution':
        await startChild(tx, exec, command, eventId, ctx, fx);
        break;
      case 'SignalExternalWorkflowExecution':
      case 'RequestCancelExternalWorkflowExecution': {
        const target = await findRun(tx, command.workflowId, command.runId);
        const reachable =
          target !== undefined &&
          isOpen(target) &&
          (!command.childWorkflowOnly || target.parentRunId === exec.runId);
        const signal = command.type === 'SignalExternalWorkflowExecution';
        if (reachable) {
          deliver(
            tx,
            target,
            signal
              ? {
                  kind: 'signal',
                  signalName: command.signalName,
                  input: command.input,
                  identity: exec.workflowId,
                }
              : {
                  kind: 'cancelRequest',
                  reason: `Requested by ${exec.workflowId}`,
                  externalInitiatedEventId: eventId,
                },
            ctx,
            fx,
          );
        }
        const initiated = {
          initiatedEventId: eventId,
          execution: defined({ workflowId: command.workflowId, runId: command.runId }),
        };
        deliver(
          tx,
          exec,
          reachable
            ? { kind: signal ? 'externalSignaled' : 'externalCancelRequested', ...initiated }
            : {
                kind: signal ? 'externalSignalFailed' : 'externalCancelFailed',
                ...initiated,
                cause: 'EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND',
              },
          ctx,
          fx,
        );
        break;
      }
    }
  }
  if (closing) {
    await closeRun(tx, exec, closing, ctx, fx, next);
    return true;
  }
  // Messages that arrived while the task ran, or that this commit sent to the run itself
  // (they mark it in the effects), keep the task scheduled.
  const consumed = new Set(commit.consumedInbox);
  if (fx.workflowTasks.has(exec.runId) || inbox.some((m) => !consumed.has(m.id))) {
    scheduleWorkflowTask(tx, exec, ctx, fx);
  } else {
    tx.workflowTasks.delete(exec.runId);
  }
  save(tx, exec, fx);
  return true;
}

/**
 * Records a failed workflow task (nondeterminism, a bug in workflow code). The run stays
 * RUNNING and blocked; its inbox is kept, and the next attempt (a new deployment, or a new
 * message) retries it. Only the first of consecutive failures is recorded, as in Temporal.
 */
export async function failWorkflowTask(
  tx: StoreTx,
  runId: string,
  expectedNextEventId: number,
  events: HistoryEvent[],
  ctx: ServiceContext,
  fx: Effects,
): Promise<boolean> {
  const exec = await tx.executions.get(runId);
  if (!exec || !isOpen(exec) || exec.nextEventId !== expectedNextEventId) return false;
  const failed = events.find((e) => e.eventType === 'WorkflowTaskFailed');
  const failure =
    failed?.eventType === 'WorkflowTaskFailed'
      ? failed.attributes.failure
      : { name: 'Error', message: 'Workflow task failed' };
  // Signals and cancel requests are recorded now, as on arrival in Temporal; they reach the
  // workflow with the next task that succeeds (replay carries them over). Other messages
  // need the run's state to become events, and wait in the inbox.
  const inbox = await tx.inbox.list(runId);
  const arrived = arrivedEvents(inbox);
  for (const m of inbox) if (m.kind === 'signal' || m.kind === 'cancelRequest') tx.inbox.delete(m.id);
  // Only the first of consecutive failures is recorded, as in Temporal.
  const recorded = numbered(exec, [...arrived, ...(exec.blocked ? [] : events)]);
  for (const event of recorded) {
    if (event.eventType === 'WorkflowTaskStarted') event.attributes.scheduledEventId = event.eventId - 1;
    if (event.eventType === 'WorkflowTaskFailed') {
      event.attributes.startedEventId = event.eventId - 1;
      event.attributes.scheduledEventId = event.eventId - 2;
    }
  }
  appendEvents(tx, exec, recorded, fx);
  exec.blocked = { reason: failure.message, failure, since: exec.blocked?.since ?? ctx.now };
  save(tx, exec, fx);
  return true;
}

export type ActivityOutcome =
  | { completed: unknown }
  | { failed: FailureRecord }
  | { timedOut: FailureRecord }
  | { cancelled: true };

/**
 * Records an activity attempt's outcome: a retry (same task, next attempt after backoff), or
 * the final outcome delivered to the run. Stale outcomes (an older attempt, a closed run)
 * are ignored, so a result is recorded once.
 * @returns the task to run again later, if retried.
 */
export async function completeActivity(
  tx: StoreTx,
  runId: string,
  seq: number,
  attempt: number,
  outcome: ActivityOutcome,
  ctx: ServiceContext,
  fx: Effects,
): Promise<ActivityTaskRecord | undefined> {
  const [task, exec] = await Promise.all([tx.activityTasks.get(runId, seq), tx.executions.get(runId)]);
  if (!task || task.attempt !== attempt) return undefined;
  if (!exec || !isOpen(exec)) {
    tx.activityTasks.delete(runId, seq);
    return undefined;
  }
  const identity = ctx.hostId;
  let message: InboxMessage;
  if ('completed' in outcome) {
    message = { kind: 'activityCompleted', seq, attempt, result: outcome.completed, identity };
  } else if ('cancelled' in outcome) {
    message = { kind: 'activityCanceled', seq, attempt, started: true, identity };
  } else {
    const failure = 'failed' in outcome ? outcome.failed : outcome.timedOut;
    const deadline =
      task.scheduleToCloseTimeout !== undefined
        ? task.scheduledTime + task.scheduleToCloseTimeout
        : undefined;
    const decision = task.cancelRequested
      ? ({ retry: false, retryState: 'RETRY_STATE_CANCEL_REQUESTED' } as const)
      : nextRetry(task.retryPolicy, attempt, failure, ctx.now, deadline);
    if (decision.retry) {
      const next: ActivityTaskRecord = {
        ...task,
        attempt: attempt + 1,
        notBefore: ctx.now + decision.delay,
        lastFailure: failure,
      };
      delete next.owner;
      delete next.startedTime;
      tx.activityTasks.put(next);
      return next;
    }
    const kind = 'failed' in outcome ? 'activityFailed' : 'activityTimedOut';
    message = { kind, seq, attempt, failure, retryState: decision.retryState, identity };
  }
  tx.activityTasks.delete(runId, seq);
  deliver(tx, exec, message, ctx, fx);
  return undefined;
}

/**
 * Marks an activity attempt as run by this host. An attempt another host had started is taken
 * over at once: only the lease holder runs activities, so that host lost the lease and can
 * never record its outcome.
 * @returns the task, or undefined when the attempt is over.
 */
export async function claimActivity(
  tx: StoreTx,
  runId: string,
  seq: number,
  attempt: number,
  ctx: ServiceContext,
): Promise<ActivityTaskRecord | undefined> {
  const task = await tx.activityTasks.get(runId, seq);
  if (!task || task.attempt !== attempt) return undefined;
  task.owner = ctx.hostId;
  task.startedTime = ctx.now;
  tx.activityTasks.put(task);
  return task;
}

/** A durable timer came due: a workflow timer fires, or a run or execution times out. */
export async function fireTimer(
  tx: StoreTx,
  timer: TimerRecord,
  ctx: ServiceContext,
  fx: Effects,
): Promise<void> {
  const [timers, exec] = await Promise.all([
    tx.timers.listByRun(timer.runId),
    tx.executions.get(timer.runId),
  ]);
  const stored = timers.find((t) => t.key === timer.key);
  if (!stored) return;
  tx.timers.delete(timer.runId, timer.key);
  if (!exec || !isOpen(exec)) return;
  if (stored.kind === 'backoff') {
    scheduleWorkflowTask(tx, exec, ctx, fx);
    return;
  }
  if (stored.kind === 'timer') {
    deliver(tx, exec, { kind: 'timerFired', seq: stored.seq ?? 0 }, ctx, fx);
    return;
  }
  await closeRun(
    tx,
    exec,
    {
      eventId: exec.nextEventId,
      eventTime: ctx.now,
      eventType: 'WorkflowExecutionTimedOut',
      attributes: { retryState: 'RETRY_STATE_TIMEOUT' },
    },
    ctx,
    fx,
  );
}

/**
 * Deletes a closed run and everything it had: its record, its history, its workflow-ID record
 * when that still names it, and any task, timer or message left. Refuses an open run.
 */
export async function deleteRun(tx: StoreTx, exec: ExecutionRecord): Promise<void> {
  if (isOpen(exec)) {
    throw new InvalidArgumentError(
      `Cannot delete workflow execution '${exec.workflowId}' (run ${exec.runId}): it is still running; terminate or cancel it first`,
    );
  }
  const [id, inbox, timers, activities, task] = await Promise.all([
    tx.workflowIds.get(exec.workflowId),
    tx.inbox.list(exec.runId),
    tx.timers.listByRun(exec.runId),
    tx.activityTasks.listByRun(exec.runId),
    tx.workflowTasks.get(exec.runId),
  ]);
  tx.executions.delete(exec.runId);
  tx.history.delete(exec.runId);
  if (id?.runId === exec.runId) tx.workflowIds.delete(exec.workflowId);
  for (const message of inbox) tx.inbox.delete(message.id);
  for (const timer of timers) tx.timers.delete(timer.runId, timer.key);
  for (const activity of activities) tx.activityTasks.delete(activity.runId, activity.seq);
  if (task) tx.workflowTasks.delete(exec.runId);
}

/**
 * Deletes up to `limit` closed runs whose retention ran out (closed before `before`), but
 * never a closed child whose parent is still open: the parent may still look at it.
 * @returns the runs deleted, and the last run looked at when more may be waiting (the next
 *   batch starts after it).
 */
export async function deleteExpired(
  tx: StoreTx,
  before: number,
  limit: number,
  after?: ExecutionRecord,
): Promise<{ deleted: ExecutionRecord[]; last: ExecutionRecord | undefined }> {
  const candidates = await tx.executions.closedBefore(before, limit, after);
  const parents = await Promise.all(
    candidates.map((exec) =>
      exec.parentRunId === undefined ? undefined : tx.executions.get(exec.parentRunId),
    ),
  );
  const deleted: ExecutionRecord[] = [];
  for (const [i, exec] of candidates.entries()) {
    if (parents[i] && isOpen(parents[i])) continue;
    await deleteRun(tx, exec);
    deleted.push(exec);
  }
  // The runs kept are passed over by the next batch.
  return { deleted, last: candidates.length === limit ? candidates.at(-1) : undefined };
}
