import { CancelledFailure } from '../failure.ts';
import { CancellationScope } from '../scope.ts';
import type { RuntimeCore } from './core.ts';
import { openOperation, type Pending } from './operations.ts';

/** Durable timers: `StartTimer` out, `FireTimer` in. */
export class Timers {
  /** Open timers by seq, for the `FireTimer` jobs that settle them. */
  readonly pending = new Map<number, Pending>();
  #seq = 1;
  readonly #core: RuntimeCore;

  constructor(core: RuntimeCore) {
    this.#core = core;
  }

  /** A durable timer in the current scope. */
  sleep(ms: number): Promise<void> {
    this.#core.assertActive('sleep');
    return this.startScopeTimer(ms, CancellationScope.current()).promise;
  }

  startScopeTimer(ms: number, scope: CancellationScope): { promise: Promise<void>; cancel(): void } {
    this.#core.touch();
    if (scope.consideredCancelled) {
      return { promise: Promise.reject(new CancelledFailure('Timer cancelled')), cancel: () => undefined };
    }
    const seq = this.#seq++;
    return openOperation<void>(
      this.#core,
      this.pending,
      seq,
      { type: 'StartTimer', seq, startToFireTimeout: Math.max(1, Math.round(ms)) },
      { type: 'CancelTimer', seq },
      scope,
    );
  }
}
