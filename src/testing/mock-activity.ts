import { CancelledFailure } from '../engine/failure.ts';
import { type ActivityInfo, Context, runWithContext } from '../worker/activity.ts';

/** The info a mock activity gets unless the test says otherwise (as Temporal's `defaultActivityInfo`). */
export const defaultActivityInfo: ActivityInfo = {
  activityId: 'test',
  activityType: 'unknown',
  attempt: 1,
  workflowExecution: { workflowId: 'test', runId: '00000000-0000-0000-0000-000000000000' },
  workflowType: 'test',
  taskQueue: 'test',
  scheduledTimestampMs: 1,
  startToCloseTimeoutMs: 1_000,
  scheduleToCloseTimeoutMs: 1_000,
};

type Listener = (details: unknown) => void;

/**
 * Runs activity functions outside the engine, for their unit tests, as `@temporalio/testing`'s:
 * `Context.current()` works in them, `cancel()` cancels them, and each heartbeat is emitted
 * as a `heartbeat` event. One context serves every run: once cancelled, it stays cancelled.
 * Its events are Node's `EventEmitter` methods in small (`on`, `once`, `off`, `emit`), so it
 * runs in a browser too.
 * @example
 * const env = new MockActivityEnvironment({ attempt: 2 });
 * env.on('heartbeat', (d) => seen.push(d));
 * await env.run(charge, 'order-1');
 */
export class MockActivityEnvironment {
  readonly context: Context;
  readonly #controller = new AbortController();
  readonly #listeners = new Map<string, Set<Listener>>();

  constructor(info?: Partial<ActivityInfo>) {
    this.context = new Context({ ...defaultActivityInfo, ...info }, this.#controller.signal, (details) =>
      this.emit('heartbeat', details),
    );
  }

  /** Runs `fn` as an activity: its context is current in its synchronous part, as in the engine. */
  run<P extends unknown[], R>(fn: (...args: P) => R | Promise<R>, ...args: P): Promise<R> {
    try {
      return Promise.resolve(runWithContext(this.context, () => fn(...args)));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Cancels the activity: its signal aborts and `cancelled` rejects, with a `CancelledFailure`. */
  cancel(reason = 'CANCELLED'): void {
    this.#controller.abort(new CancelledFailure(reason));
  }

  on(event: string, listener: Listener): this {
    const set = this.#listeners.get(event) ?? new Set();
    this.#listeners.set(event, set);
    set.add(listener);
    return this;
  }

  addListener(event: string, listener: Listener): this {
    return this.on(event, listener);
  }

  once(event: string, listener: Listener): this {
    const once: Listener = (details) => {
      this.off(event, once);
      listener(details);
    };
    return this.on(event, once);
  }

  off(event: string, listener: Listener): this {
    this.#listeners.get(event)?.delete(listener);
    return this;
  }

  removeListener(event: string, listener: Listener): this {
    return this.off(event, listener);
  }

  /** @returns whether anything listened */
  emit(event: string, details?: unknown): boolean {
    const set = this.#listeners.get(event);
    if (!set || set.size === 0) return false;
    for (const listener of [...set]) listener(details);
    return true;
  }
}
