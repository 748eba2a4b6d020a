import type { Clock } from '../worker/clock.ts';
import { realNow } from '../worker/determinism.ts';

interface Pending {
  at: number;
  callback: () => void;
}

/**
 * A clock that runs at real speed from wherever it was moved to, and can jump ahead: its
 * timers fire when it reaches them, whether by waiting or by a jump. Never goes back.
 */
export class SkippingClock implements Clock {
  /** How far ahead of real time this clock is, in ms. */
  #offset = 0;
  readonly #pending = new Set<Pending>();
  /** The real timer armed for the earliest pending one. */
  #armed: ReturnType<typeof setTimeout> | undefined;

  now(): number {
    return realNow() + this.#offset;
  }

  setTimer(callback: () => void, delay: number): () => void {
    const entry = { at: this.now() + Math.max(0, delay), callback };
    this.#pending.add(entry);
    this.#arm();
    return () => {
      if (this.#pending.delete(entry)) this.#arm();
    };
  }

  /** When the earliest pending timer is due; undefined when none is. */
  next(): number | undefined {
    let next: number | undefined;
    for (const { at } of this.#pending) if (next === undefined || at < next) next = at;
    return next;
  }

  /** Moves the clock to `time` (if that is ahead) and fires, in order, every timer then due. */
  advanceTo(time: number): void {
    const ahead = time - this.now();
    if (ahead > 0) this.#offset += ahead;
    this.#fireDue();
  }

  /** Forgets every pending timer. */
  clear(): void {
    this.#pending.clear();
    this.#arm();
  }

  #fireDue(): void {
    const now = this.now();
    const due = [...this.#pending].filter((entry) => entry.at <= now).sort((a, b) => a.at - b.at);
    for (const entry of due) this.#pending.delete(entry);
    for (const entry of due) entry.callback();
    this.#arm();
  }

  #arm(): void {
    clearTimeout(this.#armed);
    this.#armed = undefined;
    const next = this.next();
    if (next === undefined) return;
    // Chunks of at most 2^31-1 ms (setTimeout's limit): a far timer is reached by a jump anyway.
    this.#armed = setTimeout(() => this.#fireDue(), Math.min(Math.max(0, next - this.now()), 2 ** 31 - 1));
  }
}
