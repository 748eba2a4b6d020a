import { InvalidArgumentError } from '../../engine/index.ts';
import type { StoreTx } from '../../store/types.ts';
import { terminateRun } from './close.ts';
import { deliver, type Effects, requireOpenRun, type ServiceContext } from './context.ts';

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
