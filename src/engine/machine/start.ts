import type { WorkflowInfo } from '../activation.ts';
import { defined } from '../defined.ts';
import type { EventAttributes } from '../events.ts';
import { InvalidArgumentError } from '../failure.ts';
import type { MachineInit } from '../machine.ts';
import { WorkflowRuntime } from '../runtime.ts';

/**
 * The runtime a run's `WorkflowExecutionStarted` event starts: the workflow function
 * registered under its type, and the facts `workflowInfo()` shows.
 */
export function startRuntime(
  init: MachineInit,
  attributes: EventAttributes['WorkflowExecutionStarted'],
  startedAt: number,
): WorkflowRuntime {
  const fn = init.resolveWorkflow(attributes.workflowType);
  if (!fn) {
    throw new InvalidArgumentError(
      `Workflow type '${attributes.workflowType}' is not registered in this worker`,
    );
  }
  const info: Omit<WorkflowInfo, 'unsafe' | 'historyLength' | 'continueAsNewSuggested'> = {
    workflowId: init.workflowId,
    runId: init.runId,
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
  return new WorkflowRuntime({
    ...init,
    info,
    workflowFn: fn,
    randomnessSeed: attributes.randomnessSeed,
  });
}
