/**
 * Where a seed runs in Node: hosts on one database that die at chosen points and are replaced.
 *
 * A crash is not a shutdown. The host that dies is abandoned where it stands: every store call
 * it makes from then on never answers (one inside a transaction fails it, so nothing of it is
 * written), what its store had not yet made durable is lost (its IndexedDB connection is cut,
 * and a flush in flight is aborted or left to land, as a process killed at that instant would
 * have it), its messages to other hosts are dropped, and its activities stop where they are.
 * Its timers may still fire, into a store that never answers.
 */

import { WorkflowClient } from '../src/client/client.ts';

export type { Resolution } from './outcomes.ts';

import type { BusNote } from '../src/protocol/notes.ts';
import { faultyStore, type StoreFaults, type StoreOperation } from '../src/store/faulty.ts';
import { indexedDbStore } from '../src/store/indexeddb.ts';
import { memoryStore } from '../src/store/memory.ts';
import type { Store } from '../src/store/types.ts';
import type { WakeBus } from '../src/worker/bus.ts';
import { Host } from '../src/worker/host.ts';
import { type Effect, fuzzActivities } from './activities.ts';
import { realTime } from './clock.ts';
import { outcomeWatch, type Resolution } from './outcomes.ts';
import type { Rng } from './random.ts';
import * as workflows from './workflows.ts';

/** Where a crash falls. */
export type Trigger =
  /** Before the target's n-th store operation (a store call, or a call inside a transaction). */
  | { kind: 'op'; n: number }
  /** After the target's n-th `write` or `flushed` ended, before the host hears of it. */
  | { kind: 'after'; n: number }
  /** In the target's n-th activity execution, once its effect is done. */
  | { kind: 'activity'; n: number }
  /**
   * At the target's n-th IndexedDB read-write transaction (a flush, a fold): aborted with the
   * host, left in flight to land, or landed but not yet heard of by the host.
   */
  | { kind: 'flush'; n: number; mode: 'abort' | 'inflight' | 'committed' };

export interface Crash {
  trigger: Trigger;
  /** Which live host dies: the oldest (most often the leader) or the newest. */
  target: 'oldest' | 'newest';
  /** Whether the dying host's IndexedDB transactions in flight are aborted (else they land). */
  abortInFlight: boolean;
  /** Hosts started once it is down, when none is left (at least 1) or beside the others. */
  respawn: number;
}

/** A crash that happened. */
export interface CrashRecord {
  crash: Crash;
  host: string;
  /** Wall-clock time, ms. */
  time: number;
  /** What it fell on: the operation's name, `activity`, or `flush`. */
  at: string;
}

/** A dead host's calls fail with this (the driver then goes to another host). */
export class HostDied extends Error {
  constructor(host: string) {
    super(`host ${host} died`);
    this.name = 'HostDied';
  }
}

const NEVER = new Promise<never>(() => undefined);
let debugNotes = 0;
const DEBUG = typeof process !== 'undefined' && !!process.env.FUZZ_DEBUG;

/** An IndexedDB connection that can be cut as a killed process's is. */
function crashableConnection(factory: IDBFactory, onReadwrite: (tx: IDBTransaction) => void) {
  const dbs: IDBDatabase[] = [];
  const inFlight = new Set<IDBTransaction>();
  let cut = false;
  const indexedDB = {
    open(name: string, version?: number): IDBOpenDBRequest {
      const request = factory.open(name, version);
      request.addEventListener('success', () => {
        const db = request.result;
        const transaction = db.transaction.bind(db);
        db.transaction = ((...args: Parameters<IDBDatabase['transaction']>) => {
          if (cut) throw new DOMException('the process is gone', 'InvalidStateError');
          const tx = transaction(...args);
          if (tx.mode === 'readwrite') {
            inFlight.add(tx);
            const done = (): void => void inFlight.delete(tx);
            tx.addEventListener('complete', done);
            tx.addEventListener('abort', done);
            onReadwrite(tx);
          }
          return tx;
        }) as IDBDatabase['transaction'];
        dbs.push(db);
      });
      return request;
    },
    deleteDatabase: (name: string) => factory.deleteDatabase(name),
  };
  return {
    indexedDB,
    cut(abortInFlight: boolean): void {
      cut = true;
      if (abortInFlight) {
        for (const tx of inFlight) {
          try {
            tx.abort();
          } catch {
            // Finished meanwhile: it landed.
          }
        }
      }
      for (const db of dbs) db.close();
    },
  };
}

/** One host of the world, alive or dead. */
export class FuzzHost {
  dead = false;
  started = false;
  host!: Host;
  client!: WorkflowClient;
  /** Rejects with {@link HostDied} when the host dies. */
  readonly death: Promise<never>;
  #die!: (error: HostDied) => void;
  /** Counters since the current crash was armed. */
  ops = 0;
  ends = 0;
  activities = 0;
  flushes = 0;
  cut: ((abortInFlight: boolean) => void) | undefined;
  /** The leader as this host last heard (a lease note, its own included). */
  leader: string | undefined;

  constructor(
    readonly id: string,
    readonly born: number,
  ) {
    this.death = new Promise<never>((_, reject) => {
      this.#die = reject;
    });
    this.death.catch(() => undefined);
  }

  kill(): void {
    this.dead = true;
    this.#die(new HostDied(this.id));
  }

  /** `promise`, or HostDied if the host dies first. */
  race<T>(promise: Promise<T>): Promise<T> {
    return Promise.race([promise, this.death]);
  }
}

export interface WorldOptions {
  seed: number;
  rng: Rng;
  storeKind: 'indexeddb' | 'memory';
  /** IndexedDB's factory (fake-indexeddb's in Node): one for every host of the world. */
  factory?: IDBFactory;
  crashes: Crash[];
  /** Hosts at the start. */
  hosts: number;
  /** Faults added to every host's store before the crash's (to check that the checks can fail). */
  sabotage?: () => StoreFaults;
}

/** The hosts of one seed, their database, the side table of effects, and the crash plan. */
export class World {
  readonly effects: Effect[] = [];
  readonly #counts = new Map<string, number>();
  readonly crashes: CrashRecord[] = [];
  readonly resolutions: Resolution[] = [];
  /** When a host's store reloaded, dropping its unflushed writes (see SeedData.reloads). */
  readonly reloads: { host: string; time: number }[] = [];
  readonly hosts: FuzzHost[] = [];
  /** Crashes still to come; the first is armed. */
  readonly #plan: Crash[];
  #armed: { crash: Crash; target: FuzzHost } | undefined;
  #nextHost = 1;
  /** No more crashes: the seed's work is done, or it is being wound down. */
  calm = false;
  /** Given up: calls for a host fail at once. */
  halted = false;
  /** How much the hosts did, in each kind of crash point: where crashes can fall. */
  readonly sizes = { ops: 0, ends: 0, activities: 0, flushes: 0 };
  readonly #gone = new Map<string, () => void>();
  readonly #goneP = new Map<string, Promise<void>>();
  readonly #listeners = new Map<FuzzHost, Set<(note: BusNote) => void>>();
  #memory: Store | undefined;
  readonly #changed = new Set<() => void>();
  readonly dbName: string;
  /** Client calls not yet answered (for a seed that gives up). */
  readonly inFlight = new Map<number, string>();
  #nextCall = 0;

  constructor(readonly options: WorldOptions) {
    this.#plan = [...options.crashes];
    this.dbName = `fuzz-${options.seed}`;
    if (options.storeKind === 'memory') this.#memory = memoryStore();
  }

  get live(): FuzzHost[] {
    return this.hosts.filter((h) => !h.dead);
  }

  /** Live hosts that have started (their clients answer). */
  get ready(): FuzzHost[] {
    return this.hosts.filter((h) => !h.dead && h.started);
  }

  /** Resolves the next time a host starts or dies. */
  changed(): Promise<void> {
    return new Promise((resolve) => this.#changed.add(resolve));
  }

  #tellChanged(): void {
    const listeners = [...this.#changed];
    this.#changed.clear();
    for (const listener of listeners) listener();
  }

  /** Starts the first hosts and arms the first crash. */
  async begin(): Promise<void> {
    const starting = Array.from({ length: this.options.hosts }, () => this.spawn());
    this.#arm();
    await Promise.all(starting);
  }

  #whenGone(hostId: string): Promise<void> {
    let p = this.#goneP.get(hostId);
    if (!p) {
      const host = this.hosts.find((h) => h.id === hostId);
      if (!host || host.dead) return Promise.resolve();
      p = new Promise<void>((resolve) => this.#gone.set(hostId, resolve));
      this.#goneP.set(hostId, p);
    }
    return p;
  }

  #bus(fh: FuzzHost): WakeBus {
    const listeners = new Set<(note: BusNote) => void>();
    this.#listeners.set(fh, listeners);
    return {
      publish: (note) => {
        if (DEBUG && ++debugNotes % 5000 === 0)
          console.log(
            `note ${debugNotes} from ${fh.id} dead=${fh.dead} ${JSON.stringify(note).slice(0, 200)}\n${new Error().stack}`,
          );
        if (fh.dead) return;
        const lease = 'lease' in note ? note.lease : undefined;
        if (lease) fh.leader = lease.holder;
        // As a BroadcastChannel: a task of its own, never to the sender; never to the dead.
        setImmediate(() => {
          for (const [other, set] of this.#listeners) {
            if (other === fh || other.dead) continue;
            if (lease) other.leader = lease.holder;
            for (const listener of set) listener(note);
          }
        });
      },
      subscribe: (listener) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    };
  }

  /** Whether `fh`'s counter for the armed crash says it dies now; if so, kills it. */
  #tick(fh: FuzzHost, kind: Trigger['kind'], at: string): boolean {
    this.sizes[
      kind === 'op' ? 'ops' : kind === 'after' ? 'ends' : kind === 'activity' ? 'activities' : 'flushes'
    ]++;
    const armed = this.#armed;
    if (!armed || armed.target !== fh || this.calm || armed.crash.trigger.kind !== kind) return false;
    const count =
      kind === 'op'
        ? ++fh.ops
        : kind === 'after'
          ? ++fh.ends
          : kind === 'activity'
            ? ++fh.activities
            : ++fh.flushes;
    if (count < armed.crash.trigger.n) return false;
    this.#kill(fh, armed.crash, at);
    return true;
  }

  #faults(fh: FuzzHost, base: Store): StoreFaults {
    const dead = (op: StoreOperation): boolean => fh.dead || this.#tick(fh, 'op', op.name);
    const watch = outcomeWatch(base, (resolutions) => this.resolutions.push(...resolutions));
    return {
      before: (op) => {
        if (dead(op)) {
          // Inside a transaction: it fails, and writes nothing. A store call: never answers.
          if (op.tx && op.name !== 'read' && op.name !== 'write') throw new HostDied(fh.id);
          return NEVER;
        }
        watch.before(op);
        return undefined;
      },
      after: (op, outcome) => {
        if (fh.dead) return NEVER;
        watch.after(op, outcome);
        if ((op.name === 'write' || op.name === 'flushed') && this.#tick(fh, 'after', op.name)) return NEVER;
        return undefined;
      },
      reload: () => {
        if (fh.dead) return 'skip';
        this.reloads.push({ host: fh.id, time: realTime() });
        return undefined;
      },
    };
  }

  #kill(fh: FuzzHost, crash: Crash, at: string): void {
    if (fh.dead) return;
    fh.kill();
    fh.cut?.(crash.abortInFlight);
    this.crashes.push({ crash, host: fh.id, time: realTime(), at });
    if (DEBUG) console.log(`[${realTime() % 100000}] CRASH ${fh.id} at ${at} ${JSON.stringify(crash)}`);
    this.#gone.get(fh.id)?.();
    this.#armed = undefined;
    this.#plan.shift();
    this.#tellChanged();
    // The restart: new hosts on the same database, a moment later.
    const alone = this.live.length === 0;
    const count = alone ? Math.max(1, crash.respawn) : crash.respawn;
    setTimeout(() => {
      for (let i = 0; i < count; i++) void this.spawn();
      this.#arm();
    }, 1);
  }

  /** Arms the next crash of the plan on one of the live hosts. */
  #arm(): void {
    const crash = this.#plan[0];
    const live = this.live;
    if (!crash || this.calm || live.length === 0) return;
    const target = crash.target === 'oldest' ? live[0]! : live.at(-1)!;
    target.ops = target.ends = target.activities = target.flushes = 0;
    this.#armed = { crash, target };
  }

  /** Crashes the plan did not get to (the work was done first). */
  get unfired(): number {
    return this.#plan.length;
  }

  /** Starts a host on the world's database. */
  async spawn(): Promise<FuzzHost> {
    const fh = new FuzzHost(`h${this.#nextHost++}`, realTime());
    this.hosts.push(fh);
    try {
      let base: Store;
      if (this.#memory) base = this.#memory;
      else {
        const connection = crashableConnection(this.options.factory!, (tx) => {
          const armed = this.#armed;
          const trigger = armed?.crash.trigger;
          if (!armed || armed.target !== fh || trigger?.kind !== 'flush') {
            this.sizes.flushes++;
            return;
          }
          if (trigger.mode === 'committed') {
            // Landed, and the host dies before it hears: counted when it lands.
            tx.addEventListener('complete', () => this.#tick(fh, 'flush', 'flush:committed'));
          } else if (this.#tick(fh, 'flush', `flush:${trigger.mode}`) && trigger.mode === 'abort') {
            try {
              tx.abort();
            } catch {
              // Nothing to abort.
            }
          }
        });
        fh.cut = connection.cut;
        const opening = indexedDbStore({ name: this.dbName, indexedDB: connection.indexedDB });
        // Died while opening: the connection it opened goes with it.
        void opening.then(
          (store) => {
            if (!fh.dead) return;
            connection.cut(false);
            store.close();
          },
          () => undefined,
        );
        const opened = await fh.race(opening);
        base = opened;
        // A dead process's store does nothing more (no retries of its flush or fold), and
        // writes nothing more: its connection is cut first.
        fh.cut = (abortInFlight) => {
          connection.cut(abortInFlight);
          opened.close();
        };
      }
      const sabotage = this.options.sabotage?.();
      const store = faultyStore(sabotage ? faultyStore(base, sabotage) : base, this.#faults(fh, base));
      fh.host = new Host({
        store,
        workflows,
        activities: fuzzActivities({
          record: (effect) => {
            if (fh.dead) return NEVER;
            this.effects.push({
              ...effect,
              host: fh.id,
              time: realTime(),
              ...(fh.leader !== undefined && { leader: fh.leader }),
            });
            const n = (this.#counts.get(effect.key) ?? 0) + 1;
            this.#counts.set(effect.key, n);
            if (this.#tick(fh, 'activity', 'activity')) return NEVER;
            return Promise.resolve(n);
          },
          work: (key) =>
            new Promise<void>((resolve) => setTimeout(resolve, key.length % 3)).then(() =>
              fh.dead ? NEVER : undefined,
            ),
        }),
        identity: fh.id,
        bus: this.#bus(fh),
        isHostAlive: async (id) => this.hosts.some((h) => h.id === id && !h.dead),
        whenHostGone: (id) => this.#whenGone(id),
      });
      fh.client = new WorkflowClient(fh.host.api());
      await fh.race(fh.host.start());
      fh.started = true;
      if (DEBUG) console.log(`[${realTime() % 100000}] started ${fh.id}`);
      this.#tellChanged();
    } catch (error) {
      if (!(error instanceof HostDied)) throw error;
    }
    return fh;
  }

  /** Runs `fn` with the client of a live host (any); HostDied if it dies first. */
  async withClient<T>(fn: (client: WorkflowClient) => Promise<T>): Promise<T> {
    for (;;) {
      if (this.halted) throw new Error('the seed was given up');
      const ready = this.ready;
      if (ready.length > 0) {
        const fh = this.options.rng.pick(ready);
        const call = this.#nextCall++;
        this.inFlight.set(call, `${fh.id}: ${String(fn).replace(/\s+/g, ' ').slice(0, 90)}`);
        if (!DEBUG) return fh.race(fn(fh.client)).finally(() => this.inFlight.delete(call));
        const t = realTime();
        return fh.race(fn(fh.client)).then(
          (v) => {
            console.log(
              `[${t % 100000}] ${fh.id} ${String(fn).slice(12, 80)} -> ${JSON.stringify(v)?.slice(0, 80)}`,
            );
            return v;
          },
          (e: unknown) => {
            console.log(
              `[${t % 100000}] ${fh.id} ${String(fn).slice(12, 80)} -> ${(e as Error).name} ${(e as Error).message}`,
            );
            throw e;
          },
        );
      }
      await Promise.race([this.changed(), new Promise((resolve) => setTimeout(resolve, 20))]);
    }
  }

  hasEffect(key: string): boolean {
    return this.#counts.has(key);
  }

  /** Stops the live hosts as a shutdown does (no crash): what they wrote reaches the database. */
  async shutdown(): Promise<string[]> {
    this.calm = true;
    this.#armed = undefined;
    // A shutdown that never ends is an engine bug of its own: it is reported, and the seed goes on.
    const hung: string[] = [];
    await Promise.all(
      this.live.map(async (fh) => {
        if (!fh.started) return;
        let timer: ReturnType<typeof setTimeout> | undefined;
        const bound = new Promise<'hung'>((resolve) => {
          timer = setTimeout(() => resolve('hung'), 10_000);
        });
        if ((await Promise.race([fh.host.shutdown(), bound])) === 'hung')
          hung.push(`${fh.id} (busy: ${JSON.stringify(fh.host.busy)})`);
        clearTimeout(timer);
      }),
    );
    for (const fh of this.live) {
      fh.dead = true;
      fh.cut?.(false);
    }
    return hung;
  }

  /** The database as it is now, read through a store of its own. */
  async inspect<T>(fn: (store: Store) => Promise<T>): Promise<T> {
    if (this.#memory) return fn(this.#memory);
    const store = await indexedDbStore({ name: this.dbName, indexedDB: this.options.factory! });
    try {
      return await fn(store);
    } finally {
      store.close();
    }
  }
}
