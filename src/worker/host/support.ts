import {
  ApplicationFailure,
  InvalidArgumentError,
  toErrorRecord,
  WorkflowNotFoundError,
} from '../../engine/index.ts';
import type { Reply } from '../../protocol/api.ts';
import { LeaseLostError } from '../../store/errors.ts';
import type { ExecutionRecord, StoreTx } from '../../store/types.ts';
import { PAYLOAD_WARN_SIZE, payloadSize, tooLargeMessage } from '../payload.ts';
import { findRun } from '../service.ts';

/** A registered function; its arguments come from stored, structured-cloned data. */
export type AnyFunction = (...args: unknown[]) => unknown;

/** The run `findRun` finds, or a {@link WorkflowNotFoundError} that names what was asked for. */
export async function mustFind(
  tx: StoreTx,
  workflowId: string,
  runId: string | undefined,
): Promise<ExecutionRecord> {
  const exec = await findRun(tx, workflowId, runId);
  if (exec) return exec;
  throw new WorkflowNotFoundError(
    `No workflow execution '${workflowId}'${runId === undefined ? '' : ` run ${runId}`}`,
    workflowId,
    runId,
  );
}

export async function reply<T>(fn: () => Promise<T>): Promise<Reply<T>> {
  try {
    return { ok: await fn() };
  } catch (error) {
    return { error: toErrorRecord(error) };
  }
}

export const newRunId = (): string => crypto.randomUUID();

/** Lets Node exit while only this timer is left (a lease renewal, a takeover watch). */
export function unref(timer: ReturnType<typeof setTimeout>): ReturnType<typeof setTimeout> {
  (timer as { unref?: () => void }).unref?.();
  return timer;
}

export function leaseLost(): LeaseLostError {
  return new LeaseLostError('This host does not hold the lease');
}

const channel = typeof MessageChannel !== 'undefined' ? new MessageChannel() : undefined;
const macrotaskQueue: (() => void)[] = [];
// Node keeps a process alive while a MessagePort is referenced: only while a hop is pending.
const nodePort = channel?.port1 as { ref?: () => void; unref?: () => void } | undefined;
if (channel) {
  channel.port1.onmessage = () => {
    macrotaskQueue.shift()?.();
    if (macrotaskQueue.length === 0) nodePort?.unref?.();
  };
  nodePort?.unref?.();
}

/** Resolves in a new macrotask (MessageChannel: not clamped like nested setTimeout). */
export function nextMacrotask(): Promise<void> {
  return new Promise((resolve) => {
    if (!channel) {
      setTimeout(resolve, 0);
      return;
    }
    macrotaskQueue.push(resolve);
    nodePort?.ref?.();
    channel.port2.postMessage(null);
  });
}

export function functionsOf(module: Record<string, unknown>): [string, AnyFunction][] {
  return Object.entries(module).filter(
    (entry): entry is [string, AnyFunction] => typeof entry[1] === 'function',
  );
}

/**
 * Why `value` cannot be stored, as a failure to report; or nothing. `DataCloneError`: it holds
 * what cannot be stored (a function, a symbol, a promise) or, checked with `clone`, does not
 * clone; `PayloadTooLarge`: it is over `limit` bytes (UTF-8 JSON, see `payloadSize`). One over
 * {@link PAYLOAD_WARN_SIZE} is stored, with a warning, as Temporal's server warns of it.
 */
export function unstorable(
  value: unknown,
  limit: number,
  what: string,
  clone = true,
): ApplicationFailure | undefined {
  const seen = { exotic: false };
  let size: number;
  try {
    size = payloadSize(value, limit, seen);
    // Plain data always clones: only values with more in them are cloned to check.
    if (clone && seen.exotic) structuredClone(value);
  } catch (error) {
    return ApplicationFailure.nonRetryable(
      `${what} cannot be stored: ${(error as Error).message}`,
      'DataCloneError',
    );
  }
  if (size > limit)
    return ApplicationFailure.nonRetryable(tooLargeMessage(what, limit, size), 'PayloadTooLarge');
  if (size > PAYLOAD_WARN_SIZE) {
    console.warn(
      `weft: ${what} is ${size} bytes, over the ${PAYLOAD_WARN_SIZE} bytes at which Temporal warns (the limit is ${limit}); consider storing large data elsewhere and passing a key`,
    );
  }
  return undefined;
}

export function assertCloneable(value: unknown, what: string): void {
  try {
    structuredClone(value);
  } catch (error) {
    throw new InvalidArgumentError(
      `${what} is not structured-cloneable (${(error as Error).message ?? error})`,
    );
  }
}

/** Refuses a value too large to store, or that does not clone (checked only with `clone`). */
export function assertStorable(value: unknown, limit: number, what: string, clone = true): void {
  const failure = unstorable(value, limit, what, clone);
  if (failure) throw new InvalidArgumentError(failure.message);
}
