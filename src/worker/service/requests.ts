import { InvalidArgumentError, WorkflowUpdateFailedError } from '../../engine/index.ts';
import type { UpdateOutcome } from '../../protocol/notes.ts';
import type { ExecutionRecord, StoreTx } from '../../store/types.ts';
import { terminateRun } from './close.ts';
import {
  deliver,
  type Effects,
  findRun,
  keepRequest,
  mustBeOpen,
  type ServiceContext,
  tookRequest,
} from './context.ts';

/**
 * A client's request about a run: the workflow ID, the run (or the ID's current one), and the
 * request ID of a call that may come again. A follower forwards its clients' calls to the
 * leader; a leader that dies after its commit and before its answer leaves the follower to send
 * the same call to the next leader, which finds the ID on the run and does nothing twice (as
 * Temporal's server keeps the request IDs of signals and cancel requests).
 */
export interface RunRequest {
  workflowId: string;
  runId?: string | undefined;
  /** Kept on the run, in the transaction of the request's effect, so a crash cannot part them. */
  requestId?: string | undefined;
}

export async function signalWorkflow(
  tx: StoreTx,
  request: RunRequest,
  signalName: string,
  input: unknown[],
  ctx: ServiceContext,
  fx: Effects,
  identity?: string,
): Promise<void> {
  if (typeof signalName !== 'string' || signalName === '')
    throw new InvalidArgumentError('A signal needs a name');
  const { workflowId, runId, requestId } = request;
  const found = await findRun(tx, workflowId, runId);
  // Sent before, and delivered: once is enough, even if the signal closed the run since.
  if (tookRequest(found, requestId)) return;
  const exec = mustBeOpen(found, workflowId, runId, `signal '${signalName}'`);
  deliver(
    tx,
    exec,
    { kind: 'signal', signalName, input, ...(identity !== undefined && { identity }) },
    ctx,
    fx,
  );
  if (requestId === undefined) return;
  keepRequest(exec, requestId);
  // Not `save`: nothing a watcher sees has changed.
  tx.executions.put(exec);
}

export async function requestCancelWorkflow(
  tx: StoreTx,
  request: RunRequest,
  ctx: ServiceContext,
  fx: Effects,
  reason?: string,
): Promise<void> {
  const { workflowId, runId, requestId } = request;
  const found = await findRun(tx, workflowId, runId);
  if (tookRequest(found, requestId)) return;
  const exec = mustBeOpen(found, workflowId, runId, 'cancel');
  deliver(tx, exec, { kind: 'cancelRequest', ...(reason !== undefined && { reason }) }, ctx, fx);
  if (requestId === undefined) return;
  keepRequest(exec, requestId);
  tx.executions.put(exec);
}

/**
 * What became of an update: `outcome` once it completed; none while it waits in the inbox or
 * runs in the workflow. Update IDs are kept on the run like request IDs: an update sent again
 * with its ID (a resend to a new leader, or a client's own retry) is not run twice, and
 * returns the first one's outcome, as on Temporal's server.
 */
export interface UpdateRequested {
  runId: string;
  outcome?: UpdateOutcome;
}

export async function requestUpdate(
  tx: StoreTx,
  request: RunRequest,
  update: { updateId: string; name: string; input: unknown[] },
  ctx: ServiceContext,
  fx: Effects,
): Promise<UpdateRequested> {
  const { workflowId, runId } = request;
  const found = await findRun(tx, workflowId, runId);
  if (found && tookRequest(found, update.updateId)) {
    const earlier = await earlierUpdate(tx, found, update.updateId);
    // Otherwise its validator rejected it, which leaves nothing behind: it is validated again.
    if (earlier) return earlier;
  }
  const exec = mustBeOpen(found, workflowId, runId, `update '${update.name}'`);
  deliver(tx, exec, { kind: 'update', ...update }, ctx, fx);
  keepRequest(exec, update.updateId);
  tx.executions.put(exec);
  return { runId: exec.runId };
}

/**
 * An update the run (or a run it continued, which handed it its IDs) took before: waiting in
 * the inbox, accepted, or completed with its outcome. Read only for an ID the run kept, so
 * only a resend reads the history.
 */
async function earlierUpdate(
  tx: StoreTx,
  exec: ExecutionRecord,
  updateId: string,
): Promise<UpdateRequested | undefined> {
  const open = exec.status === 'RUNNING';
  if (open && (await tx.inbox.list(exec.runId)).some((m) => m.kind === 'update' && m.updateId === updateId))
    return { runId: exec.runId };
  let accepted = false;
  for (const event of await tx.history.read(exec.runId)) {
    if (
      event.eventType === 'WorkflowExecutionUpdateCompleted' &&
      event.attributes.protocolInstanceId === updateId
    )
      return { runId: exec.runId, outcome: { updateId, ...event.attributes.outcome } };
    if (
      event.eventType === 'WorkflowExecutionUpdateAccepted' &&
      event.attributes.protocolInstanceId === updateId
    )
      accepted = true;
  }
  if (accepted) {
    if (open) return { runId: exec.runId };
    throw new WorkflowUpdateFailedError(
      `Workflow closed (${exec.status}) before the update completed`,
      undefined,
    );
  }
  const previous = exec.continuedFromRunId && (await tx.executions.get(exec.continuedFromRunId));
  return previous && tookRequest(previous, updateId) ? earlierUpdate(tx, previous, updateId) : undefined;
}

export async function terminateWorkflow(
  tx: StoreTx,
  request: RunRequest,
  reason: string,
  ctx: ServiceContext,
  fx: Effects,
): Promise<void> {
  const { workflowId, runId, requestId } = request;
  const found = await findRun(tx, workflowId, runId);
  // Sent before: it closed the run, and says so again rather than "already closed".
  if (tookRequest(found, requestId)) return;
  const exec = mustBeOpen(found, workflowId, runId, 'terminate');
  // Written with the close.
  keepRequest(exec, requestId);
  await terminateRun(tx, exec, reason, ctx, fx);
}
