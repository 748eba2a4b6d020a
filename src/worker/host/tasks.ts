import {
  CorruptRecordError,
  failedTaskEvents,
  fromErrorRecord,
  type HistoryEvent,
  InvalidArgumentError,
  type MachineInit,
  type TaskResult,
  WorkflowMachine,
} from '../../engine/index.ts';
import type { UpdateOutcome } from '../../protocol/notes.ts';
import { LeaseLostError } from '../../store/errors.ts';
import type { ExecutionRecord, InboxRecord } from '../../store/types.ts';
import {
  completeWorkflowTask,
  failWorkflowTask,
  quarantineRun,
  type TaskCommit,
  timeOutWorkflowTask,
} from '../service.ts';
import { executionProblem, historyProblem, inboxProblem } from './integrity.ts';
import type { HostParts } from './parts.ts';
import { CallTimeoutError } from './peers.ts';
import { assertCloneable, assertStorable, newRunId, nextMacrotask } from './support.ts';

const TASK_BATCH = 128;

/** Temporal's default workflow task timeout. */
export const DEFAULT_WORKFLOW_TASK_TIMEOUT = 10_000;

/** A workflow task the leader sends to the host that serves its queue. */
interface RemoteTask {
  exec: ExecutionRecord;
  inbox: InboxRecord[];
  /** Undefined when the executor last ran this run's task (it keeps the instance). */
  history: HistoryEvent[] | undefined;
  time: number;
}

/** A query the leader sends to the host that serves the run's queue. */
export interface RemoteQuery {
  exec: ExecutionRecord;
  history: HistoryEvent[];
  name: string;
  args: unknown[];
}

/**
 * The workflow-task executor: runs that have work wait in the ready set, are taken in batches
 * (read together, run one after another on the sticky cache of live instances, committed in one
 * transaction), and run here or on the host that serves their queue.
 */
export class WorkflowTasks {
  /** Runs with a workflow task to run. */
  readonly ready = new Set<string>();
  /** Runs whose history ran past their record, tried again once the store caught up. */
  readonly #refreshedFor = new Set<string>();
  /** Runs whose task failed; retried when a new message arrives or the host restarts. */
  readonly blocked = new Set<string>();
  readonly #cache = new Map<string, WorkflowMachine>();
  /** Runs whose instance an executor keeps, by executor: their next task needs no history. */
  readonly #sticky = new Map<string, string>();
  /**
   * Runs whose task is out on an executor, by executor: no batch takes them until it answers
   * or the task times out (each commits on its own, so a slow or frozen executor holds up
   * nothing else).
   */
  readonly #remote = new Map<string, string>();
  #draining: Promise<void> | undefined;

  constructor(private readonly h: HostParts) {}

  /** The batches in progress, if any. */
  get draining(): Promise<void> | undefined {
    return this.#draining;
  }

  /** Whether a workflow task is ready, running here, or out on an executor. */
  get busy(): boolean {
    return this.#draining !== undefined || this.ready.size > 0 || this.#remote.size > 0;
  }

  /** A run closed: nothing of it is kept or waits to run. */
  forget(runId: string): void {
    this.#cache.delete(runId);
    this.ready.delete(runId);
    this.blocked.delete(runId);
  }

  /** Writes this host acted on were lost: no cached instance can be trusted. */
  dropCache(): void {
    this.#cache.clear();
    this.blocked.clear();
  }

  /** No longer the leader: nothing is run, kept or sent. */
  forgetAll(): void {
    this.#cache.clear();
    this.ready.clear();
    this.blocked.clear();
    this.#sticky.clear();
  }

  kick(): void {
    const { h } = this;
    if (h.stopped || !h.leadership.lease || this.#draining || !this.#runnable()) return;
    this.#draining = this.#drain().finally(() => {
      this.#draining = undefined;
      this.kick();
      h.settle();
    });
  }

  /** Whether a ready run can be taken: one whose task is not out on an executor. */
  #runnable(): boolean {
    if (this.#remote.size === 0) return this.ready.size > 0;
    for (const runId of this.ready) if (!this.#remote.has(runId)) return true;
    return false;
  }

  async #drain(): Promise<void> {
    const { h } = this;
    while (!h.stopped && h.leadership.lease && this.ready.size > 0) {
      const batch: string[] = [];
      for (const runId of this.ready) {
        // Its task is out: it runs again once that one is answered (which kicks the loop).
        if (this.#remote.size > 0 && this.#remote.has(runId)) continue;
        this.ready.delete(runId);
        batch.push(runId);
        if (batch.length >= TASK_BATCH) break;
      }
      if (batch.length === 0) return;
      await this.#runBatch(batch);
    }
  }

  async #runBatch(batch: string[]): Promise<void> {
    const { h } = this;
    // Every run of the batch is read at once: queued IndexedDB requests answer far faster
    // than requests awaited one by one.
    const loaded = await h.store.read((tx) =>
      Promise.all(
        batch.map(async (runId) => {
          const [exec, inbox] = await Promise.all([tx.executions.get(runId), tx.inbox.list(runId)]);
          if (exec?.status !== 'RUNNING') return undefined;
          const executor = h.peers.serves(exec.taskQueue) ? undefined : h.peers.executorFor(exec.taskQueue);
          // Taken out of the cache now: running an earlier run of the batch may evict it.
          const cached = executor ? undefined : this.#takeCached(exec);
          // A run whose records are not weft's is quarantined, and the rest of the batch goes on.
          let problem = executionProblem(exec) ?? inboxProblem(inbox);
          let history: HistoryEvent[] | undefined;
          if (problem === undefined && !cached && !(executor && this.#sticky.get(runId) === executor)) {
            try {
              history = await tx.history.read(runId);
              // Past the record: this store may be behind the database (a commit of another
              // connection landed after it last loaded, read here from disk). It catches up
              // and the run is tried again; still past it then, the history is damaged.
              if (history.length > exec.nextEventId - 1 && !this.#refreshedFor.has(runId))
                return { exec, behind: true as const };
              this.#refreshedFor.delete(runId);
              problem = historyProblem(history, exec.nextEventId);
            } catch (error) {
              if (!(error instanceof CorruptRecordError)) throw error;
              problem = error.message;
            }
          }
          return { exec, inbox, cached, history, executor, problem };
        }),
      ),
    );
    // Start activations on an empty microtask queue: no activity continuation can then
    // run between a workflow's microtasks and see the workflow's clock.
    await nextMacrotask();
    const outcomes: Outcomes = { commits: [], failures: [], quarantined: [] };
    for (const run of loaded) {
      if (!run) continue; // Closed meanwhile.
      if ('behind' in run) {
        const { runId } = run.exec;
        this.#refreshedFor.add(runId);
        void h.store
          .refresh()
          .catch(() => undefined)
          .finally(() => {
            if (h.leadership.lease) this.ready.add(runId);
            this.kick();
          });
        continue;
      }
      const { exec, inbox, cached, history, executor, problem } = run;
      if (problem !== undefined) {
        outcomes.quarantined.push({ runId: exec.runId, expected: exec.nextEventId, reason: problem });
        continue;
      }
      const time = h.clock.now();
      if (executor) {
        this.#sendTask(executor, { exec, inbox, time, history });
        continue;
      }
      try {
        done(outcomes, exec, inbox, await this.#runTask(exec, inbox, cached, history ?? [], time));
      } catch (error) {
        failed(outcomes, exec, time, h.hostId, error);
      }
    }
    await this.#commit(outcomes);
  }

  /**
   * Hands a run's task to the executor that serves its queue, and commits its answer on its
   * own. An executor that does not answer within the run's workflow task timeout (frozen, or
   * held up) has it taken back: `WorkflowTaskTimedOut` is recorded, and the task goes to
   * another host of the queue if there is one; its late answer is ignored.
   */
  #sendTask(executor: string, task: RemoteTask): void {
    const { h } = this;
    const { exec, inbox, time } = task;
    const { runId } = exec;
    this.#remote.set(runId, executor);
    // The executor no longer keeps the instance (again, with the history), or it is gone
    // (again, elsewhere or when one offers).
    const again = (): void => {
      this.#sticky.delete(runId);
      if (h.leadership.lease) this.ready.add(runId);
    };
    // 0 is the default, as Temporal's.
    const timeout = exec.workflowTaskTimeout || DEFAULT_WORKFLOW_TASK_TIMEOUT;
    void h.peers
      .call(executor, 'task', [task], timeout)
      .then(
        async (reply) => {
          const outcomes: Outcomes = { commits: [], failures: [], quarantined: [] };
          if ('error' in reply) failed(outcomes, exec, time, executor, fromErrorRecord(reply.error));
          else if (!reply.ok) return again();
          else {
            done(outcomes, exec, inbox, reply.ok as TaskResult);
            this.#sticky.set(runId, executor);
          }
          await this.#commit(outcomes);
        },
        (error: unknown) => {
          if (error instanceof CallTimeoutError) return this.#timedOut(executor, task);
          again();
        },
      )
      .catch((error: unknown) => console.error('weft: a workflow task sent to another host failed', error))
      .finally(() => {
        if (this.#remote.get(runId) === executor) this.#remote.delete(runId);
        this.kick();
        h.settle();
      });
  }

  /** `executor` held the run's task past its timeout: recorded, and the task runs again elsewhere. */
  async #timedOut(executor: string, task: RemoteTask): Promise<void> {
    const { h } = this;
    const { exec, time } = task;
    h.peers.unresponsive(executor);
    this.#sticky.delete(exec.runId);
    try {
      await h.writes.write((tx, fx, ctx) =>
        timeOutWorkflowTask(
          tx,
          exec.runId,
          exec.nextEventId,
          exec.workflowTaskAttempt ?? 1,
          time,
          executor,
          ctx,
          fx,
        ),
      );
    } catch (error) {
      if (!(error instanceof LeaseLostError)) throw error;
    }
  }

  /** Commits the batch's (or one executor's) completed and failed tasks, in one transaction. */
  async #commit({ commits, failures, quarantined }: Outcomes): Promise<void> {
    const { h } = this;
    if (commits.length === 0 && failures.length === 0 && quarantined.length === 0) return;
    const rejections: UpdateOutcome[] = [];
    try {
      await h.writes.write(
        async (tx, fx, ctx) => {
          for (const commit of commits) {
            const ok = await completeWorkflowTask(tx, commit, ctx, fx);
            if (!ok) {
              this.#cache.delete(commit.runId);
              this.#sticky.delete(commit.runId);
            } else {
              for (const { command } of commit.result.commands) {
                if (command.type === 'RejectUpdate') {
                  rejections.push({ updateId: command.updateId, failure: command.failure, rejected: true });
                }
              }
            }
          }
          for (const f of failures) {
            if (await failWorkflowTask(tx, f.runId, f.expected, f.events, ctx, fx, f.attempt))
              this.blocked.add(f.runId);
          }
          for (const q of quarantined) {
            this.blocked.add(q.runId);
            if (await quarantineRun(tx, q.runId, q.expected, q.reason, ctx, fx)) {
              // Said once it is durable: a store behind the database (it saw a history that
              // ran past the record it holds) cannot make it so, its flush is refused.
              void h.store.flushed({ lazy: true }).then(
                () => console.error(`weft: run ${q.runId} quarantined: ${q.reason}`),
                () => undefined,
              );
            }
          }
        },
        false,
        rejections,
      );
    } catch (error) {
      // Nothing was written: the cached instances are ahead of the store.
      for (const commit of commits) {
        this.#cache.delete(commit.runId);
        this.#sticky.delete(commit.runId);
        if (h.leadership.lease) this.ready.add(commit.runId);
      }
      if (!(error instanceof LeaseLostError))
        console.error('weft: committing workflow tasks failed; they will be retried', error);
      return;
    }
    for (const f of [...failures, ...quarantined]) this.ready.delete(f.runId);
  }

  /** Runs a workflow task on the cached instance, or on one rebuilt from history; keeps it. */
  async #runTask(
    exec: ExecutionRecord,
    inbox: InboxRecord[],
    cached: WorkflowMachine | undefined,
    history: HistoryEvent[],
    time: number,
  ): Promise<TaskResult> {
    try {
      const machine = cached ?? (await WorkflowMachine.replay(this.#machineInit(exec), history));
      const result = await machine.runTask(inbox, time, { newRunId }, exec.workflowTaskAttempt);
      for (const { command } of result.commands)
        assertStorable(command, this.h.payloadLimit, `${command.type} payload`, false);
      this.#remember(exec.runId, machine);
      return result;
    } catch (error) {
      this.#cache.delete(exec.runId);
      throw error;
    }
  }

  /** A task the leader sent: null asks for it again with the history (the instance is gone). */
  async runForLeader(payload: unknown): Promise<TaskResult | null> {
    const { exec, inbox, history, time } = payload as RemoteTask;
    // With the history, the leader does not count on the instance here: it may be one that ran
    // a task whose answer came too late, and was never committed.
    const cached = this.#takeCached(exec);
    // Without the instance or the history, the leader sends the task again with the history.
    if (!cached && !history) return null;
    await nextMacrotask();
    return history
      ? this.#runTask(exec, inbox, undefined, history, time)
      : this.#runTask(exec, inbox, cached, [], time);
  }

  /** A query the leader sent, for a run of a queue this host serves. */
  answerQueryFor(payload: unknown): Promise<unknown> {
    const { exec, history, name, args } = payload as RemoteQuery;
    return this.answerQuery(exec, this.current(exec), history, name, args);
  }

  /** The cached instance of a run, if it is at the run's current event. */
  current(exec: ExecutionRecord): WorkflowMachine | undefined {
    const cached = this.#cache.get(exec.runId);
    return cached && cached.nextEventId === exec.nextEventId ? cached : undefined;
  }

  /** Answers a query on `current`, or on an instance replayed from `history` for it. */
  async answerQuery(
    exec: ExecutionRecord,
    current: WorkflowMachine | undefined,
    history: HistoryEvent[],
    name: string,
    args: unknown[],
  ): Promise<unknown> {
    // A query never changes state: an instance rebuilt for it is not cached. A replay starts on
    // an empty microtask queue, as a task's activations do: code still running here (an
    // activity's continuations) would otherwise run between its microtasks and see its clock
    // and its random numbers.
    let machine = current;
    if (!machine) {
      await nextMacrotask();
      machine = await WorkflowMachine.replay(this.#machineInit(exec), history);
    }
    if (!machine.runtime)
      throw new InvalidArgumentError(`Workflow '${exec.workflowId}' has not started running yet`);
    const answer = await machine.runtime.query(name, args);
    // The answer travels back by postMessage: refuse what it cannot carry, clearly, here.
    assertCloneable(answer, `The answer of query '${name}'`);
    return answer;
  }

  /** The cached instance of a run if it is at the run's current event, removed from the cache. */
  #takeCached(exec: ExecutionRecord): WorkflowMachine | undefined {
    const cached = this.current(exec);
    this.#cache.delete(exec.runId);
    return cached;
  }

  #remember(runId: string, machine: WorkflowMachine): void {
    if (machine.closed) return;
    this.#cache.set(runId, machine);
    const max = this.h.options.maxCachedWorkflows ?? 1_000;
    // The oldest goes first: a Map keeps insertion order.
    while (this.#cache.size > max) this.#cache.delete(this.#cache.keys().next().value!);
  }

  #machineInit(exec: ExecutionRecord): MachineInit {
    return { ...this.h.machineBase, workflowId: exec.workflowId, runId: exec.runId };
  }
}

/** What a batch (or one executor's answer) has to commit. */
interface Outcomes {
  commits: TaskCommit[];
  failures: { runId: string; expected: number; attempt: number; events: HistoryEvent[] }[];
  /** Runs whose records are not weft's (see `integrity.ts`), with what is wrong. */
  quarantined: { runId: string; expected: number; reason: string }[];
}

function done(outcomes: Outcomes, exec: ExecutionRecord, inbox: InboxRecord[], result: TaskResult): void {
  outcomes.commits.push({
    runId: exec.runId,
    expectedNextEventId: exec.nextEventId,
    ...(exec.workflowTaskAttempt !== undefined && { attempt: exec.workflowTaskAttempt }),
    consumedInbox: inbox.map((m) => m.id),
    result,
  });
}

function failed(outcomes: Outcomes, exec: ExecutionRecord, time: number, by: string, error: unknown): void {
  outcomes.failures.push({
    runId: exec.runId,
    expected: exec.nextEventId,
    attempt: exec.workflowTaskAttempt ?? 1,
    events: failedTaskEvents(exec.nextEventId, time, exec.taskQueue, by, error),
  });
}
