/**
 * The deterministic core: history events, commands, the workflow runtime ("activation in,
 * commands out"), replay and the failure model. Pure: no DOM, no IndexedDB, no real timers
 * or randomness, so it runs in Node, Deno, edge runtimes and tests alike.
 */
export type * from './activation.ts';
export type * from './commands.ts';
export { isClosingCommand } from './commands.ts';
export { type Duration, msOptional, msToNumber } from './duration.ts';
export type * from './events.ts';
export { closingStatus, EVENT_TYPES, EXECUTION_STATUSES } from './events.ts';
export * from './failure.ts';
export type * from './inbox.ts';
export {
  failedTaskEvents,
  type IdSource,
  isCommandEvent,
  type MachineInit,
  type TaskResult,
  timedOutTaskEvents,
  type WorkflowFunction,
  WorkflowMachine,
} from './machine.ts';
export { seededRandom, uuid4From } from './random.ts';
export { nextRetry, normaliseRetryPolicy } from './retry.ts';
export {
  type ActivityCallOptions,
  activeRuntime,
  type ChildOptions,
  type ChildWorkflowHandle,
  ContinueAsNew,
  WorkflowRuntime,
} from './runtime.ts';
export { CancellationScope } from './scope.ts';
