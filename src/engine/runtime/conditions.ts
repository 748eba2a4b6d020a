import { CancelledFailure } from '../failure.ts';
import { CancellationScope, setScopeContext } from '../scope.ts';
import type { RuntimeCore } from './core.ts';

/** `condition(fn)`: waits, without a command, until `fn` returns true after a job. */
export class Conditions {
  /** Conditions waiting, in the order they were called. */
  readonly #waiting = new Set<{ fn: () => boolean; resolve(): void }>();
  readonly #core: RuntimeCore;

  constructor(core: RuntimeCore) {
    this.#core = core;
  }

  condition(fn: () => boolean): Promise<void> {
    this.#core.assertActive('condition');
    const scope = CancellationScope.current();
    if (scope.consideredCancelled) return Promise.reject(new CancelledFailure('Condition cancelled'));
    return new Promise<void>((resolve, reject) => {
      const condition = {
        fn,
        resolve: () => {
          unlisten();
          setScopeContext(scope);
          resolve();
        },
      };
      const unlisten = scope.onCancel((failure) => {
        if (this.#waiting.delete(condition)) reject(failure);
      });
      this.#waiting.add(condition);
    });
  }

  /** Resolves the conditions that hold now; false if none did. */
  unblock(): boolean {
    let unblocked = false;
    for (const condition of this.#waiting) {
      if (condition.fn()) {
        this.#waiting.delete(condition);
        this.#core.touch();
        condition.resolve();
        unblocked = true;
      }
    }
    return unblocked;
  }
}
