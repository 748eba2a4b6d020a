import { WorkflowClient } from '../client/client.ts';
import { type Duration, msToNumber } from '../engine/duration.ts';
import { createEngine, type EngineOptions } from '../index.ts';
import type { EngineApi } from '../protocol/api.ts';
import { realClock } from '../worker/clock.ts';
import { realNow } from '../worker/determinism.ts';
import { nextMacrotask } from '../worker/host/support.ts';
import type { Host } from '../worker/host.ts';
import { SkippingClock } from './clock.ts';

/**
 * What both environments take: the engine's options, with the workflows and activities under
 * test. The store defaults to a fresh `memoryStore()`, retention to forever (a jump of a month
 * must not delete what the test is about to read).
 */
export type TestWorkflowEnvironmentOptions = Omit<EngineOptions, 'clock'>;

type Busy = Host['busy'];

/**
 * The engine, in this process, for tests, as `@temporalio/testing`'s environment (names and
 * behaviour follow it): `createTimeSkipping` jumps over the time the workflows only wait,
 * `createLocal` runs on real time. Unlike Temporal's, the workers come with it: pass the
 * workflows and activities here instead of creating a `Worker`.
 * @example
 * const env = await TestWorkflowEnvironment.createTimeSkipping({ workflows, activities });
 * const result = await env.client.workflow.execute(monthly, { workflowId: 'm-1' }); // a month, in ms
 * await env.teardown();
 */
export class TestWorkflowEnvironment {
  /** The client: as weft's, except that awaiting a result lets time skip (time-skipping only). */
  readonly client: { workflow: WorkflowClient };
  /** The engine the environment runs. */
  readonly host: Host;
  readonly #clock: SkippingClock | undefined;
  readonly #shutdown: () => Promise<void>;
  /** Results awaited right now: time skips only while there is one. */
  #unlocked = 0;
  /** Client calls in flight (other than results): time does not skip under a signal on its way. */
  #calls = 0;
  #checkScheduled = false;
  #stopped = false;
  #unsubscribe: () => void = () => undefined;

  private constructor(
    engine: { host: Host; shutdown(): Promise<void>; api: EngineApi },
    clock: SkippingClock | undefined,
  ) {
    this.host = engine.host;
    this.#shutdown = engine.shutdown;
    this.#clock = clock;
    this.client = { workflow: new WorkflowClient(clock ? this.#skippingApi(engine.api) : engine.api) };
    if (clock) this.#unsubscribe = this.host.onSettle(() => this.#check());
  }

  /**
   * An environment whose time jumps ahead whenever every execution waits on a timer and a
   * result is awaited (`handle.result()`, `execute`): `sleep('30 days')` in a workflow takes
   * milliseconds. Time runs at real speed otherwise, and never skips while an activity runs,
   * a workflow task runs, or a client call is on its way. `env.sleep` moves it by hand.
   */
  static async createTimeSkipping(options: TestWorkflowEnvironmentOptions): Promise<TestWorkflowEnvironment> {
    const clock = new SkippingClock();
    return new TestWorkflowEnvironment(await TestWorkflowEnvironment.#engine(options, clock), clock);
  }

  /** The same engine on real time: `sleep` waits for real, timers fire when they are due. */
  static async createLocal(options: TestWorkflowEnvironmentOptions): Promise<TestWorkflowEnvironment> {
    return new TestWorkflowEnvironment(await TestWorkflowEnvironment.#engine(options, undefined), undefined);
  }

  static async #engine(options: TestWorkflowEnvironmentOptions, clock: SkippingClock | undefined) {
    const { host, shutdown } = await createEngine({
      retention: Number.POSITIVE_INFINITY,
      ...options,
      ...(clock && { clock }),
    });
    return { host, shutdown, api: host.api() };
  }

  /** Whether time skips here (`createTimeSkipping`), as Temporal's property. */
  get supportsTimeSkipping(): boolean {
    return this.#clock !== undefined;
  }

  /**
   * Waits `duration` of the environment's time. Time-skipping: time moves ahead by hand,
   * firing on the way every timer due, in order, each given to the engine to act on before
   * the next; an activity may call it (to play a long-running one). Local: a real wait.
   */
  sleep = async (duration: Duration): Promise<void> => {
    const ms = msToNumber(duration);
    const clock = this.#clock;
    if (!clock) {
      // The real clock's timer: a bare setTimeout may come back a millisecond early.
      await new Promise<void>((resolve) => realClock.setTimer(resolve, ms));
      return;
    }
    const target = clock.now() + ms;
    for (;;) {
      // Activities are not waited for: the caller may be one.
      await this.#until((busy) => !busy.writes && !busy.workflowTasks);
      const next = clock.next();
      if (next === undefined || next > target || this.#stopped) break;
      clock.advanceTo(next);
    }
    clock.advanceTo(target);
  };

  /** The environment's time in ms since the epoch (async, as Temporal's). */
  async currentTimeMs(): Promise<number> {
    return this.#clock ? this.#clock.now() : realNow();
  }

  /** Stops the engine and its timers. */
  async teardown(): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe();
    await this.#shutdown();
    this.#clock?.clear();
  }

  /** The engine's API with results that unlock skipping while awaited, and calls counted. */
  #skippingApi(api: EngineApi): EngineApi {
    const counted = { ...api };
    for (const method of Object.keys(api) as (keyof EngineApi)[]) {
      if (method === 'watch' || method === 'unwatch') continue;
      const call = api[method] as (...args: unknown[]) => Promise<unknown>;
      const skips = method === 'result';
      (counted as Record<string, unknown>)[method] = async (...args: unknown[]) => {
        if (skips) this.#unlocked++;
        else this.#calls++;
        this.#check();
        try {
          return await call(...args);
        } finally {
          if (skips) this.#unlocked--;
          else this.#calls--;
          this.#check();
        }
      };
    }
    return counted;
  }

  /**
   * Skips to the next timer when a result is awaited and nothing else can happen first: no
   * client call on its way, and the engine has nothing in hand. Checked a macrotask later, so
   * that what a finished step set off has started.
   */
  #check(): void {
    if (this.#unlocked === 0 || this.#checkScheduled || this.#stopped) return;
    this.#checkScheduled = true;
    void nextMacrotask().then(() => {
      this.#checkScheduled = false;
      const clock = this.#clock;
      if (!clock || this.#unlocked === 0 || this.#calls > 0 || this.#stopped || !quiet(this.host.busy))
        return;
      const next = clock.next();
      // Nothing to skip to: it waits for a signal (the next call checks again), or forever.
      if (next === undefined) return;
      clock.advanceTo(next);
      // The timer may have set nothing off (one cancelled meanwhile): look again.
      this.#check();
    });
  }

  /** Resolves once `done(host.busy)` holds, a macrotask after the engine last settled. */
  async #until(done: (busy: Busy) => boolean): Promise<void> {
    for (;;) {
      await nextMacrotask();
      if (this.#stopped || done(this.host.busy)) return;
      await new Promise<void>((resolve) => {
        const off = this.host.onSettle(() => {
          off();
          resolve();
        });
      });
    }
  }
}

function quiet(busy: Busy): boolean {
  return !busy.writes && !busy.workflowTasks && busy.activities === 0;
}
