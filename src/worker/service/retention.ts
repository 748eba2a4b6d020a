import { InvalidArgumentError } from '../../engine/index.ts';
import type { ExecutionRecord, StoreTx } from '../../store/types.ts';
import { isOpen } from './context.ts';

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
