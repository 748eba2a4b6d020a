import { defined } from '../../engine/defined.ts';
import { type HistoryEvent, type InboxMessage, WorkflowNotFoundError } from '../../engine/index.ts';
import type {
  ActivityTaskRecord,
  ExecutionRecord,
  InboxRecord,
  StoreTx,
  TimerRecord,
} from '../../store/types.ts';

/**
 * What every step of the service shares: its context, the effects it reports, and the
 * low-level writes it makes. It imports no other module of the folder: the steps call each
 * other in a cycle (a start may terminate a run, a close starts the next run), which ESM
 * allows between functions, and this leaf is what they all stand on.
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

export function isOpen(e: ExecutionRecord): boolean {
  return e.status === 'RUNNING';
}

export function appendEvents(tx: StoreTx, exec: ExecutionRecord, events: HistoryEvent[], fx: Effects): void {
  if (events.length === 0) return;
  tx.history.append(exec.runId, events);
  exec.nextEventId = events[events.length - 1]!.eventId + 1;
  const list = fx.appended.get(exec.runId) ?? [];
  list.push(...events);
  fx.appended.set(exec.runId, list);
}

export function save(tx: StoreTx, exec: ExecutionRecord, fx: Effects, created = false): void {
  if (created) tx.executions.add(exec);
  else tx.executions.put(exec);
  fx.changed.set(exec.runId, exec);
}

/** A durable timer of the run; a workflow timer (`kind: 'timer'`) also has its command's seq. */
export function addTimer(
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

export function scheduleWorkflowTask(
  tx: StoreTx,
  exec: ExecutionRecord,
  ctx: ServiceContext,
  fx: Effects,
): void {
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

/**
 * How many request IDs a run keeps. A resend follows its first sending by a leader's takeover
 * (milliseconds to seconds), so only the latest few calls to a run can come again.
 */
export const REQUEST_IDS_KEPT = 32;

/** Whether the run took request `requestId` already (it may have closed since). */
export function tookRequest(exec: ExecutionRecord | undefined, requestId: string | undefined): boolean {
  return requestId !== undefined && exec?.requestIds?.includes(requestId) === true;
}

/** Keeps `requestId` on the run; the caller writes the record in the same transaction. */
export function keepRequest(exec: ExecutionRecord, requestId: string | undefined): void {
  if (requestId === undefined || exec.requestIds?.includes(requestId)) return;
  exec.requestIds = [...(exec.requestIds ?? []), requestId].slice(-REQUEST_IDS_KEPT);
}

/** `exec` if it is open; otherwise a {@link WorkflowNotFoundError} that says why `what` cannot be done. */
export function mustBeOpen(
  exec: ExecutionRecord | undefined,
  workflowId: string,
  runId: string | undefined,
  what: string,
): ExecutionRecord {
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
 * Signals and cancel requests waiting in an inbox, as the events Temporal would have
 * recorded on their arrival (they need no workflow state). Event IDs are set by the caller.
 */
export function arrivedEvents(inbox: InboxRecord[]): HistoryEvent[] {
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
export function numbered(exec: ExecutionRecord, events: HistoryEvent[]): HistoryEvent[] {
  events.forEach((event, i) => {
    event.eventId = exec.nextEventId + i;
  });
  return events;
}
