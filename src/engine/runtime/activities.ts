import type { Command } from '../commands.ts';
import { defined } from '../defined.ts';
import type { RetryPolicy } from '../events.ts';
import { ActivityFailure, CancelledFailure } from '../failure.ts';
import { CancellationScope } from '../scope.ts';
import type { RuntimeCore } from './core.ts';
import { type OperationCancellationType, openOperation, type Pending } from './operations.ts';

export interface ActivityCallOptions {
  taskQueue: string;
  startToCloseTimeout?: number;
  scheduleToCloseTimeout?: number;
  heartbeatTimeout?: number;
  retry?: RetryPolicy;
  /** Default `WAIT_CANCELLATION_COMPLETED`, as in Temporal's TypeScript SDK. */
  cancellationType?: OperationCancellationType;
}

/** Activity calls: `ScheduleActivityTask` out, `ResolveActivity` in. */
export class Activities {
  /** Open activities by seq, for the `ResolveActivity` jobs that settle them. */
  readonly pending = new Map<number, Pending>();
  #seq = 1;
  readonly #core: RuntimeCore;

  constructor(core: RuntimeCore) {
    this.#core = core;
  }

  schedule(activityType: string, input: unknown[], options: ActivityCallOptions): Promise<unknown> {
    this.#core.assertActive('An activity call');
    const scope = CancellationScope.current();
    const seq = this.#seq++;
    const cancelled = () =>
      new ActivityFailure(
        'Activity cancelled',
        activityType,
        String(seq),
        'RETRY_STATE_CANCEL_REQUESTED',
        new CancelledFailure('Activity cancelled'),
      );
    if (scope.consideredCancelled) return Promise.reject(cancelled());
    const command: Command = {
      type: 'ScheduleActivityTask',
      seq,
      activityType,
      taskQueue: options.taskQueue,
      input,
      ...defined({
        scheduleToCloseTimeout: options.scheduleToCloseTimeout,
        startToCloseTimeout: options.startToCloseTimeout,
        heartbeatTimeout: options.heartbeatTimeout,
        retryPolicy: options.retry,
      }),
    };
    return openOperation(
      this.#core,
      this.pending,
      seq,
      command,
      { type: 'RequestCancelActivityTask', seq },
      scope,
      cancelled,
      options.cancellationType ?? 'WAIT_CANCELLATION_COMPLETED',
    ).promise;
  }
}
