import { defined } from '../../engine/defined.ts';
import {
  type HistoryEvent,
  isClosingCommand,
  type TaskResult,
  timedOutTaskEvents,
} from '../../engine/index.ts';
import type { ActivityTaskRecord, StoreTx } from '../../store/types.ts';
import { startChild } from './children.ts';
import { closeRun, nextRunOf, terminateRun } from './close.ts';
import {
  addTimer,
  appendEvents,
  arrivedEvents,
  deliver,
  type Effects,
  findRun,
  isOpen,
  numbered,
  type ServiceContext,
  save,
  scheduleWorkflowTask,
} from './context.ts';

export interface TaskCommit {
  runId: string;
  /** The run's nextEventId when the task read it: the commit is refused if it moved. */
  expectedNextEventId: number;
  /** The run's workflow task attempt when the task read it (absent: 1): refused if it moved. */
  attempt?: number;
  consumedInbox: number[];
  result: TaskResult;
}

/**
 * Commits a completed workflow task.
 * @returns false when the run moved on meanwhile (terminated, timed out, another host
 *   committed, or a signal came that the closing task did not see): nothing is written and the
 *   caller must drop its cached state.
 */
export async function completeWorkflowTask(
  tx: StoreTx,
  commit: TaskCommit,
  ctx: ServiceContext,
  fx: Effects,
): Promise<boolean> {
  const [exec, inbox] = await Promise.all([tx.executions.get(commit.runId), tx.inbox.list(commit.runId)]);
  if (
    !exec ||
    !isOpen(exec) ||
    exec.nextEventId !== commit.expectedNextEventId ||
    (exec.workflowTaskAttempt ?? 1) !== (commit.attempt ?? 1)
  )
    return false;
  const consumed = new Set(commit.consumedInbox);
  // A signal that arrived while the task ran was accepted for this run: the run may not close
  // without it. As Temporal's server fails such a completion (UNHANDLED_COMMAND), nothing is
  // written and the task runs again, with the signal (its arrival made the run ready).
  if (
    commit.result.commands.some(({ command }) => isClosingCommand(command)) &&
    inbox.some((m) => m.kind === 'signal' && !consumed.has(m.id))
  )
    return false;
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
  delete exec.workflowTaskAttempt;
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
  attempt = 1,
): Promise<boolean> {
  const exec = await tx.executions.get(runId);
  if (
    !exec ||
    !isOpen(exec) ||
    exec.nextEventId !== expectedNextEventId ||
    (exec.workflowTaskAttempt ?? 1) !== attempt
  )
    return false;
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
  // Only the first of consecutive failures (or timeouts) is recorded, as in Temporal.
  const recorded = numbered(exec, [...arrived, ...(exec.blocked || exec.workflowTaskAttempt ? [] : events)]);
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

/**
 * Records a workflow task that its host took and did not complete within the run's workflow
 * task timeout (`WorkflowTaskTimedOut`, for the first of consecutive ones, as in Temporal), and
 * schedules its next attempt: the inbox is kept, and a completion of the timed-out attempt
 * that arrives later is refused (the attempt it was computed for has moved on).
 * @param sentAt when the task was handed to `identity`
 * @returns false when the run moved on meanwhile (nothing is written).
 */
export async function timeOutWorkflowTask(
  tx: StoreTx,
  runId: string,
  expectedNextEventId: number,
  attempt: number,
  sentAt: number,
  identity: string,
  ctx: ServiceContext,
  fx: Effects,
): Promise<boolean> {
  const exec = await tx.executions.get(runId);
  if (
    !exec ||
    !isOpen(exec) ||
    exec.nextEventId !== expectedNextEventId ||
    (exec.workflowTaskAttempt ?? 1) !== attempt
  )
    return false;
  if (attempt === 1 && !exec.blocked) {
    appendEvents(
      tx,
      exec,
      timedOutTaskEvents(exec.nextEventId, sentAt, ctx.now, exec.taskQueue, identity),
      fx,
    );
  }
  exec.workflowTaskAttempt = attempt + 1;
  scheduleWorkflowTask(tx, exec, ctx, fx);
  save(tx, exec, fx);
  return true;
}

/**
 * Quarantines a run whose records are not what weft writes (see `host/integrity.ts`): it stays
 * RUNNING, blocked with the reason, and nothing is added to its history (a damaged history is
 * not built on). Its inbox, tasks and timers stay: once its records are repaired, it runs again.
 * @returns false when the run moved on meanwhile, or was already quarantined for this reason.
 */
export async function quarantineRun(
  tx: StoreTx,
  runId: string,
  expectedNextEventId: number,
  reason: string,
  ctx: ServiceContext,
  fx: Effects,
): Promise<boolean> {
  const exec = await tx.executions.get(runId);
  if (!exec || !isOpen(exec) || exec.nextEventId !== expectedNextEventId) return false;
  const message = `Corrupt records: ${reason}. The run is quarantined: it goes no further until they are repaired (or it is terminated)`;
  if (exec.blocked?.reason === message) return false;
  exec.blocked = {
    reason: message,
    failure: { name: 'CorruptRecordError', message },
    since: exec.blocked?.since ?? ctx.now,
  };
  save(tx, exec, fx);
  return true;
}
