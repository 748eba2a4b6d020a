/**
 * The programs the fuzzer runs, how a seed generates them, and what each one implies: the
 * outcome of every execution it makes, the trace its workflow code reports, and how many times
 * each activity may run. The expectation is computed here from the program alone, never from
 * what the engine did.
 */
import type { Rng } from './random.ts';

export type ClosePolicy = 'TERMINATE' | 'REQUEST_CANCEL' | 'ABANDON';
export type CancellationType =
  | 'ABANDON'
  | 'TRY_CANCEL'
  | 'WAIT_CANCELLATION_REQUESTED'
  | 'WAIT_CANCELLATION_COMPLETED';

/** One step of a program; `id` is unique within a root's whole tree of programs. */
export type Step =
  /** Fails its first `failures` executions, then succeeds (retried without limit). */
  | { kind: 'flaky'; id: string; failures: number }
  /** Always fails: after `attempts` attempts, or at once when `nonRetryable`. */
  | { kind: 'doomed'; id: string; attempts: number; nonRetryable: boolean }
  /** Started and cancelled at once (the activity may or may not have run). */
  | { kind: 'cancelActivity'; id: string }
  /** Never finishes: each of `attempts` attempts times out (start-to-close). */
  | { kind: 'timeout'; id: string; attempts: number }
  | { kind: 'sleep'; id: string; ms: number }
  /** A long timer, cancelled at once. */
  | { kind: 'cancelTimer'; id: string }
  /** `condition(() => false, ms)`: false once the timeout fires. */
  | { kind: 'conditionTimeout'; id: string; ms: number }
  /** Waits for the client's signal `sig` carrying `id`. */
  | { kind: 'signal'; id: string }
  /** `executeChild` of another program. */
  | { kind: 'child'; id: string; program: Program }
  /** A child that signals its parent (`sendToParent`); the parent waits for the signal and the result. */
  | { kind: 'childSignal'; id: string }
  /** A child that waits to be released, left running: its fate is the parent close policy's. */
  | { kind: 'childPolicy'; id: string; policy: ClosePolicy }
  /** A child that waits to be released, in a scope cancelled at once. */
  | { kind: 'childCancel'; id: string; cancellationType: CancellationType }
  /** A child that waits forever, under a short execution timeout. */
  | { kind: 'childTimeout'; id: string }
  | { kind: 'parallel'; id: string; branches: Step[][] }
  | { kind: 'continueAsNew'; id: string };

/**
 * A program: its steps, then how it ends. `cancel`: it waits, cancellably, once its steps are
 * done (each ran shielded from cancellation), and the client cancels it; `terminate`: it waits
 * and the client terminates it once it has reported.
 */
export interface Program {
  steps: Step[];
  ending: 'complete' | 'fail' | 'cancel' | 'terminate';
}

/** What a program's workflow code records, step by step: its result and its report. */
export type TraceItem = string | TraceItem[];

export const PLANNED_FAILURE = 'planned failure';

// ---- generation -------------------------------------------------------------------------------

interface GenContext {
  rng: Rng;
  next: { value: number };
}

function stepId(g: GenContext): string {
  return `s${g.next.value++}`;
}

/** A step for a program at `depth` (0: a root), not inside a parallel branch when `inBranch`. */
function genStep(g: GenContext, depth: number, inBranch: boolean, canContinue: boolean): Step {
  const { rng } = g;
  const children = depth < 2;
  const kind = rng.weighted({
    flaky: 5,
    doomed: 2,
    cancelActivity: 1,
    timeout: 0.5,
    sleep: 3,
    cancelTimer: 1,
    conditionTimeout: 1,
    signal: inBranch ? 0.5 : 2,
    child: children ? 2 : 0,
    childSignal: children && !inBranch ? 1 : 0,
    childPolicy: children && !inBranch ? 1.5 : 0,
    childCancel: children && !inBranch ? 1.5 : 0,
    childTimeout: children && !inBranch ? 0.5 : 0,
    parallel: inBranch ? 0 : 1.5,
    continueAsNew: canContinue && !inBranch ? 1 : 0,
  });
  const id = stepId(g);
  switch (kind) {
    case 'flaky':
      return { kind, id, failures: Number(rng.weighted({ 0: 3, 1: 2, 2: 1, 3: 0.5 })) };
    case 'doomed': {
      const nonRetryable = rng.chance(0.4);
      return { kind, id, nonRetryable, attempts: nonRetryable ? 1 : rng.int(1, 3) };
    }
    case 'cancelActivity':
    case 'cancelTimer':
    case 'signal':
    case 'childSignal':
    case 'childTimeout':
    case 'continueAsNew':
      return { kind, id };
    case 'timeout':
      return { kind, id, attempts: rng.int(1, 2) };
    case 'sleep':
      return { kind, id, ms: rng.pick([1, 2, 5, 10, 20, 40]) };
    case 'conditionTimeout':
      return { kind, id, ms: rng.pick([1, 5, 15]) };
    case 'child':
      return { kind, id, program: genProgram(g, depth + 1) };
    case 'childPolicy':
      return { kind, id, policy: rng.pick(['TERMINATE', 'REQUEST_CANCEL', 'ABANDON'] as const) };
    case 'childCancel':
      return {
        kind,
        id,
        cancellationType: rng.pick([
          'ABANDON',
          'TRY_CANCEL',
          'WAIT_CANCELLATION_REQUESTED',
          'WAIT_CANCELLATION_COMPLETED',
        ] as const),
      };
    case 'parallel':
      return {
        kind,
        id,
        branches: Array.from({ length: rng.int(2, 3) }, () =>
          Array.from({ length: rng.int(1, 2) }, () => genStep(g, depth, true, false)),
        ),
      };
  }
}

/** A program at `depth`: a root (0) may end in any way; a child completes or fails. */
function genProgram(g: GenContext, depth: number): Program {
  const { rng } = g;
  const ending: Program['ending'] =
    depth === 0
      ? rng.weighted({ complete: 5, fail: 1.5, cancel: 2, terminate: 1.5 })
      : rng.weighted({ complete: 4, fail: 1 });
  const steps: Step[] = [];
  const count = depth === 0 ? rng.int(2, 6) : rng.int(1, 3);
  let continues = 0;
  for (let i = 0; i < count; i++) {
    // A cancelled run's request does not follow it into the next run: such programs never continue.
    const step = genStep(g, depth, false, ending !== 'cancel' && continues < 2 && i < count - 1);
    if (step.kind === 'continueAsNew') continues++;
    steps.push(step);
  }
  return { steps, ending };
}

/** The roots a seed starts, each with its own tree of children. */
export function generatePrograms(rng: Rng, roots: number): Program[] {
  return Array.from({ length: roots }, () => genProgram({ rng, next: { value: 1 } }, 0));
}

// ---- expectation ------------------------------------------------------------------------------

export type ExpectedStatus = 'COMPLETED' | 'FAILED' | 'CANCELED' | 'TERMINATED' | 'TIMED_OUT';

/** What one workflow ID must end as. */
export interface ExpectedExecution {
  workflowId: string;
  workflowType: 'fuzz' | 'fuzzBlocker' | 'fuzzSignaller';
  /** Runs under the ID: one more per continue-as-new. */
  runs: number;
  /** The last run's status (the others are CONTINUED_AS_NEW). */
  status: ExpectedStatus;
  /** The result of a COMPLETED run. */
  result?: unknown;
  /** The failure message of a FAILED run. */
  failure?: string;
  /** For a program: the trace its `report` activity records, and its key. */
  report?: { key: string; trace: TraceItem[] };
  /** Client signals (`sig`) it waits for, by ID. */
  clientSignals: string[];
  /** Signals (`childSig`) its children send it, by ID: each arrives exactly once. */
  childSignals: string[];
  /** The client releases it (a blocker its parent abandoned). */
  releasedByClient: boolean;
  /** The client cancels it or terminates it. */
  endedByClient?: 'cancel' | 'terminate';
  /** For a root: its program. */
  program?: Program;
}

/** How many times an activity may run, crashes aside (each crash in its way allows one more). */
export interface ExpectedActivity {
  key: string;
  workflowId: string;
  min: number;
  max: number;
  /**
   * Its attempts are bounded: an attempt lost with its host uses one up, so it may run once
   * less for each such attempt that had not yet run.
   */
  bounded?: boolean;
}

export interface Expectation {
  executions: Map<string, ExpectedExecution>;
  activities: Map<string, ExpectedActivity>;
}

export const activityKey = (workflowId: string, stepId: string): string => `${workflowId}/${stepId}`;
export const childId = (parentWorkflowId: string, stepId: string): string => `${parentWorkflowId}.${stepId}`;

function blocker(
  workflowId: string,
  status: ExpectedStatus,
  releasedByClient = false,
  result?: string,
): ExpectedExecution {
  return {
    workflowId,
    workflowType: 'fuzzBlocker',
    runs: 1,
    status,
    ...(result !== undefined && { result }),
    clientSignals: [],
    childSignals: [],
    releasedByClient,
  };
}

/** The trace item a step records, registering what it implies (children, activities) in `into`. */
function expectStep(step: Step, workflowId: string, into: Expectation, parent: ExpectedExecution): TraceItem {
  const { id } = step;
  const activity = (min: number, max = min, bounded = false): void => {
    const key = activityKey(workflowId, id);
    into.activities.set(key, { key, workflowId, min, max, ...(bounded && { bounded }) });
  };
  switch (step.kind) {
    case 'flaky':
      activity(step.failures + 1);
      return `${id}:ok`;
    case 'doomed':
      activity(step.attempts, step.attempts, true);
      return `${id}:failed`;
    case 'cancelActivity':
      activity(0, 1);
      return `${id}:cancelled`;
    case 'timeout':
      activity(step.attempts, step.attempts, true);
      return `${id}:timedout`;
    case 'sleep':
      return `${id}:slept`;
    case 'cancelTimer':
      return `${id}:cancelled`;
    case 'conditionTimeout':
      return `${id}:false`;
    case 'signal':
      parent.clientSignals.push(id);
      return `${id}:signaled`;
    case 'child': {
      const child = expectProgram(step.program, childId(workflowId, id), into);
      return child.status === 'COMPLETED'
        ? [`${id}:child`, ...(child.result as TraceItem[])]
        : `${id}:child-failed`;
    }
    case 'childSignal': {
      const wid = childId(workflowId, id);
      parent.childSignals.push(id);
      into.executions.set(wid, {
        workflowId: wid,
        workflowType: 'fuzzSignaller',
        runs: 1,
        status: 'COMPLETED',
        result: 'sent',
        clientSignals: [],
        childSignals: [],
        releasedByClient: false,
      });
      return `${id}:got`;
    }
    case 'childPolicy': {
      const wid = childId(workflowId, id);
      const status = { TERMINATE: 'TERMINATED', REQUEST_CANCEL: 'CANCELED', ABANDON: 'COMPLETED' } as const;
      into.executions.set(
        wid,
        blocker(
          wid,
          status[step.policy],
          step.policy === 'ABANDON',
          step.policy === 'ABANDON' ? 'released' : undefined,
        ),
      );
      return `${id}:started`;
    }
    case 'childCancel': {
      const wid = childId(workflowId, id);
      // ABANDON sends no request: the parent releases the child itself.
      const abandoned = step.cancellationType === 'ABANDON';
      into.executions.set(
        wid,
        blocker(wid, abandoned ? 'COMPLETED' : 'CANCELED', false, abandoned ? 'released' : undefined),
      );
      return `${id}:cancelled`;
    }
    case 'childTimeout': {
      const wid = childId(workflowId, id);
      into.executions.set(wid, blocker(wid, 'TIMED_OUT'));
      return `${id}:timedout`;
    }
    case 'parallel':
      return [
        `${id}:par`,
        ...step.branches.map((branch) => branch.map((s) => expectStep(s, workflowId, into, parent))),
      ];
    case 'continueAsNew':
      parent.runs++;
      return `${id}:can`;
  }
}

/** Registers `program`, run under `workflowId`, and everything it implies, in `into`. */
export function expectProgram(program: Program, workflowId: string, into: Expectation): ExpectedExecution {
  const execution: ExpectedExecution = {
    workflowId,
    workflowType: 'fuzz',
    runs: 1,
    status: 'COMPLETED',
    clientSignals: [],
    childSignals: [],
    releasedByClient: false,
  };
  into.executions.set(workflowId, execution);
  const trace = program.steps.map((step) => expectStep(step, workflowId, into, execution));
  const reportKey = activityKey(workflowId, 'report');
  into.activities.set(reportKey, { key: reportKey, workflowId, min: 1, max: 1 });
  execution.report = { key: reportKey, trace };
  switch (program.ending) {
    case 'complete':
      execution.result = trace;
      break;
    case 'fail':
      execution.status = 'FAILED';
      execution.failure = PLANNED_FAILURE;
      break;
    case 'cancel':
      execution.status = 'CANCELED';
      execution.endedByClient = 'cancel';
      break;
    case 'terminate':
      execution.status = 'TERMINATED';
      execution.endedByClient = 'terminate';
      break;
  }
  return execution;
}

/** Everything the roots imply, root IDs given. */
export function expectationOf(roots: { workflowId: string; program: Program }[]): Expectation {
  const into: Expectation = { executions: new Map(), activities: new Map() };
  for (const { workflowId, program } of roots) {
    const root = expectProgram(program, workflowId, into);
    root.program = program;
  }
  return into;
}
