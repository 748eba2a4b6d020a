import { defined } from '../../engine/defined.ts';
import {
  type HistoryEvent,
  type ParentClosePolicy,
  type RetryPolicy,
  WorkflowExecutionAlreadyStartedError,
  type WorkflowIdConflictPolicy,
  type WorkflowIdReusePolicy,
} from '../../engine/index.ts';
import type { ExecutionRecord, StoreTx } from '../../store/types.ts';
import { terminateRun } from './close.ts';
import {
  addTimer,
  appendEvents,
  deliver,
  type Effects,
  findRun,
  isOpen,
  keepRequest,
  type ServiceContext,
  save,
  scheduleWorkflowTask,
  tookRequest,
} from './context.ts';

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
    /** The request IDs the run kept: a call sent again reaches the next run, and is not taken twice. */
    requestIds?: string[];
  };
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
): Promise<{ runId: string; created: boolean; exec: ExecutionRecord }> {
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
    return { runId: current.runId, created: false, exec: current };
  }
  if (current) {
    if (isOpen(current)) {
      if (conflict === 'USE_EXISTING') return { runId: current.runId, created: false, exec: current };
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
      requestIds: continuation?.requestIds,
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
  return { runId, created: true, exec };
}

export interface SignalWithStartRequest extends StartRequest {
  signalName: string;
  signalArgs: unknown[];
}

/**
 * Signal-with-start, as Temporal's server does it: the ID's running execution gets the signal
 * and the start options go unused (its reuse policy is for closed runs); otherwise a run starts
 * under the reuse policy with the signal in its inbox, so its first workflow task records
 * WorkflowExecutionSignaled right after WorkflowExecutionStarted and hands both to the first
 * activation. `TERMINATE_IF_RUNNING` terminates the running execution and starts one (Temporal
 * reads it as the conflict policy TERMINATE_EXISTING). One transaction: a start or a close that
 * commits before it is seen, one after it sees the signal, so no second run starts and the
 * signal is not lost (a closing workflow task that did not see it is refused:
 * `completeWorkflowTask`).
 * @returns the run that got the signal, and whether this request started it.
 */
export async function signalWithStartWorkflow(
  tx: StoreTx,
  req: SignalWithStartRequest,
  ctx: ServiceContext,
  fx: Effects,
): Promise<{ runId: string; started: boolean }> {
  const { workflowId, requestId } = req;
  const signal = {
    kind: 'signal',
    signalName: req.signalName,
    input: req.signalArgs,
    identity: 'client',
  } as const;
  // A resend may find its run closed since: the ID's last run is looked for too.
  const current = req.maybeResent
    ? await findRun(tx, workflowId)
    : (await tx.executions.open({ workflowId }))[0];
  if (current && requestId !== undefined) {
    // Sent before, and it took effect: its run, signaled once.
    if (current.startRequestId === requestId) return { runId: current.runId, started: true };
    if (tookRequest(current, requestId)) return { runId: current.runId, started: false };
  }
  if (current && isOpen(current) && req.workflowIdReusePolicy !== 'TERMINATE_IF_RUNNING') {
    deliver(tx, current, signal, ctx, fx);
    // Only a forwarded call can be sent again (to the next leader): only its ID is kept.
    if (req.maybeResent && requestId !== undefined) {
      keepRequest(current, requestId);
      // Not `save`: nothing a watcher sees has changed.
      tx.executions.put(current);
    }
    return { runId: current.runId, started: false };
  }
  // No running execution (or one to terminate): a start under the reuse policy, which may refuse.
  const { exec } = await startWorkflow(tx, { ...req, workflowIdConflictPolicy: 'FAIL' }, ctx, fx);
  deliver(tx, exec, signal, ctx, fx);
  return { runId: exec.runId, started: true };
}
