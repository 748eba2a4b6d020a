import { fromFailureRecord, WorkflowUpdateFailedError } from '../../engine/index.ts';
import type { WorkflowChange } from '../../protocol/api.ts';
import type { WakeNote } from '../../protocol/notes.ts';
import type { HostParts } from './parts.ts';

/**
 * Who waits for what this host learns of (its own commits, the leader's notes): callers of
 * `result`, `query` and `executeUpdate`, and `watch` listeners.
 */
export class Wakeups {
  readonly #results = new Map<string, (() => void)[]>();
  readonly #changes = new Map<string, (() => void)[]>();
  readonly #updates = new Map<
    string,
    { resolve(v: unknown): void; reject(e: unknown): void; runId: string }
  >();
  readonly #watchers = new Map<number, (changes: WorkflowChange[]) => void>();
  #nextWatcherId = 1;

  constructor(private readonly h: HostParts) {}

  /** Acts on what changed: this host's own commit, or the leader's note. */
  applyNote(note: WakeNote): void {
    const { h } = this;
    if (h.stopped) return;
    for (const update of note.updates) {
      const waiter = this.#updates.get(update.updateId);
      if (!waiter) continue;
      this.#updates.delete(update.updateId);
      if ('success' in update) waiter.resolve(update.success);
      else {
        waiter.reject(
          new WorkflowUpdateFailedError(
            update.rejected ? 'Workflow update rejected' : 'Workflow update failed',
            fromFailureRecord(update.failure),
          ),
        );
      }
    }
    for (const change of note.changes) {
      const changed = this.#changes.get(change.runId);
      this.#changes.delete(change.runId);
      for (const wake of changed ?? []) wake();
      if (change.status === 'RUNNING') continue;
      h.tasks.forget(change.runId);
      for (const [id, waiter] of this.#updates) {
        if (waiter.runId === change.runId) {
          this.#updates.delete(id);
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

  /** The outcome of update `updateId` of run `runId`, once its workflow task completes it. */
  updateOutcome(updateId: string, runId: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.#updates.set(updateId, { resolve, reject, runId });
    });
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
    for (const waiter of this.#updates.values()) waiter.reject(error);
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

function wait(waiters: Map<string, (() => void)[]>, runId: string): Promise<void> {
  return new Promise((resolve) => {
    const list = waiters.get(runId) ?? [];
    list.push(resolve);
    waiters.set(runId, list);
  });
}
