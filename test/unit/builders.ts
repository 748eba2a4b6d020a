import {
  type Command,
  type EventAttributes,
  type EventType,
  type HistoryEvent,
  type Job,
  type WorkflowFunction,
  WorkflowRuntime,
} from '../../src/engine/index.ts';

/** Builds a history event by event: ids count from 1, times advance by 1 ms. */
export class HistoryBuilder {
  readonly events: HistoryEvent[] = [];
  private time = 1_700_000_000_000;

  add<K extends EventType>(eventType: K, attributes: EventAttributes[K]): this {
    this.events.push({
      eventId: this.events.length + 1,
      eventTime: this.time++,
      eventType,
      attributes,
    } as HistoryEvent);
    return this;
  }

  started(workflowType: string, input: unknown[] = [], seed = 7): this {
    return this.add('WorkflowExecutionStarted', {
      workflowType,
      taskQueue: 'default',
      input,
      randomnessSeed: seed,
      attempt: 1,
      firstExecutionRunId: 'run-1',
      originalExecutionRunId: 'run-1',
    });
  }

  /** A completed workflow task: Scheduled, Started, Completed. */
  task(): this {
    const scheduled = this.events.length + 1;
    this.add('WorkflowTaskScheduled', { taskQueue: 'default', attempt: 1 });
    this.add('WorkflowTaskStarted', { scheduledEventId: scheduled, identity: 'test' });
    return this.add('WorkflowTaskCompleted', {
      scheduledEventId: scheduled,
      startedEventId: scheduled + 1,
      identity: 'test',
    });
  }

  private get lastCompleted(): number {
    return [...this.events].reverse().find((e) => e.eventType === 'WorkflowTaskCompleted')?.eventId ?? 0;
  }

  activityScheduled(seq: number, activityType: string, input: unknown[] = []): this {
    return this.add('ActivityTaskScheduled', {
      activityId: String(seq),
      activityType,
      taskQueue: 'default',
      input,
      startToCloseTimeout: 5000,
      workflowTaskCompletedEventId: this.lastCompleted,
    });
  }

  activityCompleted(scheduledEventId: number, result: unknown): this {
    this.add('ActivityTaskStarted', { scheduledEventId, attempt: 1, identity: 'test' });
    return this.add('ActivityTaskCompleted', {
      scheduledEventId,
      startedEventId: this.events.length,
      result,
    });
  }

  timerStarted(seq: number, ms: number): this {
    return this.add('TimerStarted', {
      timerId: String(seq),
      startToFireTimeout: ms,
      workflowTaskCompletedEventId: this.lastCompleted,
    });
  }

  timerFired(seq: number, startedEventId: number): this {
    return this.add('TimerFired', { timerId: String(seq), startedEventId });
  }

  completed(result: unknown): this {
    return this.add('WorkflowExecutionCompleted', {
      result,
      workflowTaskCompletedEventId: this.lastCompleted,
    });
  }
}

export const makeStart = (input: unknown[] = []): Job => ({ type: 'StartWorkflow', input });
export const makeFireTimer = (seq: number): Job => ({ type: 'FireTimer', seq });
export const makeResolveActivity = (seq: number, completed: unknown): Job => ({
  type: 'ResolveActivity',
  seq,
  result: completed,
});
export const makeSignal = (signalName: string, ...input: unknown[]): Job => ({
  type: 'SignalWorkflow',
  signalName,
  input,
});

export const scheduleActivity = (seq: number, activityType: string, input: unknown[]): Command => ({
  type: 'ScheduleActivityTask',
  seq,
  activityType,
  taskQueue: 'default',
  input,
  startToCloseTimeout: 5000,
  retryPolicy: { initialInterval: 10, maximumAttempts: 3 },
});
export const startTimer = (seq: number, ms: number): Command => ({
  type: 'StartTimer',
  seq,
  startToFireTimeout: ms,
});
export const completeWorkflow = (result: unknown): Command => ({ type: 'CompleteWorkflowExecution', result });

/** The runtime of a run's first execution of `fn`, for tests that hand it activations themselves. */
export function runtimeFor(
  fn: WorkflowFunction,
  { workflowId = 'wf', runId = 'run-1', randomnessSeed = 1 } = {},
): WorkflowRuntime {
  return new WorkflowRuntime({
    info: {
      workflowId,
      runId,
      workflowType: workflowId,
      taskQueue: 'default',
      namespace: 'default',
      firstExecutionRunId: runId,
      attempt: 1,
      startTime: new Date(0),
      runStartTime: new Date(0),
    },
    workflowFn: fn,
    randomnessSeed,
  });
}

/** A new (not replayed) activation of `jobs` at `timestamp`. */
export const activationOf = (jobs: Job[], timestamp = 0) => ({
  timestamp,
  isReplaying: false,
  historyLength: 3,
  continueAsNewSuggested: false,
  jobs,
});
