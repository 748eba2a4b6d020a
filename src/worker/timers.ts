import type { Clock } from './clock.ts';

/**
 * Durable timers in memory: a min-heap by due time with one timer of the clock armed for the
 * earliest (so a clock that jumps sees only the next one due).
 */

interface Entry<T> {
  key: string;
  at: number;
  value: T;
}

export class TimerQueue<T> {
  #heap: Entry<T>[] = [];
  readonly #live = new Map<string, Entry<T>>();
  /** Armed, while there is an entry, for the heap's top (that entry's time). */
  #cancel: (() => void) | undefined;

  readonly #keyOf: (value: T) => string;
  readonly #onDue: (due: T[]) => void;
  readonly #clock: Clock;

  constructor(keyOf: (value: T) => string, onDue: (due: T[]) => void, clock: Clock) {
    this.#keyOf = keyOf;
    this.#onDue = onDue;
    this.#clock = clock;
  }

  add(value: T, at: number): void {
    const entry = { key: this.#keyOf(value), at, value };
    this.#live.set(entry.key, entry);
    this.#push(entry);
    // Disarmed (nothing queued, or firing), or earlier than the armed time: it went to the top.
    if (this.#cancel === undefined || this.#heap[0] === entry) this.#arm();
  }

  remove(key: string): void {
    // Lazy deletion: the heap entry is skipped when it surfaces.
    this.#live.delete(key);
  }

  clear(): void {
    this.#live.clear();
    this.#heap = [];
    this.#arm();
  }

  /** Arms the clock's timer for the earliest entry, or disarms it when there is none. */
  #arm(): void {
    this.#cancel?.();
    this.#cancel = undefined;
    const next = this.#peek();
    if (!next) return;
    const at = next.at;
    this.#cancel = this.#clock.setTimer(() => this.#fire(at), at - this.#clock.now());
  }

  /** The clock says `armedFor` has come: so has every entry due by then, whatever `now` says now. */
  #fire(armedFor: number): void {
    this.#cancel = undefined;
    const now = Math.max(this.#clock.now(), armedFor);
    const due: T[] = [];
    for (let next = this.#peek(); next && next.at <= now; next = this.#peek()) {
      this.#pop();
      this.#live.delete(next.key);
      due.push(next.value);
    }
    if (due.length > 0) this.#onDue(due);
    this.#arm();
  }

  /** The earliest live entry, discarding removed ones. */
  #peek(): Entry<T> | undefined {
    while (this.#heap.length > 0) {
      const top = this.#heap[0]!;
      if (this.#live.get(top.key) === top) return top;
      this.#pop();
    }
    return undefined;
  }

  #push(entry: Entry<T>): void {
    const h = this.#heap;
    h.push(entry);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]!.at <= entry.at) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = entry;
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop();
    if (!last || h.length === 0) return;
    // Sifts `last` down from the root, each step to the earlier of the two children.
    let i = 0;
    for (let child = 1; child < h.length; child = 2 * i + 1) {
      if (child + 1 < h.length && h[child + 1]!.at < h[child]!.at) child++;
      if (last.at <= h[child]!.at) break;
      h[i] = h[child]!;
      i = child;
    }
    h[i] = last;
  }
}
