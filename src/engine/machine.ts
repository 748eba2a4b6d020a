import type { Job } from './activation.ts';
import type { Command } from './commands.ts';
import { defined } from './defined.ts';
import { closingStatus, type HistoryEvent } from './events.ts';
import { DeterminismViolationError } from './failure.ts';
import type { InboxMessage } from './inbox.ts';
import { OpenActivities } from './machine/activities.ts';
import { OpenChildren } from './machine/children.ts';
import { OpenExternal } from './machine/external.ts';
import { isCommandEvent, isPatchMarker, matchCommands } from './machine/replay.ts';
import { startRuntime } from './machine/start.ts';
import { type AddEvent, openTask, recorder } from './machine/task.ts';
import { OpenTimers } from './machine/timers.ts';
import { OpenUpdates } from './machine/updates.ts';
import type { RuntimeOptions, WorkflowRuntime } from './runtime.ts';

export { isCommandEvent } from './machine/replay.ts';
export { failedTaskEvents, timedOutTaskEvents } from './machine/task.ts';

/**
 * The history side of a run: turns recorded history into activations (replay), checks the
 * commands workflow code produces against the recorded events, and turns inbox messages
 * and new commands into the next events. Pure: no I/O, no clock; time comes in with each task.
 *
 * Each kind of open work (activities, timers, updates, children, requests to other
 * executions) keeps its bookkeeping under `machine/`; a replayed or new task hands each
 * event, message and command to its kind.
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

export class WorkflowMachine {
  runtime: WorkflowRuntime | undefined;
  nextEventId = 1;
  closed = false;
  taskQueue = '';
  readonly #init: MachineInit;
  readonly #openActivities = new OpenActivities();
  readonly #openTimers = new OpenTimers();
  readonly #openUpdates = new OpenUpdates();
  readonly #openChildren = new OpenChildren();
  readonly #openExternal = new OpenExternal();
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
        matchCommands(
          commands,
          recorded,
          this.#lastCompletedEventId,
          this.#openActivities,
          (event, command) => this.#applyCommandEvent(event, command),
        );
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

  /** The job for an input event, if any; also closes what the event closes. */
  #jobFor(event: HistoryEvent): Job | undefined {
    switch (event.eventType) {
      case 'WorkflowExecutionStarted':
        this.runtime = startRuntime(this.#init, event.attributes, event.eventTime);
        this.taskQueue = event.attributes.taskQueue;
        return { type: 'StartWorkflow', input: event.attributes.input };
      case 'ActivityTaskCompleted':
      case 'ActivityTaskFailed':
      case 'ActivityTaskTimedOut':
      case 'ActivityTaskCanceled':
        return this.#openActivities.jobFor(event);
      case 'TimerFired':
        return this.#openTimers.jobFor(event);
      case 'WorkflowExecutionSignaled':
        return { type: 'SignalWorkflow', ...event.attributes };
      case 'WorkflowExecutionCancelRequested':
        return { type: 'CancelWorkflow' };
      case 'ChildWorkflowExecutionStarted':
      case 'StartChildWorkflowExecutionFailed':
      case 'ChildWorkflowExecutionCompleted':
      case 'ChildWorkflowExecutionFailed':
      case 'ChildWorkflowExecutionCanceled':
      case 'ChildWorkflowExecutionTimedOut':
      case 'ChildWorkflowExecutionTerminated':
        return this.#openChildren.jobFor(event);
      case 'ExternalWorkflowExecutionSignaled':
      case 'SignalExternalWorkflowExecutionFailed':
      case 'ExternalWorkflowExecutionCancelRequested':
      case 'RequestCancelExternalWorkflowExecutionFailed':
        return this.#openExternal.jobFor(event);
      default:
        return undefined;
    }
  }

  /** Bookkeeping for a command event, recorded or new, with the command that matched it. */
  #applyCommandEvent(event: HistoryEvent, command?: Command): void {
    switch (event.eventType) {
      case 'ActivityTaskScheduled':
        this.#openActivities.scheduled(event);
        break;
      case 'TimerStarted':
        this.#openTimers.started(event);
        break;
      case 'TimerCanceled':
        this.#openTimers.canceled(event);
        break;
      case 'WorkflowExecutionUpdateAccepted':
        this.#openUpdates.accepted(event);
        break;
      case 'StartChildWorkflowExecutionInitiated':
        this.#openChildren.initiated(event, seqOf(command));
        break;
      case 'SignalExternalWorkflowExecutionInitiated':
      case 'RequestCancelExternalWorkflowExecutionInitiated':
        this.#openExternal.initiated(event, seqOf(command));
        break;
      case 'WorkflowExecutionUpdateCompleted':
        this.#openUpdates.completed(event);
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
   * @param attempt the task's attempt (more than 1 after earlier attempts timed out or failed)
   */
  async runTask(
    messages: (InboxMessage & { time?: number })[],
    time: number,
    ids: IdSource,
    attempt = 1,
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
    const task = openTask(add, this.taskQueue, this.#init.identity, attempt);
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
        this.#openTimers.messageEvents(message, add);
        return;
      case 'activityCompleted':
      case 'activityFailed':
      case 'activityTimedOut':
      case 'activityCanceled':
        this.#openActivities.messageEvents(message, add);
        return;
      case 'childStarted':
      case 'childStartFailed':
      case 'childCompleted':
      case 'childFailed':
      case 'childCanceled':
      case 'childTimedOut':
      case 'childTerminated':
        this.#openChildren.messageEvents(message, add);
        return;
      case 'externalSignaled':
      case 'externalSignalFailed':
      case 'externalCancelRequested':
      case 'externalCancelFailed':
        this.#openExternal.messageEvents(message, add);
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
      case 'ScheduleActivityTask':
      case 'RequestCancelActivityTask':
        return this.#openActivities.commandEvent(command, w, add);
      case 'StartTimer':
      case 'CancelTimer':
        return this.#openTimers.commandEvent(command, w, add);
      case 'RecordMarker': {
        const { type, ...marker } = command;
        return add('MarkerRecorded', { ...marker, ...w });
      }
      case 'AcceptUpdate':
      case 'CompleteUpdate':
      case 'RejectUpdate':
        return this.#openUpdates.commandEvent(command, add);
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
      case 'StartChildWorkflowExecution':
        return this.#openChildren.commandEvent(command, w, add);
      case 'SignalExternalWorkflowExecution':
      case 'RequestCancelExternalWorkflowExecution':
        return this.#openExternal.commandEvent(command, w, add);
    }
  }
}

/** The seq of the command an Initiated event matched (always given for those: see #applyCommandEvent). */
function seqOf(command: Command | undefined): number {
  return (command as { seq: number }).seq;
}
