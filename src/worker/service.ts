/**
 * The history service: each state transition of an execution as one function over one
 * store transaction. Everything a step implies (its events, the executions it creates, the
 * tasks and timers it enqueues, the effects of closing: parent notification and close
 * policies) is written in that transaction, or nothing is. These functions await only the
 * transaction, so they are safe inside IndexedDB's auto-committing transactions.
 *
 * The steps live in `./service/`, one file per role: `context.ts` (the context, the effects and
 * the shared low-level writes, which the others build on), `start.ts` (start, signal-with-start),
 * `requests.ts` (signal, cancel, update, terminate), `close.ts` (closing a run, and its next run
 * for continue-as-new or a retry), `children.ts` (starting children, telling parents, parent close policies),
 * `task.ts` (workflow tasks), `activities.ts`, `timers.ts` and `retention.ts`.
 */

export {
  type ActivityClaim,
  type ActivityOutcome,
  claimActivity,
  completeActivity,
  recordHeartbeat,
} from './service/activities.ts';
export { closeRun } from './service/close.ts';
export { deliver, type Effects, findRun, newEffects, type ServiceContext } from './service/context.ts';
export {
  type RunRequest,
  requestCancelWorkflow,
  requestUpdate,
  signalWorkflow,
  terminateWorkflow,
} from './service/requests.ts';
export { deleteExpired, deleteRun } from './service/retention.ts';
export {
  type SignalWithStartRequest,
  type StartRequest,
  signalWithStartWorkflow,
  startWorkflow,
} from './service/start.ts';
export {
  completeWorkflowTask,
  failWorkflowTask,
  quarantineRun,
  type TaskCommit,
  timeOutWorkflowTask,
} from './service/task.ts';
export { fireTimer } from './service/timers.ts';
