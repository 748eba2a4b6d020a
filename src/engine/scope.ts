import { type Duration, msToNumber } from './duration.ts';
import { CancelledFailure } from './failure.ts';
import { promiseOf } from './helpers.ts';

/**
 * Browsers have no AsyncLocalStorage, so the current scope is a variable the runtime sets:
 * synchronously while a scope's function runs, to an operation's scope just before the
 * runtime settles that operation (its continuation runs next, to quiescence), and back to
 * the caller's scope when a scope's function settles.
 */
let currentScope: CancellationScope | undefined;

type CancelListener = (failure: CancelledFailure) => void;

/** Hooks the runtime gives scopes, so `withTimeout` can start a durable timer. */
export interface ScopeTimerHost {
  startScopeTimer(ms: number, scope: CancellationScope): { promise: Promise<void>; cancel(): void };
}

let timerHost: ScopeTimerHost | undefined;

/** @internal Set by the runtime at the start of each activation. */
export function setScopeContext(scope: CancellationScope | undefined, host?: ScopeTimerHost): void {
  currentScope = scope;
  // Cleared with the scope at the end of an activation, so no runtime stays reachable from here.
  if (host !== undefined || scope === undefined) timerHost = host;
}

/**
 * Temporal's cancellation scope. Cancelling a scope cancels every timer, activity, child
 * and condition started in it and in its cancellable descendants.
 *
 * @example
 * const scope = new CancellationScope();
 * const p = scope.run(() => someActivity());
 * scope.cancel(); // p rejects with ActivityFailure(cause CancelledFailure)
 */
export class CancellationScope {
  // `declare`d: set by the constructor, in this order, without a class field each.
  declare readonly cancellable: boolean;
  declare readonly parent: CancellationScope | undefined;
  declare readonly timeout: number | undefined;
  declare readonly cancelRequested: Promise<never>;
  #requested = false;
  #rejectRequested!: (failure: CancelledFailure) => void;
  readonly #listeners = new Set<CancelListener>();
  /** The runtime that starts this scope's deadline timer (captured: scopes outlive activations). */
  readonly #timerHost: ScopeTimerHost | undefined = timerHost;

  constructor(options?: { cancellable?: boolean; parent?: CancellationScope | 'root'; timeout?: number }) {
    this.cancellable = options?.cancellable ?? true;
    this.parent = options?.parent === 'root' ? undefined : (options?.parent ?? currentScope);
    this.timeout = options?.timeout;
    this.cancelRequested = new Promise<never>((_, reject) => {
      this.#rejectRequested = reject;
    });
    // An unobserved cancellation is normal; do not report it as unhandled.
    this.cancelRequested.catch(() => undefined);
    if (this.cancellable && this.parent !== undefined) {
      this.parent.onCancel((failure) => this.cancel(failure));
    }
  }

  /** True once cancellation was requested on this scope or on a cancellable ancestor. */
  get consideredCancelled(): boolean {
    return this.#requested && this.cancellable;
  }

  /** Requests cancellation. A non-cancellable scope ignores it. */
  cancel(reason?: string | CancelledFailure): void {
    if (this.#requested || !this.cancellable) return;
    this.#requested = true;
    const failure =
      reason instanceof CancelledFailure
        ? reason
        : new CancelledFailure(reason ?? 'Cancellation scope cancelled');
    this.#rejectRequested(failure);
    for (const listener of [...this.#listeners]) listener(failure);
    this.#listeners.clear();
  }

  /**
   * Calls `listener` when this scope is cancelled (at once if it already is).
   * @returns a function that removes the listener.
   */
  onCancel(listener: CancelListener): () => void {
    if (this.consideredCancelled) {
      listener(new CancelledFailure('Cancellation scope cancelled'));
      return () => undefined;
    }
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Runs `fn` with this scope current. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const caller = currentScope;
    currentScope = this;
    let timer: { promise: Promise<void>; cancel(): void } | undefined;
    const result = promiseOf(() => {
      if (this.timeout !== undefined && this.#timerHost !== undefined) {
        // The deadline timer belongs to the caller's scope: cancelling this scope must not
        // cancel its own deadline.
        timer = this.#timerHost.startScopeTimer(this.timeout, caller ?? this);
        timer.promise.then(
          () => this.cancel('Cancellation scope timed out'),
          () => undefined,
        );
      }
      return fn();
    });
    currentScope = caller;
    const leave = () => {
      timer?.cancel();
      currentScope = caller;
    };
    return result.then(
      (value) => {
        leave();
        return value;
      },
      (error: unknown) => {
        leave();
        throw error;
      },
    );
  }

  /** The scope that workflow code is running in. */
  static current(): CancellationScope {
    if (currentScope === undefined) throw new Error('No cancellation scope: not in a workflow');
    return currentScope;
  }

  /** Runs `fn` in a new cancellable scope. */
  static cancellable<T>(fn: () => Promise<T>): Promise<T> {
    return new CancellationScope({ cancellable: true }).run(fn);
  }

  /** Runs `fn` in a scope that ignores cancellation of its parents (cleanup code). */
  static nonCancellable<T>(fn: () => Promise<T>): Promise<T> {
    return new CancellationScope({ cancellable: false }).run(fn);
  }

  /** Runs `fn` in a cancellable scope that is cancelled after `timeout` (ms, or `'10s'`, as Temporal's). */
  static withTimeout<T>(timeout: Duration, fn: () => Promise<T>): Promise<T> {
    return new CancellationScope({ cancellable: true, timeout: msToNumber(timeout) }).run(fn);
  }
}
