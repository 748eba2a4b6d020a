import type { Duration } from '../../engine/index.ts';
import type { Store } from '../../store/types.ts';
import type { WakeBus } from '../bus.ts';
import type { Clock } from '../clock.ts';

export interface HostOptions {
  store: Store;
  /** Usually `import * as workflows`: functions are registered under their export name; other exports (signal definitions...) are ignored. */
  workflows: Record<string, unknown>;
  activities?: Record<string, unknown>;
  /** Queues this host serves (default `['default']`); the first is the default for starts. */
  taskQueues?: string[];
  identity?: string;
  /** Live workflow instances kept in memory (default 1,000); others replay from history when needed. */
  maxCachedWorkflows?: number;
  maxConcurrentActivities?: number;
  /** Events per run before it is terminated (default 50,000). */
  historyLimit?: number;
  /** `continueAsNewSuggested` from this many events (default 10,000). */
  suggestContinueAsNewAt?: number;
  /** Children open at once per run (default 2,000). */
  maxPendingChildren?: number;
  /** How hosts sharing the store wake each other (default: in-process, per store object). */
  bus?: WakeBus;
  /**
   * Whether another host is still alive (e.g. it holds its Web Lock). Without it, a lease is
   * taken over only once it has expired.
   */
  isHostAlive?: (hostId: string) => Promise<boolean>;
  /** Resolves when another host is gone (e.g. its Web Lock is released): its work is taken over at once. */
  whenHostGone?: (hostId: string) => Promise<void>;
  /**
   * How long the database's lease holds without renewal, in ms (default 5,000). A leader that
   * stops renewing it (a frozen tab) is replaced after this long; one that closes, at once
   * where `whenHostGone` tells.
   */
  leaseTimeout?: number;
  /** Largest payload (arguments, results, signal data) in bytes (default 2 MiB). */
  payloadLimit?: number;
  /**
   * How long a closed execution is kept, as a Temporal namespace's retention (default 7 days):
   * then it is deleted with its history. `0` keeps nothing beyond close; `Infinity` keeps all.
   */
  retention?: Duration;
  /**
   * The time workflows, timers, activity timeouts, retry backoff and retention go by (default:
   * real time). `weft/testing` passes one that skips ahead; the lease keeps real time.
   */
  clock?: Clock;
}

/** The default retention: a week, long enough to look back on what ran, short enough to stay small. */
export const DEFAULT_RETENTION = 7 * 24 * 3_600_000;
