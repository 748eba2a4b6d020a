/**
 * The fuzzer's activities. Each execution records its effect in a side table outside the engine
 * (an {@link EffectLog}) before it does anything else, so the checks can count how many times
 * each activity really ran, whatever the engine recorded.
 */
import { Context } from 'weft/worker';
import { ApplicationFailure } from 'weft/workflow';
import type { TraceItem } from './program.ts';

/** One execution of an activity, as the side table holds it. */
export interface Effect {
  key: string;
  /** The host it ran on. */
  host: string;
  attempt: number;
  runId: string;
  /** The activity's sequence number in its run. */
  seq: number;
  /** Wall-clock time it started, in ms. */
  time: number;
  /** What a `report` execution reported. */
  trace?: TraceItem[];
  /**
   * The host leading, as the host it ran on last heard (itself, if it led): the one that
   * claimed the attempt and sent it there, when it ran on an executor.
   */
  leader?: string;
}

/** What activities need from the place they run in. */
export interface ActivityEnv {
  /**
   * Records an execution's effect and says how many executions of its key there have been,
   * this one included. Never settles when the host is dead (a dead process does nothing).
   */
  record(effect: Omit<Effect, 'host' | 'time' | 'leader'>): Promise<number>;
  /** A moment of work, for crashes to fall into. */
  work(key: string): Promise<void>;
}

export function fuzzActivities(env: ActivityEnv) {
  // Read before the first await: the context is only there in an activity's synchronous start.
  const effect = (key: string, trace?: TraceItem[]) => {
    const { info } = Context.current();
    return env.record({
      key,
      attempt: info.attempt,
      runId: info.workflowExecution.runId,
      seq: Number(info.activityId),
      ...(trace && { trace }),
    });
  };
  return {
    async flaky(key: string, failures: number): Promise<string> {
      const n = await effect(key);
      await env.work(key);
      if (n <= failures) throw new Error(`flaky: execution ${n} of ${key} fails`);
      return `${key}:ok`;
    },
    async doomed(key: string, nonRetryable: boolean): Promise<never> {
      await effect(key);
      await env.work(key);
      if (nonRetryable) throw ApplicationFailure.nonRetryable(`doomed: ${key}`, 'Doomed');
      throw ApplicationFailure.create({ message: `doomed: ${key}`, type: 'Doomed' });
    },
    /** Runs until cancelled or timed out. */
    async hang(key: string): Promise<never> {
      const { cancellationSignal } = Context.current();
      await effect(key);
      return new Promise<never>((_, reject) => {
        cancellationSignal.addEventListener('abort', () => reject(cancellationSignal.reason));
      });
    },
    async report(key: string, trace: TraceItem[]): Promise<void> {
      await effect(key, trace);
      await env.work(key);
    },
  };
}
