import type { CommandOf } from '../commands.ts';
import { defined } from '../defined.ts';
import { CancelledFailure } from '../failure.ts';
import { CancellationScope } from '../scope.ts';
import type { RuntimeCore } from './core.ts';
import { deferred, type Pending } from './operations.ts';

/**
 * Signals and cancel requests to other executions: each command's promise settles when its
 * outcome comes back (`ResolveSignalExternalWorkflow`, `ResolveRequestCancelExternalWorkflow`).
 */
export class ExternalRequests {
  /** Signals sent and not yet delivered, by seq. */
  readonly signals = new Map<number, Pending>();
  /** Cancel requests sent and not yet delivered, by seq. */
  readonly cancels = new Map<number, Pending>();
  readonly #seq = { signal: 1, cancel: 1 };
  readonly #core: RuntimeCore;

  constructor(core: RuntimeCore) {
    this.#core = core;
  }

  /** Signals another execution; resolves once the signal is delivered. */
  signal(
    workflowId: string,
    runId: string | undefined,
    signalName: string,
    input: unknown[],
    childWorkflowOnly: boolean,
  ): Promise<void> {
    this.#core.assertActive('signal');
    const scope = CancellationScope.current();
    if (scope.consideredCancelled) return Promise.reject(new CancelledFailure('Signal cancelled'));
    return this.#toExternal(
      {
        type: 'SignalExternalWorkflowExecution',
        seq: this.#seq.signal++,
        workflowId,
        ...defined({ runId }),
        signalName,
        input,
        childWorkflowOnly,
      },
      scope,
    );
  }

  /** Requests cancellation of another execution; resolves once the request is delivered. */
  cancel(workflowId: string, runId: string | undefined): Promise<void> {
    this.#core.assertActive('cancel');
    return this.requestCancel(workflowId, runId, false, CancellationScope.current());
  }

  requestCancel(
    workflowId: string,
    runId: string | undefined,
    childWorkflowOnly: boolean,
    scope: CancellationScope,
  ): Promise<void> {
    return this.#toExternal(
      {
        type: 'RequestCancelExternalWorkflowExecution',
        seq: this.#seq.cancel++,
        workflowId,
        ...defined({ runId }),
        childWorkflowOnly,
      },
      scope,
    );
  }

  /** Sends a command to another execution; the promise settles when its outcome comes back. */
  #toExternal(
    command: CommandOf<'SignalExternalWorkflowExecution' | 'RequestCancelExternalWorkflowExecution'>,
    scope: CancellationScope,
  ): Promise<void> {
    this.#core.push(command);
    const pending = deferred<void>(scope);
    (command.type === 'SignalExternalWorkflowExecution' ? this.signals : this.cancels).set(
      command.seq,
      pending,
    );
    return pending.promise;
  }
}
