import type { Reply } from '../../protocol/api.ts';
import type { BusNote, HostNote } from '../../protocol/notes.ts';
import { isForwarded } from './client-calls.ts';
import type { HostParts } from './parts.ts';
import { reply } from './support.ts';

/**
 * What the leader asks of a host that runs a task queue for it, and what that host tells the
 * leader back while it runs an activity (`heartbeat`).
 */
// Not named like a client method: `answer` tells the two apart by name.
export type ExecutorMethod = 'task' | 'activity' | 'abort' | 'queryRun' | 'heartbeat';

/** A call that got no answer in time: its answer, should it come later, is ignored. */
export class CallTimeoutError extends Error {
  override name = 'CallTimeoutError';
}

interface PendingCall {
  to: string;
  method: string;
  args: unknown[];
  /** The host the call went to; for `to: ''`, the leader at the time. */
  sentTo?: string;
  resolve(reply: Reply<unknown>): void;
  reject(error: unknown): void;
}

/**
 * The other hosts that share the database, over the bus: their notes, calls to them and from
 * them (a follower's client calls go to the leader; the leader's tasks go to the hosts that
 * serve their queues), and who runs which task queue.
 */
export class Peers {
  readonly #calls = new Map<number, PendingCall>();
  #nextCall = 1;
  /** Other hosts that run task queues for the leader, with their queues. */
  readonly executors = new Map<string, string[]>();
  /**
   * Executors that let a workflow task time out (frozen, or too busy): given work only when no
   * other host serves its queue, until a message from them shows they are back.
   */
  readonly #unresponsive = new Set<string>();
  /** The leader said its store is out of space, and this host passed it on. */
  #leaderFull = false;

  constructor(private readonly h: HostParts) {}

  serves(taskQueue: string): boolean {
    return this.h.taskQueues.includes(taskQueue);
  }

  /** Another host that runs `taskQueue` for the leader: one that answers, if there is one. */
  executorFor(taskQueue: string): string | undefined {
    let fallback: string | undefined;
    for (const [hostId, queues] of this.executors) {
      if (!queues.includes(taskQueue)) continue;
      if (!this.#unresponsive.has(hostId)) return hostId;
      fallback ??= hostId;
    }
    return fallback;
  }

  /** Whether `hostId` answered the last call that waited on it in time (as far as known). */
  responsive(hostId: string): boolean {
    return !this.#unresponsive.has(hostId);
  }

  /** `hostId` did not answer in time: other hosts of its queues get the work, while there are any. */
  unresponsive(hostId: string): void {
    this.#unresponsive.add(hostId);
  }

  /** Whether the leader can have `taskQueue`'s tasks run: here, or by an executor. */
  canRun(taskQueue: string): boolean {
    return this.serves(taskQueue) || this.executorFor(taskQueue) !== undefined;
  }

  onNote(note: BusNote): void {
    const { h } = this;
    if (note.from === h.hostId || h.stopped) return;
    // Whatever it says, it runs again.
    if (this.#unresponsive.size > 0) this.#unresponsive.delete(note.from);
    if ('changes' in note) {
      h.wakeups.applyNote(note);
      h.wakeups.tell(note.changes);
      return;
    }
    const { lease, serves, gone, call, answer, storage } = note;
    if (lease) h.leadership.heard(lease);
    const leading = h.leadership.lease;
    if (storage && !leading && note.from === h.leadership.leader) this.leaderStorage(storage);
    if (serves && leading) {
      const known = this.executors.get(note.from);
      this.executors.set(note.from, serves);
      if (!known) {
        // A newcomer learns who leads, and whether its writes wait for space; work waiting for
        // its queues can run now. (Not a host known already: while two hosts believe they lead,
        // for the moment before one's flush fails, a follower turns to whichever spoke last, and
        // answering each of its offers again would keep the three talking until then.)
        const trouble = h.storageTrouble;
        h.bus.publish({
          from: h.hostId,
          lease: leading,
          ...(trouble?.state === 'full' && { storage: trouble }),
        });
        h.options.whenHostGone?.(note.from).then(() => this.gone(note.from));
        void h.leadership.scan();
      }
    }
    if (gone) this.gone(note.from);
    if (call && (call.to === h.hostId || (call.to === '' && h.leadership.lease))) {
      void this.#answer(call.method, call.args, note.from).then((reply) =>
        h.bus.publish({ from: h.hostId, answer: { id: call.id, to: note.from, reply } }),
      );
    }
    if (answer && answer.to === h.hostId) {
      const pending = this.#calls.get(answer.id);
      // A call re-sent to a new leader takes only that leader's answer.
      if (pending && (pending.sentTo === undefined || pending.sentTo === note.from)) {
        this.#calls.delete(answer.id);
        pending.resolve(answer.reply);
      }
    }
  }

  /**
   * What the leader says of its store (undefined: another host leads now), passed on to this
   * host's listeners: the writes forwarded to the leader wait when it is out of space.
   */
  leaderStorage(status: HostNote['storage']): void {
    const full = status?.state === 'full';
    if (full === this.#leaderFull) return;
    this.#leaderFull = full;
    this.h.reportStorage(status?.state === 'full' ? status : { state: 'ok' });
  }

  /** Another host stopped: calls to it fail (their work is done again), and a leader is elected. */
  gone(hostId: string): void {
    this.executors.delete(hostId);
    this.#unresponsive.delete(hostId);
    for (const [id, call] of this.#calls) {
      if (call.to === hostId) {
        this.#calls.delete(id);
        call.reject(new Error(`Host ${hostId} is gone`));
      }
    }
    if (this.h.leadership.leader === hostId) void this.h.leadership.elect();
  }

  /**
   * Calls another host (`to: ''`: whoever leads) over the bus.
   * @param timeout ms (on the host's clock) after which the call fails with a
   *   {@link CallTimeoutError}; a later answer is then ignored
   */
  call(to: string, method: string, args: unknown[], timeout?: number): Promise<Reply<unknown>> {
    return new Promise((resolve, reject) => {
      const id = this.#nextCall++;
      const call: PendingCall = { to, method, args, resolve, reject };
      if (timeout !== undefined) {
        const cancel = this.h.clock.setTimer(() => {
          if (this.#calls.get(id) !== call) return;
          this.#calls.delete(id);
          reject(
            new CallTimeoutError(`${method} call to ${to || 'the leader'} timed out after ${timeout} ms`),
          );
        }, timeout);
        call.resolve = (reply) => {
          cancel();
          resolve(reply);
        };
        call.reject = (error) => {
          cancel();
          reject(error);
        };
      }
      this.#calls.set(id, call);
      this.#send(id, call);
    });
  }

  #send(id: number, call: PendingCall): void {
    const { h } = this;
    const to = call.to || h.leadership.leader;
    if (to === undefined) return; // Sent when a leader is known.
    if (to === h.hostId) {
      this.#calls.delete(id);
      void this.#answer(call.method, call.args, h.hostId).then(call.resolve);
      return;
    }
    call.sentTo = to;
    h.bus.publish({ from: h.hostId, call: { id, to, method: call.method, args: call.args } });
  }

  /** A new leader: calls that were for the old one go to it. */
  resendCalls(): void {
    for (const [id, call] of this.#calls)
      if (call.to === '' && call.sentTo !== this.h.leadership.leader) this.#send(id, call);
  }

  /** Fails every call still waiting for an answer (this host stops). */
  rejectAll(error: Error): void {
    for (const call of this.#calls.values()) call.reject(error);
    this.#calls.clear();
  }

  /** Answers a call from another host: a client call for the leader, or a task for an executor. */
  #answer(method: string, args: unknown[], from: string): Promise<Reply<unknown>> {
    if (isForwarded(method)) return this.h.calls.local(method, args, true);
    return reply(() => this.#execute(method as ExecutorMethod, args[0], from));
  }

  /** What the leader asks of this host as an executor of its task queues. */
  async #execute(method: ExecutorMethod, payload: unknown, from: string): Promise<unknown> {
    const { h } = this;
    // Work sent by a leader this host has since replaced (sent before it died, heard after)
    // is not done: the store says what is still to do, and this host does it as leader. Its
    // answer would go nowhere, and the attempt may be over already. (Nothing: "not run here".)
    const stale = h.leadership.lease !== undefined && from !== h.hostId;
    if (method === 'task') return stale ? null : h.tasks.runForLeader(payload);
    if (method === 'activity') return stale ? undefined : h.activities.runForLeader(payload);
    if (method === 'abort') {
      h.activities.abortFor(payload);
      return null;
    }
    if (method === 'heartbeat') return h.activities.heartbeatFrom(payload);
    return h.tasks.answerQueryFor(payload);
  }
}
