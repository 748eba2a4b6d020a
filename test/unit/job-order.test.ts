/**
 * The order in which an activation's jobs reach workflow code, as Temporal's SDK applies them:
 * signals first in every activation. Found by the crash fuzzer (seed 7726): a signal that came
 * in the same workflow task as a timer or activity resolution reached its handler after the code
 * that the resolution resumed had continued as new, and the new run never saw it.
 */
import { describe, expect, it } from 'vitest';
import { type Job, type WorkflowFunction, WorkflowRuntime } from '../../src/engine/index.ts';
import { installDeterminism } from '../../src/worker/determinism.ts';
import { CancellationScope, defineSignal, setHandler, sleep } from '../../src/workflow/index.ts';

installDeterminism();

const got = defineSignal<[string]>('got');

function runtimeFor(fn: WorkflowFunction) {
  return new WorkflowRuntime({
    info: {
      workflowId: 'order',
      runId: 'run-order',
      workflowType: 'order',
      taskQueue: 'default',
      namespace: 'default',
      firstExecutionRunId: 'run-order',
      attempt: 1,
      startTime: new Date(0),
      runStartTime: new Date(0),
    },
    workflowFn: fn,
    randomnessSeed: 7726,
  });
}

const activation = (jobs: Job[]) => ({
  timestamp: 0,
  isReplaying: false,
  historyLength: 3,
  continueAsNewSuggested: false,
  jobs,
});

const signal = (value: string): Job => ({ type: 'SignalWorkflow', signalName: 'got', input: [value] });

/** Sleeps in a scope of its own (so the timer's job resumes code apart from the signal's), then says what it saw. */
const sleeper: WorkflowFunction = async () => {
  const seen: string[] = [];
  setHandler(got, (value: string) => {
    seen.push(value);
  });
  await CancellationScope.nonCancellable(() => sleep(10));
  return seen.join(',');
};

describe('jobs of one activation', () => {
  it('a signal that came with a timer reaches its handler before the code the timer resumes', async () => {
    const rt = runtimeFor(sleeper);
    expect(await rt.activate(activation([{ type: 'StartWorkflow', input: [] }]))).toEqual([
      { type: 'StartTimer', seq: 1, startToFireTimeout: 10 },
    ]);
    // The timer fired first and the signal came after it, in one task: the signal still counts.
    expect(await rt.activate(activation([{ type: 'FireTimer', seq: 1 }, signal('a'), signal('b')]))).toEqual([
      { type: 'CompleteWorkflowExecution', result: 'a,b' },
    ]);
  });

  it("in a run's first task, signals come before the start and are buffered for a handler set at the top", async () => {
    const rt = runtimeFor(sleeper);
    await rt.activate(activation([{ type: 'StartWorkflow', input: [] }, signal('early')]));
    expect(await rt.activate(activation([{ type: 'FireTimer', seq: 1 }]))).toEqual([
      { type: 'CompleteWorkflowExecution', result: 'early' },
    ]);
  });
});
