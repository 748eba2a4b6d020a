/**
 * What the mirror and its durable side exchange: the snapshot a connection loads, the batch a
 * flush commits, the changes the log holds, and the {@link Backing} itself.
 */

import type { HistoryEvent } from '../../engine/events.ts';
import type { DurableKey, DurableSide, TableName } from '../tables.ts';
import type {
  ActivityTaskRecord,
  ExecutionFilter,
  ExecutionRecord,
  HistoryChunk,
  InboxRecord,
  LeaseRecord,
  TimerRecord,
  WorkflowTaskRecord,
} from '../types.ts';

/**
 * What a connection holds in memory when it opens a database: its open work (running
 * executions and every inbox message, task, timer and lease, which only open runs have) as
 * the stores hold it, and the log of commits not yet folded into the stores. Closed executions
 * stay on disk: opening costs in proportion to the open work, not to the database.
 */
export interface MirrorSnapshot {
  /** Bumped by every commit of every connection: a commit checks it first (optimistic lock). */
  version: number;
  /** The RUNNING executions in the stores (the log may have closed some since). */
  executions: ExecutionRecord[];
  inbox: InboxRecord[];
  workflowTasks: WorkflowTaskRecord[];
  activityTasks: ActivityTaskRecord[];
  timers: TimerRecord[];
  leases: LeaseRecord[];
  /** Commits not yet folded into the stores, oldest first. */
  changes: Change[];
}

/** A record written by a commit. `fresh`: nothing was stored under its key before. */
export interface Put {
  table: TableName;
  value: object;
  fresh?: true;
}

/** What one flush makes durable, in one transaction. */
export interface FlushBatch {
  /** The version the mirror was built on; the commit is refused unless it is still current. */
  expectedVersion: number;
  nextInboxId: number;
  puts: Put[];
  deletes: { table: TableName; key: DurableKey }[];
  /** At most one chunk per run: what the run appended since the last flush. */
  history: HistoryChunk[];
  /** Runs whose every event is deleted. */
  dropHistory: string[];
}

/** One commit's record changes, as the log holds them, with the version it made. */
export interface Change {
  version: number;
  nextInboxId: number;
  puts: Put[];
  deletes: { table: TableName; key: DurableKey }[];
  dropHistory?: string[];
}

/**
 * The durable side of a mirrored store (IndexedDB in the browser). Its `get`, `page` and
 * `closedBefore` answer from the stores, as {@link DurableSide}'s (the log may hold newer
 * values: the mirror knows those).
 */
export interface Backing extends Pick<DurableSide, 'get' | 'page' | 'closedBefore'> {
  readonly name: string;
  load(): Promise<MirrorSnapshot>;
  /** Durable events of `runId` with eventId >= fromEventId, in order. */
  readHistory(runId: string, fromEventId: number): Promise<HistoryEvent[]>;
  /** Several records as the stores hold them, in one transaction. */
  getMany(table: 'executions', keys: string[]): Promise<(ExecutionRecord | undefined)[]>;
  /**
   * How many executions of the stores match, plus `correction()`, which is called when the
   * stores' answer arrives, so that it sees them as they were counted.
   */
  count(filter: ExecutionFilter, correction: () => number): Promise<number>;
  /**
   * What other connections committed after `version`, oldest first, or undefined when that is
   * no longer known piece by piece (compacted): then the mirror loads everything again.
   */
  changesSince(version: number): Promise<{ version: number; changes: Change[] } | undefined>;
  /**
   * Writes `batch` in one transaction, at version `expectedVersion + 1`.
   * @returns false, writing nothing, when the durable version is no longer `expectedVersion`.
   */
  commit(batch: FlushBatch): Promise<boolean>;
  /**
   * Folds the log, but its newest entry, into the stores, if `version` is still the newest (no
   * other connection wrote since: only the writer folds, as only it knows what the stores held
   * under what it wrote), and drops the folded entries, in one transaction. `stored` is called,
   * with the executions folded (null: deleted), and the records the fold carried instead of
   * storing them (still the log's, as of the version folded), once the stores hold them, before
   * any later transaction of the database starts.
   * @returns the last version folded; undefined when there was nothing to fold; null when
   *   another connection wrote after `version`.
   */
  compact(
    version: number,
    stored: (executions: Map<string, ExecutionRecord | null>, carried: Put[]) => void,
  ): Promise<number | undefined | null>;
  close(): void;
}
