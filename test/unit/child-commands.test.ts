import { describe, expect, it } from 'vitest';
import type { Command, Job, WorkflowFunction } from '../../src/engine/index.ts';
import { installDeterminism } from '../../src/worker/determinism.ts';
import {
  CancellationScope,
  type ChildWorkflowCancellationType,
  defineSignal,
  setHandler,
  startChild,
} from '../../src/workflow/index.ts';
import { activationOf, runtimeFor as runtimeWith } from './builders.ts';

installDeterminism();

const stop = defineSignal('stop');

/** A parent whose `stop` signal cancels the scope holding its child. */
function parentOf(cancellationType: ChildWorkflowCancellationType): WorkflowFunction {
  return async () => {
    const scope = new CancellationScope();
    setHandler(stop, () => scope.cancel());
    const outcome: string[] = [];
    const started = scope.run(() => startChild('child', { workflowId: 'kid', cancellationType }));
    const start = await started.then(
      () => 'started',
      (e: Error) => `start:${e.name}`,
    );
    outcome.push(start);
    return outcome;
  };
}

const runtimeFor = (fn: WorkflowFunction) =>
  runtimeWith(fn, { workflowId: 'parent', runId: 'run-parent', randomnessSeed: 3 });

const activation = (jobs: Job[]) => activationOf(jobs);

const startChildCommand = (cancellationType: ChildWorkflowCancellationType): Command => ({
  type: 'StartChildWorkflowExecution',
  seq: 1,
  workflowId: 'kid',
  workflowType: 'child',
  taskQueue: 'default',
  input: [],
  parentClosePolicy: 'TERMINATE',
  cancellationType,
  workflowIdReusePolicy: 'ALLOW_DUPLICATE',
  workflowIdConflictPolicy: 'FAIL',
});

describe('a cancel that arrives while the child is only initiated', () => {
  // Whether a cancel request follows once the child has started: the next test.
  it.each(['ABANDON', 'TRY_CANCEL', 'WAIT_CANCELLATION_REQUESTED', 'WAIT_CANCELLATION_COMPLETED'] as const)(
    '%s: start rejects at once',
    async (type) => {
      const rt = runtimeFor(parentOf(type));
      // Task 1: the child is initiated.
      expect(await rt.activate(activation([{ type: 'StartWorkflow', input: [] }]))).toEqual([
        startChildCommand(type),
      ]);
      // Task 2: cancelled before ChildWorkflowExecutionStarted: no request can be addressed yet.
      expect(
        await rt.activate(activation([{ type: 'SignalWorkflow', signalName: 'stop', input: [] }])),
      ).toEqual([{ type: 'CompleteWorkflowExecution', result: ['start:CancelledFailure'] }]);
    },
  );

  it.each([
    ['ABANDON', []],
    [
      'TRY_CANCEL',
      [
        {
          type: 'RequestCancelExternalWorkflowExecution',
          seq: 1,
          workflowId: 'kid',
          runId: 'run-kid',
          childWorkflowOnly: true,
        },
      ],
    ],
    [
      'WAIT_CANCELLATION_REQUESTED',
      [
        {
          type: 'RequestCancelExternalWorkflowExecution',
          seq: 1,
          workflowId: 'kid',
          runId: 'run-kid',
          childWorkflowOnly: true,
        },
      ],
    ],
    [
      'WAIT_CANCELLATION_COMPLETED',
      [
        {
          type: 'RequestCancelExternalWorkflowExecution',
          seq: 1,
          workflowId: 'kid',
          runId: 'run-kid',
          childWorkflowOnly: true,
        },
      ],
    ],
  ] as const)(
    '%s: the child that starts after the cancel is asked to stop (or abandoned)',
    async (type, expected) => {
      const fn: WorkflowFunction = async () => {
        const scope = new CancellationScope();
        setHandler(stop, () => scope.cancel());
        const started = scope.run(() => startChild('child', { workflowId: 'kid', cancellationType: type }));
        await started.catch(() => undefined);
        await new Promise<never>(() => undefined).catch(() => undefined);
      };
      const rt = runtimeFor(fn);
      await rt.activate(activation([{ type: 'StartWorkflow', input: [] }]));
      await rt.activate(activation([{ type: 'SignalWorkflow', signalName: 'stop', input: [] }]));
      const afterStart = await rt.activate(
        activation([
          { type: 'ResolveChildWorkflowExecutionStart', seq: 1, result: { succeeded: { runId: 'run-kid' } } },
        ]),
      );
      expect(afterStart).toEqual(expected);
    },
  );
});
