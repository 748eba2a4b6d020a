import type { StoreTx, TimerRecord } from '../../store/types.ts';
import { closeRun } from './close.ts';
import { deliver, type Effects, isOpen, type ServiceContext, scheduleWorkflowTask } from './context.ts';

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
