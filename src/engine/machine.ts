import type { Job, WorkflowInfo } from './activation.ts';
import { type Command, commandEventType } from './commands.ts';
import { defined } from './defined.ts';
import { closingStatus, type EventAttributes, type EventType, type HistoryEvent } from './events.ts';
import {
  DeterminismViolationError,
  type FailureRecord,
  InvalidArgumentError,
  type RetryState,
  toFailureRecord,
} from './failure.ts';
import { take } from './helpers.ts';
import type { InboxMessage } from './inbox.ts';
import { type RuntimeOptions, WorkflowRuntime } from './runtime.ts';

/**
 * The history side of a run: turns recorded history into activations (replay), checks the
 * commands workflow code produces against the recorded events, and turns inbox messages
 * and new commands into the next events. Pure: no I/O, no clock; time comes in with each task.
 */

export type WorkflowFunction = (...args: unknown[]) => unknown;

export interface MachineInit extends RuntimeOptions {
  workflowId: string;
  runId: string;
  /** Finds the workflow function registered under a type name. */
  resolveWorkflow(workflowType: string): WorkflowFunction | undefined;
  /** Who runs the tasks (recorded in WorkflowTask events). */
  identity: string;
  /** `continueAsNewSuggested` from this many events (default 10,000). */
  suggestContinueAsNewAt?: number;
}

/** IDs the host supplies when a command needs a fresh one (a new run). */
export interface IdSource {
  newRunId(): string;
}

export interface TaskResult {
  /** Events to append, in order: inputs, WorkflowTask{Scheduled,Started,Completed}, command events. */
  events: HistoryEvent[];
  /** The commands, each with the event it became (none for `RejectUpdate`). */
  commands: { command: Command; eventId?: number }[];
  /** True when the run closed in this task. */
  closed: boolean;
}

/** The events a workflow task's commands produce. */
const commandEvents = new Set(Object.values(commandEventType));

/** True for events that a workflow task's commands produce. */
export function isCommandEvent(event: HistoryEvent): boolean {
  return commandEvents.has(event.eventType);
}

function isPatchMarker(event: HistoryEvent): event is Extract<HistoryEvent, { eventType: 'MarkerRecorded' }> {
  return event.eventType === 'MarkerRecorded' && event.attributes.markerName === 'core_patch';
}

/** Records new events in `events` at `time`, numbered by `nextId()`. */
function recorder(events: HistoryEvent[], time: number, nextId: () => number): AddEvent {
  return (eventType, attributes) => {
    const event = { eventId: nextId(), eventTime: time, eventType, attributes } as HistoryEvent;
    events.push(event);
    return event;
  };
}

/** Adds the events that open a workflow task; returns their IDs, as the task's end names them. */
function openTask(add: AddEvent, taskQueue: string, identity: string) {
  const scheduledEventId = add('WorkflowTaskScheduled', { taskQueue, attempt: 1 }).eventId;
  const startedEventId = add('WorkflowTaskStarted', { scheduledEventId, identity }).eventId;
  return { scheduledEventId, startedEventId };
}

/** The events of a workflow task that failed: recorded once, inputs stay in the inbox. */
export function failedTaskEvents(
  nextEventId: number,
  time: number,
  taskQueue: string,
  identity: string,
  error: unknown,
): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  const add = recorder(events, time, () => nextEventId++);
  add('WorkflowTaskFailed', {
    ...openTask(add, taskQueue, identity),
    cause:
      error instanceof DeterminismViolationError
        ? 'NON_DETERMINISTIC_ERROR'
        : 'WORKFLOW_WORKER_UNHANDLED_FAILURE',
    failure: toFailureRecord(error),
    identity,
  });
  return events;
}

interface OpenChild {
  seq: number;
  startedEventId?: number;
}

interface OpenActivity {
  scheduledEventId: number;
  activityType: string;
}

export class WorkflowMachine {
  runtime: WorkflowRuntime | undefined;
  nextEventId = 1;
  closed = false;
  taskQueue = '';
  readonly #init: MachineInit;
  readonly #openActivities = new Map<number, OpenActivity>();
  /** The reverse of `openActivities`: a completion names its scheduled event, not its seq. */
  readonly #activityByScheduledEventId = new Map<number, number>();
  readonly #openTimers = new Map<number, number>();
  readonly #openUpdates = new Map<string, number>();
  /** Children by their initiated event ID. Sequence numbers follow the order of initiation. */
  readonly #openChildren = new Map<number, OpenChild>();
  /** Seqs of signals and cancel requests to other executions, by their initiated event ID. */
  readonly #openExternal = new Map<number, number>();
  #lastCompletedEventId = 0;
  /** Inputs recorded but not yet seen by workflow code (the start event, or after a failed task). */
  #pendingJobs: Job[] = [];

  constructor(init: MachineInit) {
    this.#init = init;
  }

  /** Replay reads events in order, each the next of the run: anything else is a broken history. */
  #next(event: HistoryEvent): HistoryEvent {
    if (event.eventId !== this.nextEventId) {
      throw new DeterminismViolationError(
        `History is not contiguous: expected event ${this.nextEventId}, found ${event.eventId}`,
      );
    }
    this.nextEventId++;
    return event;
  }

  /**
   * Rebuilds a run from its history by replaying every recorded workflow task.
   * @throws DeterminismViolationError when the code no longer produces the recorded commands.
   */
  static async replay(init: MachineInit, history: HistoryEvent[]): Promise<WorkflowMachine> {
    const machine = new WorkflowMachine(init);
    await machine.#replayEvents(history);
    return machine;
  }

  async #replayEvents(history: HistoryEvent[]): Promise<void> {
    let jobs: Job[] = [];
    let started: HistoryEvent | undefined;
    for (let i = 0; i < history.length; i++) {
      const event = this.#next(history[i]!);
      if (event.eventType === 'WorkflowTaskCompleted') {
        this.#lastCompletedEventId = event.eventId;
        const recorded: HistoryEvent[] = [];
        /** The task's recorded patch markers, which `patched()` calls must find. */
        const patches: string[] = [];
        while (i + 1 < history.length && isCommandEvent(history[i + 1]!)) {
          const commandEvent = this.#next(history[++i]!);
          recorded.push(commandEvent);
          if (isPatchMarker(commandEvent)) patches.push(String(commandEvent.attributes.details.patchId));
          // A recorded update runs again, after the task's inputs (its validator does not).
          if (commandEvent.eventType === 'WorkflowExecutionUpdateAccepted') {
            jobs.push({
              type: 'DoUpdate',
              updateId: commandEvent.attributes.protocolInstanceId,
              name: commandEvent.attributes.name,
              input: commandEvent.attributes.input,
              accepted: true,
            });
          }
        }
        const commands = await this.#requireRuntime().activate({
          timestamp: started?.eventTime ?? event.eventTime,
          isReplaying: true,
          historyLength: started?.eventId ?? event.eventId,
          continueAsNewSuggested: (started?.eventId ?? 0) >= (this.#init.suggestContinueAsNewAt ?? 10_000),
          jobs,
          patches,
        });
        this.#matchCommands(commands, recorded);
        jobs = [];
      } else if (event.eventType === 'WorkflowTaskStarted') started = event;
      else if (isCommandEvent(event)) {
        throw new DeterminismViolationError(
          `Event ${event.eventId} ${event.eventType} is not preceded by a completed workflow task`,
        );
      }
      // Terminated or timed out: closed by the host, not by a command.
      else if (closingStatus(event.eventType)) this.closed = true;
      else {
        const job = this.#jobFor(event);
        if (job) jobs.push(job);
      }
    }
    this.#pendingJobs = jobs;
  }

  #requireRuntime(): WorkflowRuntime {
    if (!this.runtime)
      throw new DeterminismViolationError('History does not start with WorkflowExecutionStarted');
    return this.runtime;
  }

  /** Compares a replayed task's commands with its recorded events, in order. */
  #matchCommands(commands: Command[], recorded: HistoryEvent[]): void {
    let j = 0;
    for (const command of commands) {
      if (command.type === 'RejectUpdate') continue;
      // A patch marker whose `patched()` call was removed from the code is allowed to stay.
      while (j < recorded.length && isPatchMarker(recorded[j]!) && !this.#sameMarker(command, recorded[j]!)) {
        this.#applyCommandEvent(recorded[j++]!);
      }
      const event = recorded[j];
      if (!event) {
        throw new DeterminismViolationError(
          `Nondeterminism after event ${this.#lastCompletedEventId}: code produced ${describeCommand(command)}, history has no matching event`,
        );
      }
      const mismatch = this.#mismatch(command, event);
      if (mismatch !== undefined) {
        throw new DeterminismViolationError(
          `Nondeterminism at event ${event.eventId}: code produced ${describeCommand(command)}, history has ${event.eventType}${mismatch}`,
        );
      }
      this.#applyCommandEvent(event, command);
      j++;
    }
    for (; j < recorded.length; j++) {
      const event = recorded[j]!;
      if (!isPatchMarker(event)) {
        throw new DeterminismViolationError(
          `Nondeterminism at event ${event.eventId}: history has ${event.eventType}, code no longer produces it`,
        );
      }
      this.#applyCommandEvent(event);
    }
  }

  #sameMarker(command: Command, event: HistoryEvent): boolean {
    return (
      command.type === 'RecordMarker' &&
      event.eventType === 'MarkerRecorded' &&
      command.markerName === event.attributes.markerName &&
      command.details.patchId === event.attributes.details.patchId
    );
  }

  /** Undefined when the command matches the event; otherwise what differs. */
  #mismatch(command: Command, event: HistoryEvent): string | undefined {
    const expected = commandEventType[command.type];
    if (event.eventType !== expected) return '';
    const differ = (what: string, ours: string | number | undefined, theirs: string | number) =>
      ours === theirs ? undefined : ` (${what}: code has ${ours}, history has ${theirs})`;
    switch (command.type) {
      case 'ScheduleActivityTask': {
        const a = event.attributes as EventAttributes['ActivityTaskScheduled'];
        return (
          differ('activityId', String(command.seq), a.activityId) ??
          differ('activityType', command.activityType, a.activityType)
        );
      }
      case 'StartTimer':
      case 'CancelTimer':
        return differ('timerId', String(command.seq), (event.attributes as { timerId: string }).timerId);
      case 'RequestCancelActivityTask':
        return differ(
          'scheduledEventId',
          this.#openActivities.get(command.seq)?.scheduledEventId,
          (event.attributes as EventAttributes['ActivityTaskCancelRequested']).scheduledEventId,
        );
      case 'RecordMarker':
        return this.#sameMarker(command, event) ? undefined : ' (a different marker)';
      case 'StartChildWorkflowExecution': {
        const a = event.attributes as EventAttributes['StartChildWorkflowExecutionInitiated'];
        return (
          differ('workflowType', command.workflowType, a.workflowType) ??
          differ('workflowId', command.workflowId, a.workflowId)
        );
      }
      case 'SignalExternalWorkflowExecution': {
        const a = event.attributes as EventAttributes['SignalExternalWorkflowExecutionInitiated'];
        return (
          differ('signalName', command.signalName, a.signalName) ??
          differ('workflowId', command.workflowId, a.workflowExecution.workflowId)
        );
      }
      case 'RequestCancelExternalWorkflowExecution': {
        const a = event.attributes as EventAttributes['RequestCancelExternalWorkflowExecutionInitiated'];
        return differ('workflowId', command.workflowId, a.workflowExecution.workflowId);
      }
      case 'AcceptUpdate':
      case 'CompleteUpdate':
        return differ(
          'updateId',
          command.updateId,
          (event.attributes as { protocolInstanceId: string }).protocolInstanceId,
        );
      default:
        return undefined;
    }
  }

  /** The job for an input event, if any; also closes what the event closes. */
  #jobFor(event: HistoryEvent): Job | undefined {
    switch (event.eventType) {
      case 'WorkflowExecutionStarted':
        this.#start(event.attributes, event.eventTime);
        return { type: 'StartWorkflow', input: event.attributes.input };
      case 'ActivityTaskCompleted':
      case 'ActivityTaskFailed':
      case 'ActivityTaskTimedOut':
      case 'ActivityTaskCanceled': {
        const seq = take(this.#activityByScheduledEventId, event.attributes.scheduledEventId);
        if (seq === undefined) return undefined;
        const { activityType } = take(this.#openActivities, seq)!;
        if (event.eventType === 'ActivityTaskCompleted') {
          return { type: 'ResolveActivity', seq, result: event.attributes.result };
        }
        const [message, retryState, cause]: [string, RetryState, FailureRecord] =
          event.eventType === 'ActivityTaskCanceled'
            ? [
                'Activity cancelled',
                'RETRY_STATE_CANCEL_REQUESTED',
                { name: 'CancelledFailure', message: 'Activity cancelled' },
              ]
            : [
                event.eventType === 'ActivityTaskFailed' ? 'Activity task failed' : 'Activity task timed out',
                event.attributes.retryState,
                event.attributes.failure,
              ];
        const failure = {
          name: 'ActivityFailure',
          message,
          activityType,
          activityId: String(seq),
          retryState,
          cause,
        };
        return { type: 'ResolveActivity', seq, failure };
      }
      case 'TimerFired': {
        const seq = Number(event.attributes.timerId);
        this.#openTimers.delete(seq);
        return { type: 'FireTimer', seq };
      }
      case 'WorkflowExecutionSignaled':
        return { type: 'SignalWorkflow', ...event.attributes };
      case 'WorkflowExecutionCancelRequested':
        return { type: 'CancelWorkflow' };
      case 'ChildWorkflowExecutionStarted': {
        const child = this.#openChildren.get(event.attributes.initiatedEventId);
        if (!child) return undefined;
        child.startedEventId = event.eventId;
        return {
          type: 'ResolveChildWorkflowExecutionStart',
          seq: child.seq,
          result: { succeeded: event.attributes.workflowExecution },
        };
      }
      case 'StartChildWorkflowExecutionFailed': {
        const child = take(this.#openChildren, event.attributes.initiatedEventId);
        if (!child) return undefined;
        return {
          type: 'ResolveChildWorkflowExecutionStart',
          seq: child.seq,
          result: { failed: event.attributes },
        };
      }
      case 'ChildWorkflowExecutionCompleted':
      case 'ChildWorkflowExecutionFailed':
      case 'ChildWorkflowExecutionCanceled':
      case 'ChildWorkflowExecutionTimedOut':
      case 'ChildWorkflowExecutionTerminated': {
        const child = take(this.#openChildren, event.attributes.initiatedEventId);
        if (!child) return undefined;
        if (event.eventType === 'ChildWorkflowExecutionCompleted') {
          return {
            type: 'ResolveChildWorkflowExecution',
            seq: child.seq,
            result: event.attributes.result,
          };
        }
        // The child's own failure, or the one its end stands for.
        const failure: FailureRecord =
          event.eventType === 'ChildWorkflowExecutionFailed'
            ? event.attributes.failure
            : event.eventType === 'ChildWorkflowExecutionCanceled'
              ? {
                  name: 'CancelledFailure',
                  message: 'Child workflow canceled',
                  ...defined({ details: event.attributes.details }),
                }
              : event.eventType === 'ChildWorkflowExecutionTimedOut'
                ? {
                    name: 'TimeoutFailure',
                    message: 'Child workflow timed out',
                    timeoutType: 'START_TO_CLOSE',
                  }
                : { name: 'TerminatedFailure', message: 'Child workflow terminated' };
        return {
          type: 'ResolveChildWorkflowExecution',
          seq: child.seq,
          failure,
          ...('retryState' in event.attributes && { retryState: event.attributes.retryState }),
        };
      }
      case 'ExternalWorkflowExecutionSignaled':
      case 'SignalExternalWorkflowExecutionFailed':
      case 'ExternalWorkflowExecutionCancelRequested':
      case 'RequestCancelExternalWorkflowExecutionFailed': {
        const seq = take(this.#openExternal, event.attributes.initiatedEventId);
        if (seq === undefined) return undefined;
        // The outcome of a signal names one (`...Signaled`, `Signal...Failed`); of a cancel request, not.
        const kind = event.eventType.includes('Signal') ? 'signal' : 'cancel';
        return {
          type: kind === 'signal' ? 'ResolveSignalExternalWorkflow' : 'ResolveRequestCancelExternalWorkflow',
          seq,
          ...(event.eventType.endsWith('Failed') && {
            failure: {
              name: 'ApplicationFailure',
              type: 'ExternalWorkflowExecutionNotFound',
              message: `Cannot ${kind} workflow '${event.attributes.workflowExecution.workflowId}': not found or already closed`,
              nonRetryable: true,
            },
          }),
        };
      }
      default:
        return undefined;
    }
  }

  #start(attributes: EventAttributes['WorkflowExecutionStarted'], startedAt: number): void {
    const fn = this.#init.resolveWorkflow(attributes.workflowType);
    if (!fn) {
      throw new InvalidArgumentError(
        `Workflow type '${attributes.workflowType}' is not registered in this worker`,
      );
    }
    this.taskQueue = attributes.taskQueue;
    const info: Omit<WorkflowInfo, 'unsafe' | 'historyLength' | 'continueAsNewSuggested'> = {
      workflowId: this.#init.workflowId,
      runId: this.#init.runId,
      workflowType: attributes.workflowType,
      taskQueue: attributes.taskQueue,
      namespace: 'default',
      firstExecutionRunId: attributes.firstExecutionRunId,
      attempt: attributes.attempt,
      startTime: new Date(startedAt),
      runStartTime: new Date(startedAt),
      ...defined({
        continuedFromExecutionRunId: attributes.continuedExecutionRunId,
        parent: attributes.parentWorkflowExecution,
        root: attributes.rootWorkflowExecution,
        executionTimeout: attributes.workflowExecutionTimeout,
        runTimeout: attributes.workflowRunTimeout,
        taskTimeout: attributes.workflowTaskTimeout,
        memo: attributes.memo,
      }),
    };
    this.runtime = new WorkflowRuntime({
      ...this.#init,
      info,
      workflowFn: fn,
      randomnessSeed: attributes.randomnessSeed,
    });
  }

  /** Bookkeeping for a command event, recorded or new, with the command that matched it. */
  #applyCommandEvent(event: HistoryEvent, command?: Command): void {
    switch (event.eventType) {
      case 'ActivityTaskScheduled': {
        const seq = Number(event.attributes.activityId);
        this.#openActivities.set(seq, {
          scheduledEventId: event.eventId,
          activityType: event.attributes.activityType,
        });
        this.#activityByScheduledEventId.set(event.eventId, seq);
        break;
      }
      case 'TimerStarted':
        this.#openTimers.set(Number(event.attributes.timerId), event.eventId);
        break;
      case 'TimerCanceled':
        this.#openTimers.delete(Number(event.attributes.timerId));
        break;
      case 'WorkflowExecutionUpdateAccepted':
        this.#openUpdates.set(event.attributes.protocolInstanceId, event.eventId);
        break;
      case 'StartChildWorkflowExecutionInitiated':
        this.#openChildren.set(event.eventId, { seq: seqOf(command) });
        break;
      case 'SignalExternalWorkflowExecutionInitiated':
      case 'RequestCancelExternalWorkflowExecutionInitiated':
        this.#openExternal.set(event.eventId, seqOf(command));
        break;
      case 'WorkflowExecutionUpdateCompleted':
        this.#openUpdates.delete(event.attributes.protocolInstanceId);
        break;
      default:
        if (closingStatus(event.eventType)) this.closed = true;
    }
  }

  /** True if an inbox message still concerns something open in this run. */
  #live(message: InboxMessage): boolean {
    if ('seq' in message) {
      return (message.kind === 'timerFired' ? this.#openTimers : this.#openActivities).has(message.seq);
    }
    if ('initiatedEventId' in message) {
      return (message.kind.startsWith('child') ? this.#openChildren : this.#openExternal).has(
        message.initiatedEventId,
      );
    }
    return true;
  }

  /**
   * Runs one new workflow task: the inbox messages become events and jobs, workflow code
   * runs, and its commands become events.
   * @param time the task's time (becomes `Date.now()` in workflow code)
   */
  async runTask(
    messages: (InboxMessage & { time?: number })[],
    time: number,
    ids: IdSource,
  ): Promise<TaskResult> {
    const events: HistoryEvent[] = [];
    const nextId = () => this.nextEventId++;
    const add = recorder(events, time, nextId);
    const jobs: Job[] = this.#pendingJobs;
    this.#pendingJobs = [];
    const updates: Job[] = [];
    for (const message of messages) {
      if (!this.#live(message)) continue;
      if (message.kind === 'update') {
        updates.push({
          type: 'DoUpdate',
          updateId: message.updateId,
          name: message.name,
          input: message.input,
          accepted: false,
        });
        continue;
      }
      const first = events.length;
      this.#messageEvents(message, recorder(events, message.time ?? time, nextId));
      for (let i = first; i < events.length; i++) {
        const job = this.#jobFor(events[i]!);
        if (job) jobs.push(job);
      }
    }
    const task = openTask(add, this.taskQueue, this.#init.identity);
    const commands = await this.#requireRuntime().activate({
      timestamp: time,
      isReplaying: false,
      historyLength: task.startedEventId,
      continueAsNewSuggested: task.startedEventId >= (this.#init.suggestContinueAsNewAt ?? 10_000),
      jobs: [...jobs, ...updates],
    });
    const completed = add('WorkflowTaskCompleted', { ...task, identity: this.#init.identity });
    this.#lastCompletedEventId = completed.eventId;
    const out: TaskResult['commands'] = [];
    for (const command of commands) {
      const event = this.#commandEvent(command, completed.eventId, ids, add);
      if (event) this.#applyCommandEvent(event, command);
      out.push(event ? { command, eventId: event.eventId } : { command });
    }
    return { events, commands: out, closed: this.closed };
  }

  /** Adds the events an inbox message becomes, through `add` (which records them). */
  #messageEvents(message: InboxMessage, add: AddEvent): void {
    switch (message.kind) {
      case 'signal':
        add('WorkflowExecutionSignaled', {
          signalName: message.signalName,
          input: message.input,
          ...defined({ identity: message.identity }),
        });
        return;
      case 'cancelRequest':
        add(
          'WorkflowExecutionCancelRequested',
          defined({
            cause: message.reason,
            identity: message.identity,
            externalInitiatedEventId: message.externalInitiatedEventId,
          }),
        );
        return;
      case 'timerFired':
        add('TimerFired', {
          timerId: String(message.seq),
          startedEventId: this.#openTimers.get(message.seq)!,
        });
        return;
      case 'activityCompleted':
      case 'activityFailed':
      case 'activityTimedOut':
      case 'activityCanceled': {
        const scheduledEventId = this.#openActivities.get(message.seq)!.scheduledEventId;
        const started = message.kind !== 'activityCanceled' || message.started;
        const startedEventId = started
          ? add('ActivityTaskStarted', {
              scheduledEventId,
              attempt: message.attempt,
              identity: message.identity,
            }).eventId
          : 0;
        if (message.kind === 'activityCompleted') {
          add('ActivityTaskCompleted', { scheduledEventId, startedEventId, result: message.result });
        } else if (message.kind === 'activityCanceled') {
          add('ActivityTaskCanceled', started ? { scheduledEventId, startedEventId } : { scheduledEventId });
        } else {
          add(message.kind === 'activityFailed' ? 'ActivityTaskFailed' : 'ActivityTaskTimedOut', {
            scheduledEventId,
            startedEventId,
            failure: message.failure,
            retryState: message.retryState,
          });
        }
        return;
      }
      case 'childStarted':
        // #jobFor records the started event ID on the open child.
        add('ChildWorkflowExecutionStarted', {
          workflowExecution: message.execution,
          workflowType: message.workflowType,
          initiatedEventId: message.initiatedEventId,
        });
        return;
      case 'childStartFailed':
        add('StartChildWorkflowExecutionFailed', {
          workflowId: message.workflowId,
          workflowType: message.workflowType,
          cause: message.cause,
          initiatedEventId: message.initiatedEventId,
        });
        return;
      case 'childCompleted':
      case 'childFailed':
      case 'childCanceled':
      case 'childTimedOut':
      case 'childTerminated': {
        const attributes: Record<string, unknown> = {
          workflowExecution: message.execution,
          workflowType: message.workflowType,
          initiatedEventId: message.initiatedEventId,
          startedEventId: this.#openChildren.get(message.initiatedEventId)!.startedEventId ?? 0,
        };
        if (message.kind === 'childCompleted') attributes.result = message.result;
        else if (message.kind === 'childCanceled') {
          if (message.details !== undefined) attributes.details = message.details;
        } else if (message.kind !== 'childTerminated') {
          if (message.kind === 'childFailed') attributes.failure = message.failure;
          attributes.retryState = message.retryState;
        }
        add(childEventTypes[message.kind], attributes as EventAttributes[ChildClosingEventType]);
        return;
      }
      case 'externalSignaled':
      case 'externalSignalFailed':
      case 'externalCancelRequested':
      case 'externalCancelFailed':
        add(externalEventTypes[message.kind], {
          initiatedEventId: message.initiatedEventId,
          workflowExecution: message.execution,
          ...('cause' in message && { cause: message.cause }),
        });
        return;
    }
  }

  /** Adds the event a command becomes (attributes in the order Temporal's events list them). */
  #commandEvent(
    command: Command,
    workflowTaskCompletedEventId: number,
    ids: IdSource,
    add: AddEvent,
  ): HistoryEvent | undefined {
    const w = { workflowTaskCompletedEventId };
    switch (command.type) {
      case 'ScheduleActivityTask': {
        const { type, seq, ...schedule } = command;
        return add('ActivityTaskScheduled', { activityId: String(seq), ...schedule, ...w });
      }
      case 'RequestCancelActivityTask':
        return add('ActivityTaskCancelRequested', {
          scheduledEventId: this.#openActivities.get(command.seq)?.scheduledEventId ?? 0,
          ...w,
        });
      case 'StartTimer':
        return add('TimerStarted', {
          timerId: String(command.seq),
          startToFireTimeout: command.startToFireTimeout,
          ...w,
        });
      case 'CancelTimer':
        return add('TimerCanceled', {
          timerId: String(command.seq),
          startedEventId: this.#openTimers.get(command.seq) ?? 0,
          ...w,
        });
      case 'RecordMarker': {
        const { type, ...marker } = command;
        return add('MarkerRecorded', { ...marker, ...w });
      }
      case 'AcceptUpdate':
        return add('WorkflowExecutionUpdateAccepted', {
          protocolInstanceId: command.updateId,
          name: command.name,
          input: command.input,
        });
      case 'CompleteUpdate':
        return add('WorkflowExecutionUpdateCompleted', {
          protocolInstanceId: command.updateId,
          acceptedEventId: this.#openUpdates.get(command.updateId) ?? 0,
          outcome: command.outcome,
        });
      case 'RejectUpdate':
        return undefined;
      case 'CompleteWorkflowExecution':
        return add('WorkflowExecutionCompleted', { result: command.result, ...w });
      case 'FailWorkflowExecution':
        // The host sets the retry state when the run has a retry policy.
        return add('WorkflowExecutionFailed', {
          failure: command.failure,
          retryState: 'RETRY_STATE_RETRY_POLICY_NOT_SET',
          ...w,
        });
      case 'CancelWorkflowExecution':
        return add('WorkflowExecutionCanceled', { ...w });
      case 'ContinueAsNewWorkflowExecution': {
        const { type, ...next } = command;
        return add('WorkflowExecutionContinuedAsNew', { newExecutionRunId: ids.newRunId(), ...next, ...w });
      }
      case 'StartChildWorkflowExecution': {
        const { type, seq, ...start } = command;
        return add('StartChildWorkflowExecutionInitiated', { ...start, ...w });
      }
      case 'SignalExternalWorkflowExecution': {
        const { type, seq, workflowId, runId, ...signal } = command;
        return add('SignalExternalWorkflowExecutionInitiated', {
          workflowExecution: defined({ workflowId, runId }),
          ...signal,
          ...w,
        });
      }
      case 'RequestCancelExternalWorkflowExecution': {
        const { type, seq, workflowId, runId, ...request } = command;
        return add('RequestCancelExternalWorkflowExecutionInitiated', {
          workflowExecution: defined({ workflowId, runId }),
          ...request,
          ...w,
        });
      }
    }
  }
}

type AddEvent = <K extends EventType>(eventType: K, attributes: EventAttributes[K]) => HistoryEvent;

type ChildClosingEventType =
  | 'ChildWorkflowExecutionCompleted'
  | 'ChildWorkflowExecutionFailed'
  | 'ChildWorkflowExecutionCanceled'
  | 'ChildWorkflowExecutionTimedOut'
  | 'ChildWorkflowExecutionTerminated';

/** The event each message about a child's end becomes. */
const childEventTypes: Record<
  'childCompleted' | 'childFailed' | 'childCanceled' | 'childTimedOut' | 'childTerminated',
  ChildClosingEventType
> = {
  childCompleted: 'ChildWorkflowExecutionCompleted',
  childFailed: 'ChildWorkflowExecutionFailed',
  childCanceled: 'ChildWorkflowExecutionCanceled',
  childTimedOut: 'ChildWorkflowExecutionTimedOut',
  childTerminated: 'ChildWorkflowExecutionTerminated',
};

/** The event each message about a signal or cancel request to another execution becomes. */
const externalEventTypes = {
  externalSignaled: 'ExternalWorkflowExecutionSignaled',
  externalSignalFailed: 'SignalExternalWorkflowExecutionFailed',
  externalCancelRequested: 'ExternalWorkflowExecutionCancelRequested',
  externalCancelFailed: 'RequestCancelExternalWorkflowExecutionFailed',
} as const;

/** The seq of the command an Initiated event matched (always given for those: see #applyCommandEvent). */
function seqOf(command: Command | undefined): number {
  return (command as { seq: number }).seq;
}

function describeCommand(command: Command): string {
  switch (command.type) {
    case 'ScheduleActivityTask':
      return `${command.type}(${command.activityType}, seq ${command.seq})`;
    case 'StartTimer':
      return `${command.type}(seq ${command.seq}, ${command.startToFireTimeout} ms)`;
    case 'StartChildWorkflowExecution':
      return `${command.type}(${command.workflowType}, ${command.workflowId})`;
    default:
      return command.type;
  }
}
