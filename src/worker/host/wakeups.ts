import { type FailureRecord, fromFailureRecord, WorkflowUpdateFailedError } from '../../engine/index.ts';
import type { WorkflowChange } from '../../protocol/api.ts';
import type { UpdateOutcome, WakeNote } from '../../protocol/notes.ts';
import type { HostParts } from './parts.ts';

/**
 * Who waits for what this host learns of (its own commits, the leader's notes): callers of
 * `result`, `query` and `executeUpdate`, and `watch` listeners.
 */
export class Wakeups {
  readonly #results = new Map<string, (() => void)[]>();
  readonly #changes = new Map<string, (() => void)[]>();
  /** Who waits for each update's outcome (a client's call, and maybe the same call sent again). */
  readonly #updates = new Map<string, UpdateWaiter[]>();
  readonly #watchers = new Map<number, (changes: WorkflowChange[]) => void>();
  #nextWatcherId = 1;

  constructor(private readonly h: HostParts) {}

  /** Acts on what changed: this host's own commit, or the leader's note. */
  applyNote(note: WakeNote): void {
    const { h } = this;
    if (h.stopped) return;
    for (const update of note.updates) {
      const waiters = this.#updates.get(update.updateId);
      if (!waiters) continue;
      this.#updates.delete(update.updateId);
      for (const waiter of waiters) {
        if ('success' in update) waiter.resolve(update.success);
        else waiter.reject(updateFailed(update));
      }
    }
    for (const change of note.changes) {
      const changed = this.#changes.get(change.runId);
      this.#changes.delete(change.runId);
      for (const wake of changed ?? []) wake();
      if (change.status === 'RUNNING') continue;
      h.tasks.forget(change.runId);
      for (const [id, waiters] of this.#updates) {
        const closed = waiters.filter((waiter) => waiter.runId === change.runId);
        if (closed.length === 0) continue;
        const left = waiters.filter((waiter) => waiter.runId !== change.runId);
        if (left.length > 0) this.#updates.set(id, left);
        else this.#updates.delete(id);
        for (const waiter of closed) {
          waiter.reject(
            new WorkflowUpdateFailedError(
              `Workflow closed (${change.status}) before the update completed`,
              undefined,
            ),
          );
        }
      }
      const waiters = this.#results.get(change.runId);
      this.#results.delete(change.runId);
      for (const wake of waiters ?? []) wake();
    }
    h.tasks.kick();
  }

  /** Tells `watch` listeners of changes; one that throws does not keep the others from hearing. */
  tell(changes: WorkflowChange[]): void {
    if (changes.length === 0 || this.h.stopped) return;
    for (const listener of this.#watchers.values()) {
      try {
        listener(changes);
      } catch (error) {
        console.error('weft: a watch listener threw', error);
      }
    }
  }

  /** Resolves at the next change of a run this host learns of (its own commit or a note). */
  nextChange(runId: string): Promise<void> {
    return wait(this.#changes, runId);
  }

  /** Resolves once the run closes (or at news of unknown extent, to look again). */
  nextClose(runId: string): Promise<void> {
    return wait(this.#results, runId);
  }

  /**
   * Waits for update `updateId`'s outcome. Called before the update is written, so no outcome
   * can come first; `waiter.runId` is set once the run is known (inside the write, before any
   * later commit can close the run), so that its close fails the update. `forget` it when the
   * update is not written after all.
   */
  expectUpdate(updateId: string): { waiter: UpdateWaiter; outcome: Promise<unknown> } {
    let waiter: UpdateWaiter | undefined;
    const outcome = new Promise<unknown>((resolve, reject) => {
      waiter = { resolve, reject, runId: '' };
    });
    const waiters = this.#updates.get(updateId) ?? [];
    waiters.push(waiter!);
    this.#updates.set(updateId, waiters);
    // Awaited only once the write is done: a rejection before that is not unhandled.
    outcome.catch(() => undefined);
    return { waiter: waiter!, outcome };
  }

  forgetUpdate(updateId: string, waiter: UpdateWaiter): void {
    const left = (this.#updates.get(updateId) ?? []).filter((w) => w !== waiter);
    if (left.length > 0) this.#updates.set(updateId, left);
    else this.#updates.delete(updateId);
  }

  /** News of unknown extent (a reload): everyone waiting for a run looks again. */
  wakeAll(): void {
    // (Waking resolves promises: nothing runs before the maps are cleared.)
    for (const waiters of [this.#results, this.#changes]) {
      for (const list of waiters.values()) for (const wake of list) wake();
      waiters.clear();
    }
  }

  /** Updates waited for here fail with `error` (this host no longer leads). */
  rejectUpdates(error: Error): void {
    for (const waiters of this.#updates.values()) for (const waiter of waiters) waiter.reject(error);
    this.#updates.clear();
  }

  watch(listener: (changes: WorkflowChange[]) => void): number {
    const id = this.#nextWatcherId++;
    this.#watchers.set(id, listener);
    return id;
  }

  unwatch(id: number): void {
    this.#watchers.delete(id);
  }
}

export interface UpdateWaiter {
  resolve(value: unknown): void;
  reject(error: unknown): void;
  /** The run the update went to ('' until known). */
  runId: string;
}

/** The error an update's failure or rejection is, for its caller. */
export function updateFailed(update: UpdateOutcome & { failure: FailureRecord }): WorkflowUpdateFailedError {
  return new WorkflowUpdateFailedError(
    'rejected' in update && update.rejected ? 'Workflow update rejected' : 'Workflow update failed',
    fromFailureRecord(update.failure),
  );
}

function wait(waiters: Map<string, (() => void)[]>, runId: string): Promise<void> {
  return new Promise((resolve) => {
    const list = waiters.get(runId) ?? [];
    list.push(resolve);
    waiters.set(runId, list);
  });
}
