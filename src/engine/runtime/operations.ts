import type { Settlement } from '../activation.ts';
import type { Command } from '../commands.ts';
import { type CancelledFailure, fromFailureRecord } from '../failure.ts';
import { take } from '../helpers.ts';
import type { CancellationScope } from '../scope.ts';
import type { RuntimeCore } from './core.ts';

/**
 * Operations that workflow code awaits and a later job settles (timers, activities, children,
 * signals and cancel requests to other executions): each is a promise open under its `seq`,
 * in the scope that started it.
 */

export interface Deferred<T> extends Pending {
  promise: Promise<T>;
  settled: boolean;
}

/** `onSettled` runs once, when the deferred first settles. */
export function deferred<T>(scope: CancellationScope, onSettled?: () => void): Deferred<T> {
  const d = { settled: false, scope } as Deferred<T>;
  d.promise = new Promise<T>((resolve, reject) => {
    d.resolve = (value) => {
      if (d.settled) return;
      d.settled = true;
      onSettled?.();
      resolve(value as T);
    };
    d.reject = (error) => {
      if (d.settled) return;
      d.settled = true;
      onSettled?.();
      reject(error);
    };
  });
  return d;
}
export interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
  scope: CancellationScope;
}

/** What cancelling an operation's scope does once its command is out (Temporal's names). */
export type OperationCancellationType = 'TRY_CANCEL' | 'ABANDON' | 'WAIT_CANCELLATION_COMPLETED';

/**
 * Sends `command` and keeps its operation open until a job settles it. Cancelling `scope`: a
 * command not handed out yet is withdrawn and the promise rejects with `cancelled(failure)`;
 * else, as `onCancel` says (Temporal's cancellation types), `TRY_CANCEL` (the default) sends
 * `cancelCommand`, drops the operation and rejects; `ABANDON` drops it and rejects without a
 * word to the other side; `WAIT_CANCELLATION_COMPLETED` sends `cancelCommand` and keeps the
 * operation open for the job that says how it ended. `cancel()` drops it silently.
 * The caller has checked that `scope` is not cancelled already.
 */
export function openOperation<T>(
  core: RuntimeCore,
  operations: Map<number, Pending>,
  seq: number,
  command: Command,
  cancelCommand: Command,
  scope: CancellationScope,
  cancelled: (failure: CancelledFailure) => Error = (failure) => failure,
  onCancel: OperationCancellationType = 'TRY_CANCEL',
): { promise: Promise<T>; cancel(): void } {
  core.push(command);
  const pending = deferred<T>(scope, () => unlisten());
  /** False if the operation was no longer open. */
  const drop = (): boolean => {
    if (!operations.delete(seq)) return false;
    unlisten();
    if (!core.unsend(command)) core.push(cancelCommand);
    return true;
  };
  const unlisten = scope.onCancel((failure) => {
    if (!operations.has(seq)) return;
    core.touch();
    unlisten();
    const withdrawn = core.unsend(command);
    if (!withdrawn && onCancel !== 'ABANDON') core.push(cancelCommand);
    if (!withdrawn && onCancel === 'WAIT_CANCELLATION_COMPLETED') return;
    operations.delete(seq);
    pending.reject(cancelled(failure));
  });
  operations.set(seq, pending);
  return { promise: pending.promise, cancel: drop };
}

/** Settles an open operation (if it still is), in its own scope. */
export function settle(
  core: RuntimeCore,
  operations: Map<number, Pending>,
  { seq, result, failure }: Settlement,
): void {
  const pending = take(operations, seq);
  if (!pending) return;
  core.enter(pending.scope);
  if (failure) pending.reject(fromFailureRecord(failure));
  else pending.resolve(result);
}
