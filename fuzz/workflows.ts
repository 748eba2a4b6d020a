/**
 * The fuzzer's workflow code: `fuzz` interprets a program step by step, deterministically, and
 * records what each step did in a trace, which it returns and reports (the `report` activity);
 * `fuzzBlocker` waits to be released or cancelled; `fuzzSignaller` signals its parent.
 * A step that does not go as the program says records what happened instead, so a
 * difference shows up in the trace compared with the expectation.
 */
import {
  ApplicationFailure,
  CancellationScope,
  type ChildWorkflowCancellationType,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  executeChild,
  getExternalWorkflowHandle,
  isCancellation,
  type ParentClosePolicy,
  proxyActivities,
  sendToParent,
  setHandler,
  sleep,
  startChild,
  workflowInfo,
} from 'weft/workflow';
import type * as activities from './activities.ts';
import { activityKey, childId, PLANNED_FAILURE, type Program, type Step, type TraceItem } from './program.ts';

type Activities = ReturnType<typeof activities.fuzzActivities>;

export const sig = defineSignal<[string]>('sig');
export const childSig = defineSignal<[string]>('childSig');
export const release = defineSignal('release');
export const traceQuery = defineQuery<TraceItem[]>('trace');
/** Whether the run has reported (its steps are done): a query, so the answer is durable. */
export const reportedQuery = defineQuery<boolean>('reported');

const RETRY_FAST = { initialInterval: 2, backoffCoefficient: 1.5, maximumInterval: 10 };
const acts = proxyActivities<Activities>({ startToCloseTimeout: '10s', retry: RETRY_FAST });
const noRetry = proxyActivities<Activities>({ startToCloseTimeout: '10s', retry: { maximumAttempts: 1 } });

/** Carried from run to run across continue-as-new. */
export interface RunState {
  /** The next step to run. */
  pos: number;
  trace: TraceItem[];
  /** Client signals received so far. */
  seen: string[];
}

function errorName(error: unknown): string {
  const e = error as { name?: string; cause?: { name?: string } };
  return `${e?.name}/${e?.cause?.name}`;
}

/** An attempt a host claimed and never finished: it times out, and counts as an attempt. */
function lostAttempt(error: unknown): boolean {
  const cause = (error as { cause?: { name?: string; message?: string } })?.cause;
  return cause?.name === 'TimeoutFailure' && /^Activity attempt \d+ was lost: /.test(cause.message ?? '');
}

/** Waits for `release`; a cancellation ends it as cancelled. */
export async function fuzzBlocker(): Promise<string> {
  let released = false;
  setHandler(release, () => {
    released = true;
  });
  await condition(() => released);
  return 'released';
}

export async function fuzzSignaller(id: string): Promise<string> {
  await sendToParent(childSig, id);
  return 'sent';
}

interface Ctx {
  workflowId: string;
  seen: Set<string>;
  childSignals: Set<string>;
}

async function runStep(step: Step, ctx: Ctx): Promise<TraceItem> {
  const { id } = step;
  const key = activityKey(ctx.workflowId, id);
  switch (step.kind) {
    case 'flaky':
      try {
        await acts.flaky(key, step.failures);
        return `${id}:ok`;
      } catch (error) {
        return `${id}:error:${errorName(error)}`;
      }
    case 'doomed': {
      const { doomed } = step.nonRetryable
        ? noRetry
        : proxyActivities<Activities>({
            startToCloseTimeout: '10s',
            retry: { ...RETRY_FAST, maximumAttempts: step.attempts },
          });
      try {
        await doomed(key, step.nonRetryable);
        return `${id}:succeeded`;
      } catch (error) {
        // Its last attempt lost with its host fails it for good too, as a timeout.
        return errorName(error) === 'ActivityFailure/ApplicationFailure' || lostAttempt(error)
          ? `${id}:failed`
          : `${id}:${errorName(error)}`;
      }
    }
    case 'cancelActivity': {
      const scope = new CancellationScope();
      const running = scope.run(() => acts.hang(key));
      scope.cancel();
      try {
        await running;
        return `${id}:finished`;
      } catch (error) {
        return isCancellation(error) ? `${id}:cancelled` : `${id}:${errorName(error)}`;
      }
    }
    case 'timeout': {
      const { hang } = proxyActivities<Activities>({
        startToCloseTimeout: 25,
        retry: { ...RETRY_FAST, maximumAttempts: step.attempts },
      });
      try {
        await hang(key);
        return `${id}:finished`;
      } catch (error) {
        return errorName(error) === 'ActivityFailure/TimeoutFailure'
          ? `${id}:timedout`
          : `${id}:${errorName(error)}`;
      }
    }
    case 'sleep':
      await sleep(step.ms);
      return `${id}:slept`;
    case 'cancelTimer': {
      const scope = new CancellationScope();
      const timer = scope.run(() => sleep(3_600_000));
      scope.cancel();
      try {
        await timer;
        return `${id}:fired`;
      } catch (error) {
        return isCancellation(error) ? `${id}:cancelled` : `${id}:${errorName(error)}`;
      }
    }
    case 'conditionTimeout':
      return `${id}:${await condition(() => false, step.ms)}`;
    case 'signal':
      await condition(() => ctx.seen.has(id));
      return `${id}:signaled`;
    case 'child':
      try {
        const result = await executeChild<typeof fuzz>('fuzz', {
          workflowId: childId(ctx.workflowId, id),
          args: [step.program],
        });
        return [`${id}:child`, ...result];
      } catch (error) {
        return errorName(error) === 'ChildWorkflowFailure/ApplicationFailure'
          ? `${id}:child-failed`
          : `${id}:${errorName(error)}`;
      }
    case 'childSignal': {
      const result = await executeChild<typeof fuzzSignaller>('fuzzSignaller', {
        workflowId: childId(ctx.workflowId, id),
        args: [id],
      });
      await condition(() => ctx.childSignals.has(id));
      return result === 'sent' ? `${id}:got` : `${id}:${result}`;
    }
    case 'childPolicy':
      await startChild<typeof fuzzBlocker>('fuzzBlocker', {
        workflowId: childId(ctx.workflowId, id),
        parentClosePolicy: step.policy as ParentClosePolicy,
      });
      return `${id}:started`;
    case 'childCancel': {
      const workflowId = childId(ctx.workflowId, id);
      const scope = new CancellationScope();
      const child = await scope.run(() =>
        startChild<typeof fuzzBlocker>('fuzzBlocker', {
          workflowId,
          cancellationType: step.cancellationType as ChildWorkflowCancellationType,
          // Its parent closing must not decide its fate: the cancellation does.
          parentClosePolicy: 'ABANDON' as ParentClosePolicy,
        }),
      );
      scope.cancel();
      let item: TraceItem;
      try {
        await child.result();
        item = `${id}:completed`;
      } catch (error) {
        item =
          errorName(error) === 'ChildWorkflowFailure/CancelledFailure'
            ? `${id}:cancelled`
            : `${id}:${errorName(error)}`;
      }
      // Not asked to stop: it goes on until released.
      if (step.cancellationType === 'ABANDON') await getExternalWorkflowHandle(workflowId).signal(release);
      return item;
    }
    case 'childTimeout':
      try {
        await executeChild<typeof fuzzBlocker>('fuzzBlocker', {
          workflowId: childId(ctx.workflowId, id),
          workflowExecutionTimeout: 30,
        });
        return `${id}:completed`;
      } catch (error) {
        return errorName(error) === 'ChildWorkflowFailure/TimeoutFailure'
          ? `${id}:timedout`
          : `${id}:${errorName(error)}`;
      }
    case 'parallel': {
      const branches = await Promise.all(
        step.branches.map(async (branch) => {
          const out: TraceItem[] = [];
          for (const s of branch) out.push(await runStep(s, ctx));
          return out;
        }),
      );
      return [`${id}:par`, ...branches];
    }
    case 'continueAsNew':
      throw new Error('continueAsNew is run by the program loop');
  }
}

/** Runs `program` from `state.pos`: the steps, the report, then the program's ending. */
export async function fuzz(program: Program, state?: RunState): Promise<TraceItem[]> {
  const { workflowId } = workflowInfo();
  const trace = [...(state?.trace ?? [])];
  const ctx: Ctx = { workflowId, seen: new Set(state?.seen), childSignals: new Set() };
  setHandler(sig, (id) => {
    ctx.seen.add(id);
  });
  setHandler(childSig, (id) => {
    ctx.childSignals.add(id);
  });
  setHandler(traceQuery, () => trace);
  let reported = false;
  setHandler(reportedQuery, () => reported);
  const steps = async (): Promise<void> => {
    for (let i = state?.pos ?? 0; i < program.steps.length; i++) {
      const step = program.steps[i]!;
      if (step.kind === 'continueAsNew') {
        trace.push(`${step.id}:can`);
        await continueAsNew<typeof fuzz>(program, { pos: i + 1, trace, seen: [...ctx.seen] });
      }
      trace.push(await runStep(step, ctx));
    }
    await acts.report(activityKey(workflowId, 'report'), trace);
    reported = true;
  };
  switch (program.ending) {
    case 'complete':
      await steps();
      return trace;
    case 'fail':
      await steps();
      throw ApplicationFailure.create({ message: PLANNED_FAILURE, type: 'Planned', nonRetryable: true });
    case 'cancel':
      // The client's cancel may come at any time: it ends the run only once the steps are done.
      await CancellationScope.nonCancellable(steps);
      await condition(() => false);
      return trace;
    case 'terminate':
      await steps();
      await condition(() => false);
      return trace;
  }
}
