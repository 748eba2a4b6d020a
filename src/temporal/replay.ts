import {
  type HistoryEvent,
  InvalidArgumentError,
  type WorkflowFunction,
  WorkflowMachine,
} from '../engine/index.ts';
import { installDeterminism } from '../worker/determinism.ts';
import { fromTemporalHistory } from './from-temporal.ts';

export interface ReplayOptions {
  /** The workflow functions, keyed by type name, as `startWorker` takes them. */
  workflows: Record<string, unknown>;
  /**
   * The run's workflow ID (neither format records it). Default: the history's own
   * `workflowId` field, else the root execution's when the run is the root, else `'replay'`.
   */
  workflowId?: string;
  /** The run's ID. Default: the history's `runId` field, else the started event's `originalExecutionRunId`. */
  runId?: string;
}

/** A history in either format, optionally with the run's IDs beside its events. */
export type AnyHistory = { events: readonly unknown[]; workflowId?: string; runId?: string };

/** True for Temporal's JSON format: each event has a `<type>EventAttributes` object and no `attributes`. */
function isTemporal(history: AnyHistory): boolean {
  const first = history.events[0];
  return (
    typeof first === 'object' &&
    first !== null &&
    !('attributes' in first) &&
    Object.keys(first).some((key) => key.endsWith('EventAttributes'))
  );
}

/**
 * Replays a history (weft's, as `handle.fetchHistory()` returns it, or Temporal's JSON) against
 * workflow code, as Temporal's `Worker.runReplayHistory` does: resolves when the code produces
 * every recorded command, in order. Stricter than Temporal's: activity and child types, child
 * IDs and signal names are compared too.
 *
 * @example
 * await replayHistory({ workflows }, JSON.parse(await readFile('order-1.json', 'utf8')));
 * @throws DeterminismViolationError naming the event and the command that differ.
 * @throws InvalidArgumentError for a malformed history, an event type weft does not know, or a
 *   workflow type that `workflows` does not have.
 */
export async function replayHistory(options: ReplayOptions, history: AnyHistory): Promise<void> {
  if (typeof history !== 'object' || history === null || !Array.isArray(history.events)) {
    throw new InvalidArgumentError('A history is an object with an array of events');
  }
  const events = isTemporal(history)
    ? fromTemporalHistory(history).events
    : (history.events as readonly HistoryEvent[]);
  const start = events[0];
  if (start?.eventType !== 'WorkflowExecutionStarted') {
    throw new InvalidArgumentError('A history starts with WorkflowExecutionStarted');
  }
  const runId = options.runId ?? history.runId ?? start.attributes.originalExecutionRunId;
  const root = start.attributes.rootWorkflowExecution;
  const workflowId =
    options.workflowId ?? history.workflowId ?? (root && root.runId === runId ? root.workflowId : 'replay');
  const registry = new Map<string, WorkflowFunction>();
  const types = new Map<Function, string>();
  for (const [type, fn] of Object.entries(options.workflows)) {
    if (typeof fn !== 'function') continue;
    registry.set(type, fn as WorkflowFunction);
    types.set(fn, type);
  }
  // Workflow code reads the task's time and the run's randomness through `Date` and `Math.random`.
  installDeterminism();
  // On an empty microtask queue, as a host runs activations: other code with microtasks in
  // flight (an engine in the same process) would otherwise see the replay's clock and randomness.
  await new Promise((resolve) => setTimeout(resolve, 0));
  await WorkflowMachine.replay(
    {
      workflowId,
      runId,
      identity: 'replay',
      resolveWorkflow: (type) => registry.get(type),
      workflowTypeOf: (fn) => types.get(fn),
    },
    events as HistoryEvent[],
  );
}
