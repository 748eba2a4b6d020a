import { LeaseLostError, StoreConflictError } from '../../store/errors.ts';
import { ENGINE_LEASE, type LeaseRecord } from '../../store/types.ts';
import { realNow } from '../determinism.ts';
import type { HostParts } from './parts.ts';
import { leaseLost, unref } from './support.ts';

/**
 * The database's lease, as a Temporal history shard's: one host leads and writes, each of its
 * writes fenced by the lease's epoch; the others follow, and take over when the leader goes
 * (its lock is released) or stops renewing the lease (a frozen tab).
 */
export class Leadership {
  /** The lease while this host leads. */
  lease: LeaseRecord | undefined;
  /**
   * Whether the lease this host won became durable (false: another host's flush came first).
   * No side effect (an activity) starts before it is known.
   */
  leaseDurable: Promise<boolean> = Promise.resolve(true);
  /** The host leading, as far as this host knows. */
  leader: string | undefined;
  /** The election in progress, if any. */
  electing: Promise<void> | undefined;
  #leaseTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #changeListeners = new Set<() => void>();

  constructor(private readonly h: HostParts) {}

  get #ttl(): number {
    return this.h.options.leaseTimeout ?? 5_000;
  }

  /** Resolves the next time the leader changes, as far as this host knows (it may be this host). */
  changed(): Promise<void> {
    return new Promise((resolve) => this.#changeListeners.add(resolve));
  }

  #tellChanged(): void {
    const listeners = [...this.#changeListeners];
    this.#changeListeners.clear();
    for (const listener of listeners) listener();
  }

  /** Takes the lease if nobody holds it (or its holder is gone), else follows its holder. */
  elect(catchUp = true): Promise<void> {
    const { h } = this;
    this.electing ??= (async () => {
      try {
        while (!h.stopped && !this.lease) {
          if (catchUp) await h.store.refresh();
          catchUp = true;
          const now = realNow();
          const current = await h.store.read((tx) => tx.leases.get(ENGINE_LEASE));
          if (
            current &&
            current.holder !== h.hostId &&
            current.expiresAt > now &&
            ((await h.options.isHostAlive?.(current.holder)) ?? true)
          ) {
            this.#follow(current);
            return;
          }
          const lease: LeaseRecord = {
            name: ENGINE_LEASE,
            holder: h.hostId,
            epoch: (current?.epoch ?? 0) + 1,
            expiresAt: now + this.#ttl,
          };
          // Won only if nobody moved in between; the flush refuses it if another connection did.
          const won = await h.store.write(async (tx) => {
            if ((await tx.leases.get(ENGINE_LEASE))?.epoch !== current?.epoch) return false;
            tx.leases.put(lease);
            return true;
          });
          if (won) this.#lead(lease);
        }
      } finally {
        this.electing = undefined;
      }
    })();
    return this.electing;
  }

  /** Another host announced `lease`: a newer one than ours ends our lead; we follow its holder. */
  heard(lease: LeaseRecord): void {
    if (this.lease && lease.epoch > this.lease.epoch) this.stepDown();
    if (!this.lease && lease.holder !== this.h.hostId) this.#follow(lease);
  }

  #lead(lease: LeaseRecord): void {
    const { h } = this;
    this.leader = h.hostId;
    // Workflow tasks may run at once (their commits share the lease's fate), activities not.
    // The lease rides with the next flush: usually the first client call's.
    this.leaseDurable = h.store.flushed({ lazy: true }).then(
      () => true,
      () => false,
    );
    this.#hold(lease);
    h.peers.leaderStorage(undefined);
    h.peers.resendCalls();
    this.#tellChanged();
    void this.scan();
    // Not at once: the first moments of a leader are for the work that waited for it.
    h.retention.schedule(1_000);
  }

  /** Holds `lease`, won or renewed: tells the other hosts, and renews it after a third of its time. */
  #hold(lease: LeaseRecord): void {
    this.lease = lease;
    this.h.bus.publish({ from: this.h.hostId, lease });
    clearTimeout(this.#leaseTimer);
    this.#leaseTimer = unref(setTimeout(() => void this.#renew(), this.#ttl / 3));
  }

  async #renew(): Promise<void> {
    const lease = this.lease;
    if (!lease || this.h.stopped) return;
    const renewed = { ...lease, expiresAt: realNow() + this.#ttl };
    try {
      await this.h.store.write(async (tx) => tx.leases.put(renewed), { durable: true, fence: lease });
    } catch (error) {
      if (this.lease === lease) this.stepDown();
      if (!(error instanceof LeaseLostError || error instanceof StoreConflictError)) throw error;
      return;
    }
    if (this.lease === lease) this.#hold(renewed);
  }

  /** Follows the lease's holder, and takes over when it goes or lets its lease expire. */
  #follow(lease: LeaseRecord): void {
    const { h } = this;
    const newLeader = this.leader !== lease.holder;
    this.leader = lease.holder;
    clearTimeout(this.#leaseTimer);
    this.#leaseTimer = unref(
      setTimeout(() => void this.elect(), Math.max(0, lease.expiresAt - realNow()) + this.#ttl / 10),
    );
    if (!newLeader) return;
    h.options.whenHostGone?.(lease.holder).then(() => h.peers.gone(lease.holder));
    h.bus.publish({ from: h.hostId, serves: h.taskQueues });
    h.peers.leaderStorage(undefined);
    h.peers.resendCalls();
    this.#tellChanged();
  }

  /** This host lost its lease: it drops what it did as leader and follows. */
  stepDown(): void {
    const { h } = this;
    if (!this.lease) return;
    this.lease = undefined;
    this.leader = undefined;
    clearTimeout(this.#leaseTimer);
    h.retention.stop();
    h.tasks.forgetAll();
    h.timers.clear();
    h.activities.stopAll(leaseLost());
    // Local calls waiting here are woken: they find this host no longer leads and go to the leader.
    h.wakeups.rejectUpdates(leaseLost());
    void this.lookAgain();
    void this.elect();
  }

  /** Stops renewing or watching the lease (shutdown lets it go through a last write). */
  stop(): void {
    clearTimeout(this.#leaseTimer);
  }

  /**
   * After news of unknown extent (a reload): whoever waits for a run to change looks again,
   * and the work waiting in the store is picked up again.
   */
  lookAgain(): Promise<void> {
    this.h.wakeups.wakeAll();
    return this.scan();
  }

  /** Picks up the work waiting in the store: workflow tasks, activities, timers. */
  async scan(): Promise<void> {
    const { h } = this;
    if (!this.lease) return;
    const [tasks, activities, timers] = await h.store.read((tx) =>
      Promise.all([tx.workflowTasks.list(), tx.activityTasks.list(), tx.timers.list()]),
    );
    if (!this.lease) return;
    for (const task of tasks) if (h.peers.canRun(task.taskQueue)) h.tasks.ready.add(task.runId);
    for (const activity of activities) if (h.peers.canRun(activity.taskQueue)) h.activities.enqueue(activity);
    // Firing a timer is a write: the leader fires every queue's timers.
    for (const timer of timers) h.timers.add(timer);
    h.tasks.kick();
  }
}
