import type { WorkflowChange } from '../../protocol/api.ts';
import type { UpdateOutcome, WakeNote } from '../../protocol/notes.ts';
import { copy } from '../../store/copy.ts';
import { LeaseLostError } from '../../store/errors.ts';
import type { StoreTx } from '../../store/types.ts';
import { randomUint32 } from '../determinism.ts';
import { type Effects, newEffects, type ServiceContext } from '../service.ts';
import { changeOf } from './describe.ts';
import type { HostParts } from './parts.ts';
import { leaseLost, newRunId } from './support.ts';

/** An operation of the history service, run in a transaction of the store. */
export type WriteOp<T> = (tx: StoreTx, fx: Effects, ctx: ServiceContext) => Promise<T>;

/**
 * The leader's write path: each operation in a transaction fenced by the lease, operations
 * queued meanwhile sharing the next (group commit), and, after each commit, acting on what it
 * made ready and telling watchers and the other hosts once it is durable.
 */
export class Writes {
  #queue: {
    op: WriteOp<unknown>;
    /** A client waits for it: resolve only once durable, and redo it if it was lost. */
    durable: boolean;
    resolve(value: unknown): void;
    reject(error: unknown): void;
  }[] = [];
  #flush: Promise<void> | undefined;
  /** What this host's commits made ready, to publish once the flush holding them is durable. */
  #outgoing: { note: WakeNote; durable: Promise<void> } | undefined;

  constructor(private readonly h: HostParts) {}

  /** Resolves once the queued operations are written. */
  get idle(): Promise<void> | undefined {
    return this.#flush;
  }

  #context(): ServiceContext {
    const { h } = this;
    return {
      now: h.clock.now(),
      hostId: h.hostId,
      newRunId,
      newSeed: randomUint32,
      historyLimit: h.options.historyLimit ?? 50_000,
      claimQueues: h.taskQueues,
    };
  }

  /** Runs one operation in its own transaction and applies its effects. */
  async write<T>(op: WriteOp<T>, durable = false, updates?: UpdateOutcome[]): Promise<T> {
    const { h } = this;
    const fence = h.leadership.lease;
    if (!fence) throw leaseLost();
    const fx = newEffects();
    const ctx = this.#context();
    let value: T;
    try {
      value = await h.store.write((tx) => op(tx, fx, ctx), { durable, fence });
    } catch (error) {
      if (error instanceof LeaseLostError && h.leadership.lease === fence) h.leadership.stepDown();
      throw error;
    }
    this.#applyEffects(fx, updates);
    return value;
  }

  /**
   * Group commit: operations queued while a transaction is in flight share the next one.
   * Each operation validates before it writes; if the shared transaction fails anyway, each
   * operation is retried alone so one bad operation cannot sink the others.
   * @returns the operation's value, once its transaction has committed.
   */
  enqueue<T>(op: WriteOp<T>, durable = false): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ op, durable, resolve: resolve as (v: unknown) => void, reject });
      this.#flush ??= Promise.resolve().then(() => this.#flushQueue());
    });
  }

  /** A write a client waits for: it resolves once durable, redone if another connection voided it. */
  async #flushQueue(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue;
      this.#queue = [];
      const durable = batch.some((item) => item.durable);
      try {
        const values = await this.write(async (tx, fx, ctx) => {
          const out: unknown[] = [];
          for (const item of batch) out.push(await item.op(tx, fx, ctx));
          return out;
        }, durable);
        batch.forEach((item, i) => {
          item.resolve(values[i]);
        });
      } catch {
        for (const item of batch) {
          try {
            item.resolve(await this.write(item.op, item.durable));
          } catch (error) {
            item.reject(error);
          }
        }
      }
    }
    this.#flush = undefined;
    this.h.settle();
  }

  /** After a commit: act on what it made ready, and tell watchers and the other hosts. */
  #applyEffects(fx: Effects, updates: UpdateOutcome[] = []): void {
    const { h } = this;
    for (const events of fx.appended.values()) {
      for (const event of events) {
        if (event.eventType !== 'WorkflowExecutionUpdateCompleted') continue;
        // The outcome is `{ success }` or `{ failure }`, as the note carries it.
        // A copy: the event is the store's, and the caller may change the result it gets.
        updates.push({ updateId: event.attributes.protocolInstanceId, ...copy(event.attributes.outcome) });
      }
    }
    if (h.leadership.lease) {
      for (const [runId, taskQueue] of fx.workflowTasks) {
        if (!h.peers.canRun(taskQueue)) continue;
        h.tasks.blocked.delete(runId);
        h.tasks.ready.add(runId);
      }
      for (const record of fx.activities) {
        if (h.peers.canRun(record.taskQueue))
          h.activities.enqueue(record, { claimed: record.owner === h.hostId });
      }
      for (const [runId, seq] of fx.abortActivities) h.activities.abort(runId, seq);
      for (const [runId, key] of fx.cancelledTimers) h.timers.remove(runId, key);
      for (const record of fx.timers) h.timers.add(record);
    }
    const note: WakeNote = {
      from: h.hostId,
      changes: [
        ...[...fx.changed.values()].map(changeOf),
        ...fx.deleted.map((exec): WorkflowChange => ({ ...changeOf(exec), deleted: true })),
      ],
      updates,
    };
    h.wakeups.applyNote(note);
    if (note.changes.length + updates.length === 0) return;
    // Other hosts and watchers may tell a user: both wait for durability.
    // Notes made while a flush is pending travel together, once it is durable.
    // (The store hands out one promise per flush: equal promises, same flush.)
    const durable = h.store.flushed({ lazy: true });
    if (this.#outgoing?.durable === durable) {
      this.#outgoing.note.changes.push(...note.changes);
      this.#outgoing.note.updates.push(...updates);
      return;
    }
    const outgoing = { note, durable };
    this.#outgoing = outgoing;
    const done = (): void => {
      if (this.#outgoing === outgoing) this.#outgoing = undefined;
    };
    durable.then(
      () => {
        done();
        h.wakeups.tell(note.changes);
        h.bus.publish(note);
      },
      // Lost: the store reloaded, and the rescan finds whatever is still to do.
      done,
    );
  }
}
