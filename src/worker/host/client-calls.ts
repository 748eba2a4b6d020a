import { defined } from '../../engine/defined.ts';
import {
  CorruptRecordError,
  fromErrorRecord,
  type HistoryEvent,
  InvalidArgumentError,
  msOptional,
  WorkflowNotFoundError,
} from '../../engine/index.ts';
import type {
  EngineApi,
  Reply,
  WorkflowChange,
  WorkflowDescription,
  WorkflowListFilter,
  WorkflowListPage,
  WorkflowListQuery,
  WorkflowOutcome,
  WorkflowSignalWithStartOptions,
  WorkflowStartOptions,
} from '../../protocol/api.ts';
import type { ExecutionRecord, StoreTx } from '../../store/types.ts';
import { realNow } from '../determinism.ts';
import {
  deleteRun,
  type RunRequest,
  requestCancelWorkflow,
  requestUpdate,
  type StartRequest,
  signalWithStartWorkflow,
  signalWorkflow,
  startWorkflow,
  terminateWorkflow,
} from '../service.ts';
import { decodeToken, describeExecution, encodeToken, outcomeOf, storeFilter } from './describe.ts';
import { historyProblem } from './integrity.ts';
import type { HostParts } from './parts.ts';
import { assertCloneable, assertStorable, leaseLost, mustFind, reply } from './support.ts';
import { updateFailed } from './wakeups.ts';

/** Page sizes of `listPage`. */
const DEFAULT_PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 1_000;
/**
 * How long a client call whose writes were lost with the lease is tried again, in leases: a
 * hand-over takes one at most (the lease of a leader that froze runs out), and several may
 * follow one another when hosts die in a row.
 */
const CONFLICT_PATIENCE = 3;
/** The longest wait between two tries of such a call (ms); the first waits 5 ms. */
const CONFLICT_MAX_WAIT = 250;
/**
 * The client API methods a host that does not lead forwards to the leader: the writes, then,
 * from index `FIRST_READ`, the reads.
 */
const FORWARDED = [
  'start',
  'signalWithStart',
  'signal',
  'update',
  'cancel',
  'terminate',
  'delete',
  'query',
  'describe',
  'history',
  'result',
  'listPage',
  'count',
] as const;
const FIRST_READ = FORWARDED.indexOf('query');
/**
 * Where the request ID goes in the arguments of the calls that take one (an update's is its
 * update ID): the host the client called sets it, before the call may be sent, and sent again.
 */
const REQUEST_ID_AT = { signal: 4, cancel: 3, terminate: 3, update: 4 } as const;
type Forwarded = (typeof FORWARDED)[number];

function runRequest(workflowId: string, runId: string | undefined, requestId?: string): RunRequest {
  return { workflowId, runId, ...(requestId !== undefined && { requestId }) };
}

/** Whether `method` is a client call, which a follower forwards to the leader. */
export function isForwarded(method: string): method is Forwarded {
  return (FORWARDED as readonly string[]).includes(method);
}

/**
 * The client API: what the endpoint exposes, as plain data with errors as records. The leader
 * answers each call from the store and its write path; any other host forwards it to the leader.
 */
export class ClientCalls {
  constructor(private readonly h: HostParts) {}

  /** @param forwarded the start came from another host, and may have been sent before. */
  async startWorkflow(
    workflowType: string,
    options: WorkflowStartOptions,
    forwarded = false,
  ): Promise<{ workflowId: string; runId: string }> {
    const request = this.#startRequest('start', workflowType, options, forwarded);
    const { runId } = await this.h.writes.enqueue((tx, fx, ctx) => startWorkflow(tx, request, ctx, fx), true);
    return { workflowId: request.workflowId, runId };
  }

  /**
   * Signals the ID's running execution, or starts one with the signal, in one transaction.
   * @param forwarded the call came from another host, and may have been sent before.
   */
  async signalWithStart(
    workflowType: string,
    options: WorkflowSignalWithStartOptions,
    forwarded = false,
  ): Promise<{ workflowId: string; runId: string; started: boolean }> {
    const request = this.#startRequest('signalWithStart', workflowType, options, forwarded);
    const { signal, signalArgs = [], workflowIdConflictPolicy: conflict } = options;
    if (typeof signal !== 'string' || signal === '')
      throw new InvalidArgumentError('signalWithStart needs options.signal (a signal name or definition)');
    if (!Array.isArray(signalArgs)) throw new InvalidArgumentError('options.signalArgs must be an array');
    assertStorable(signalArgs, this.h.payloadLimit, 'Signal arguments');
    // As Temporal's server: the point is to reach a running execution, so FAIL makes no sense,
    // and TERMINATE_IF_RUNNING (terminate it instead) contradicts any conflict policy.
    if (conflict !== undefined && conflict !== 'USE_EXISTING') {
      throw new InvalidArgumentError(
        `signalWithStart takes workflowIdConflictPolicy USE_EXISTING (the default) only, not ${String(conflict)}`,
      );
    }
    if (conflict !== undefined && options.workflowIdReusePolicy === 'TERMINATE_IF_RUNNING') {
      throw new InvalidArgumentError(
        'workflowIdReusePolicy TERMINATE_IF_RUNNING cannot be used together with a workflowIdConflictPolicy',
      );
    }
    const { runId, started } = await this.h.writes.enqueue(
      (tx, fx, ctx) => signalWithStartWorkflow(tx, { ...request, signalName: signal, signalArgs }, ctx, fx),
      true,
    );
    return { workflowId: request.workflowId, runId, started };
  }

  /** A start's request, checked (type, ID, payloads, durations) before anything is queued. */
  #startRequest(
    call: 'start' | 'signalWithStart',
    workflowType: string,
    options: WorkflowStartOptions,
    forwarded: boolean,
  ): StartRequest {
    // Only a registered name (a string) is known.
    if (!this.h.workflows.has(workflowType)) {
      throw new InvalidArgumentError(
        `Unknown workflow type '${String(workflowType)}' (registered: ${[...this.h.workflows.keys()].join(', ') || 'none'})`,
      );
    }
    if (typeof options?.workflowId !== 'string' || options.workflowId === '') {
      throw new InvalidArgumentError(`${call} needs options.workflowId (a non-empty string)`);
    }
    const args = options.args ?? [];
    if (!Array.isArray(args)) throw new InvalidArgumentError('options.args must be an array');
    if (options.requestId !== undefined && typeof options.requestId !== 'string')
      throw new InvalidArgumentError('options.requestId must be a string');
    assertStorable(args, this.h.payloadLimit, 'Workflow arguments');
    if (options.memo !== undefined) assertCloneable(options.memo, 'Memo');
    return {
      workflowType,
      workflowId: options.workflowId,
      taskQueue: options.taskQueue ?? this.h.taskQueues[0] ?? 'default',
      args,
      identity: this.h.hostId,
      ...defined({
        workflowIdReusePolicy: options.workflowIdReusePolicy,
        workflowIdConflictPolicy: options.workflowIdConflictPolicy,
        workflowExecutionTimeout: msOptional(options.workflowExecutionTimeout),
        workflowRunTimeout: msOptional(options.workflowRunTimeout),
        workflowTaskTimeout: msOptional(options.workflowTaskTimeout),
        retry: options.retry,
        memo: options.memo,
        requestId: options.requestId,
      }),
      ...(forwarded && { maybeResent: true }),
    };
  }

  /**
   * @param requestId set on a call that may come again (a forwarded one): the run keeps it, and
   *   takes the signal once however often it is sent.
   */
  async signal(
    workflowId: string,
    runId: string | undefined,
    signalName: string,
    args: unknown[],
    requestId?: string,
  ): Promise<void> {
    assertStorable(args, this.h.payloadLimit, 'Signal arguments');
    const request = runRequest(workflowId, runId, requestId);
    await this.h.writes.enqueue(
      (tx, fx, ctx) => signalWorkflow(tx, request, signalName, args, ctx, fx, 'client'),
      true,
    );
  }

  /** @param requestId as `signal`'s: a cancel request sent again is not delivered twice. */
  async cancel(
    workflowId: string,
    runId: string | undefined,
    reason?: string,
    requestId?: string,
  ): Promise<void> {
    const request = runRequest(workflowId, runId, requestId);
    await this.h.writes.enqueue((tx, fx, ctx) => requestCancelWorkflow(tx, request, ctx, fx, reason), true);
  }

  /**
   * @param requestId as `signal`'s: a terminate sent again after it closed the run answers
   *   success, not that the run is already closed.
   */
  async terminate(
    workflowId: string,
    runId: string | undefined,
    reason?: string,
    requestId?: string,
  ): Promise<void> {
    const request = runRequest(workflowId, runId, requestId);
    await this.h.writes.enqueue(
      (tx, fx, ctx) => terminateWorkflow(tx, request, reason ?? 'Terminated by client', ctx, fx),
      true,
    );
  }

  /**
   * Runs an update and waits for its outcome. An update sent again with the same `updateId`
   * (a resend to a new leader, or a client's retry) is not run again: it waits for the first
   * one, or returns its outcome, as Temporal's server does.
   */
  async update(
    workflowId: string,
    runId: string | undefined,
    name: string,
    args: unknown[],
    updateId: string = crypto.randomUUID(),
  ): Promise<unknown> {
    assertStorable(args, this.h.payloadLimit, 'Update arguments');
    if (typeof updateId !== 'string' || updateId === '')
      throw new InvalidArgumentError('An update ID must be a non-empty string');
    const request = runRequest(workflowId, runId);
    // Waiting from before the write: the outcome comes in a later commit, never before it.
    const { waiter, outcome } = this.h.wakeups.expectUpdate(updateId);
    try {
      const requested = await this.h.writes.enqueue(async (tx, fx, ctx) => {
        const found = await requestUpdate(tx, request, { updateId, name, input: args }, ctx, fx);
        waiter.runId = found.runId;
        return found;
      }, true);
      if (requested.outcome) {
        this.h.wakeups.forgetUpdate(updateId, waiter);
        if ('success' in requested.outcome) return requested.outcome.success;
        throw updateFailed(requested.outcome);
      }
    } catch (error) {
      this.h.wakeups.forgetUpdate(updateId, waiter);
      throw error;
    }
    return outcome;
  }

  async query(
    workflowId: string,
    runId: string | undefined,
    name: string,
    args: unknown[],
  ): Promise<unknown> {
    const read = () =>
      this.h.store.read(async (tx) => {
        const exec = await mustFind(tx, workflowId, runId);
        const current = this.h.peers.serves(exec.taskQueue) ? this.h.tasks.current(exec) : undefined;
        return { exec, current, history: current ? undefined : await wholeHistory(tx, exec) };
      });
    let { exec, current, history } = await read();
    // As Temporal's server does, a query waits for the run's first workflow task: before it,
    // no handler is registered yet. (Only `WorkflowExecutionStarted` is recorded until then.)
    const notReady = () => exec.status === 'RUNNING' && exec.nextEventId <= 2 && !exec.blocked;
    while (notReady()) {
      // Waiting is registered before reading again, so a change in between is not missed.
      const watched = exec.runId;
      const changed = this.h.wakeups.nextChange(watched);
      ({ exec, current, history } = await read());
      // Another run now (the one watched continued as new): watched, in turn, at once.
      if (notReady() && exec.runId === watched) await changed;
      if (!this.h.leadership.lease) throw leaseLost();
    }
    if (this.h.peers.serves(exec.taskQueue))
      return this.h.tasks.answerQuery(exec, current, history ?? [], name, args);
    const executor = this.h.peers.executorFor(exec.taskQueue);
    if (!executor) {
      throw new InvalidArgumentError(
        `Cannot query '${workflowId}': no worker serves its task queue '${exec.taskQueue}'`,
      );
    }
    const reply = await this.h.peers.call(executor, 'queryRun', [{ exec, history, name, args }]);
    if ('error' in reply) throw fromErrorRecord(reply.error);
    return reply.ok;
  }

  async describe(workflowId: string, runId: string | undefined): Promise<WorkflowDescription> {
    return describeExecution(await this.h.store.read((tx) => mustFind(tx, workflowId, runId)));
  }

  async history(workflowId: string, runId: string | undefined): Promise<HistoryEvent[]> {
    return this.h.store.read(async (tx) => wholeHistory(tx, await mustFind(tx, workflowId, runId)));
  }

  /**
   * One page of executions, newest first (start time, then run ID), read from the store's
   * indexes: a page costs in proportion to its size, not to the database. Executions started
   * after the first page never appear on later ones, so paging under concurrent starts neither
   * skips nor repeats an execution.
   */
  async listPage(query: WorkflowListQuery = {}): Promise<WorkflowListPage> {
    const { pageSize = DEFAULT_PAGE_SIZE, nextPageToken, ...rest } = query ?? {};
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE)
      throw new InvalidArgumentError(
        `pageSize must be an integer from 1 to ${MAX_PAGE_SIZE}, not ${String(pageSize)}`,
      );
    const filter = storeFilter(rest);
    const after = nextPageToken === undefined ? undefined : decodeToken(nextPageToken);
    // One more than asked: whether there is a next page is known without another read.
    const records = await this.h.store.read((tx) =>
      tx.executions.page({ filter, limit: pageSize + 1, ...(after && { after }) }),
    );
    const page = records.slice(0, pageSize);
    const last = page.at(-1);
    return {
      executions: page.map(describeExecution),
      ...(records.length > pageSize && last && { nextPageToken: encodeToken(last) }),
    };
  }

  /** How many executions match, answered from the store's indexes. */
  async count(filter: WorkflowListFilter = {}): Promise<{ count: number }> {
    const checked = storeFilter(filter ?? {});
    return { count: await this.h.store.read((tx) => tx.executions.count(checked)) };
  }

  /** Deletes a closed execution now, with its history (as retention would). Refuses an open one. */
  async delete(workflowId: string, runId: string | undefined): Promise<void> {
    await this.h.writes.enqueue(async (tx, fx) => {
      const exec = await mustFind(tx, workflowId, runId);
      await deleteRun(tx, exec);
      fx.deleted.push(exec);
    }, true);
  }

  /** Waits for the run to close, following continue-as-new and retries to the last run. */
  async result(workflowId: string, runId: string | undefined): Promise<WorkflowOutcome> {
    const find = (runId: string | undefined) => this.h.store.read((tx) => mustFind(tx, workflowId, runId));
    let exec = await find(runId);
    // A run this host saw can be gone when it looks again: its store dropped writes it had not
    // flushed (another connection wrote first), the run among them. It looks again from the
    // start, a few times at most (a run deleted meanwhile is not found, rightly, in the end).
    let lookedAgain = 0;
    const findNext = (next: string): Promise<ExecutionRecord> =>
      find(next).catch((error: unknown) => {
        if (!(error instanceof WorkflowNotFoundError) || lookedAgain++ >= 3) throw error;
        return find(runId);
      });
    for (;;) {
      let next = exec.nextRunId;
      if (exec.status === 'RUNNING') {
        // Registered before reading again, so a close in between is not missed.
        const closed = this.h.wakeups.nextClose(exec.runId);
        if ((await find(exec.runId)).status === 'RUNNING') await closed;
        if (!this.h.leadership.lease) throw leaseLost();
        next = exec.runId;
      } else if (next === undefined) {
        // The record has a completed run's result: no history to read.
        if (exec.status === 'COMPLETED' && 'result' in exec)
          return { status: 'COMPLETED', runId: exec.runId, result: exec.result };
        // Its closing event is its last.
        const closing = await this.h.store.read((tx) => tx.history.read(exec.runId, exec.nextEventId - 1));
        return outcomeOf(exec, closing.at(-1));
      }
      exec = await findNext(next);
    }
  }

  /**
   * The flat API with errors as records, for Comlink or an in-process client. A host that does
   * not lead forwards calls to the leader; only `watch` stays here (the leader's notes feed it).
   */
  api(): EngineApi {
    const api: Record<string, (...args: never[]) => Promise<unknown>> = {
      watch: async (listener: (changes: WorkflowChange[]) => void) => this.h.wakeups.watch(listener),
      unwatch: async (id: number) => this.h.wakeups.unwatch(id),
    };
    for (const method of FORWARDED) {
      api[method] = async (...args: unknown[]): Promise<Reply<unknown>> => {
        // A start without a queue goes to the first queue of the host the client called; it
        // gets its request ID here, before it may be sent (and sent again) to the leader.
        // Signal-with-start too: sent again, it must neither start a second run nor signal twice.
        const options = args[1] as WorkflowStartOptions | undefined;
        const starts = method === 'start' || method === 'signalWithStart';
        if (starts && typeof options === 'object' && options !== null) {
          args[1] = {
            ...options,
            taskQueue: options.taskQueue ?? this.h.taskQueues[0] ?? 'default',
            requestId: options.requestId ?? crypto.randomUUID(),
          };
        }
        // Signals, cancels, terminates and updates too: a resend must not take effect twice.
        const at = REQUEST_ID_AT[method as keyof typeof REQUEST_ID_AT];
        if (at !== undefined && args[at] === undefined) {
          args.length = Math.max(args.length, at + 1);
          args[at] = crypto.randomUUID();
        }
        const giveUp = realNow() + CONFLICT_PATIENCE * (this.h.options.leaseTimeout ?? 5_000);
        for (let wait = 5; ; wait = Math.min(2 * wait, CONFLICT_MAX_WAIT)) {
          // Stopped (its database deleted, cleared or upgraded, or shut down): it says why, rather
          // than send the call to a leader that may never come.
          if (this.h.stopped) return reply(() => this.#stopped());
          const answer = this.h.leadership.lease
            ? await this.local(method, args)
            : await this.h.peers.call('', method, args);
          // The lease was lost meanwhile (another host wrote), here or by the leader that was
          // answering: the (next) leader answers instead. Until this host knows who that is,
          // the one it knows would refuse again: it waits for news, or a while.
          const lost = 'error' in answer && /^(LeaseLost|StoreConflict)Error$/.test(answer.error.name);
          if (!lost || realNow() >= giveUp) return answer;
          let timer: ReturnType<typeof setTimeout> | undefined;
          await Promise.race([
            this.h.leadership.changed(),
            new Promise<void>((resolve) => {
              timer = setTimeout(resolve, wait);
            }),
          ]);
          clearTimeout(timer);
          await this.h.leadership.electing;
        }
      };
    }
    return api as unknown as EngineApi;
  }

  /** Why a stopped host answers no call: its store's reason, if it closed, or the shutdown. */
  async #stopped(): Promise<never> {
    await this.h.store.read(async () => undefined);
    throw new Error('This engine was shut down');
  }

  /** Answers a client call here: the host's method of the same name (`start`: `startWorkflow`), its errors as records. */
  local(method: Forwarded, args: unknown[], forwarded = false): Promise<Reply<unknown>> {
    const host = this as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    return reply(async () => {
      // Only a forwarded call can be sent again (to the next leader): only its ID is kept.
      // (An update's ID is the client's too, and always kept.)
      const at = REQUEST_ID_AT[method as keyof typeof REQUEST_ID_AT];
      if (at !== undefined && method !== 'update') {
        const requestId = args[at];
        if (requestId !== undefined && typeof requestId !== 'string')
          throw new InvalidArgumentError('A request ID must be a string');
        if (!forwarded) args = args.slice(0, at);
      }
      let value: unknown;
      try {
        // The starts are told whether the call was forwarded (a resend may be among those).
        value =
          method === 'start'
            ? await this.startWorkflow(args[0] as string, args[1] as WorkflowStartOptions, forwarded)
            : method === 'signalWithStart'
              ? await this.signalWithStart(
                  args[0] as string,
                  args[1] as WorkflowSignalWithStartOptions,
                  forwarded,
                )
              : await host[method]!(...args);
      } catch (error) {
        // A refusal is an answer too: it may come from a view of the database that a lost
        // flush takes back (a host that believed it led, on a view from before another's
        // writes). Told once that view is durable; if it is not, the conflict is the answer.
        await this.h.store.flushed();
        throw error;
      }
      // A read may see writes not yet durable: it answers once they are, so a client is
      // never told of a state a crash could take back.
      if (FORWARDED.indexOf(method) >= FIRST_READ) await this.h.store.flushed();
      return value;
    });
  }
}

/**
 * A run's whole history, refused with `CorruptRecordError` when it is not what weft writes: a
 * client is never handed, nor a query answered from, a damaged history.
 */
async function wholeHistory(tx: StoreTx, exec: ExecutionRecord): Promise<HistoryEvent[]> {
  const events = await tx.history.read(exec.runId);
  const problem = historyProblem(events, exec.nextEventId);
  if (problem !== undefined)
    throw new CorruptRecordError(
      `The history of '${exec.workflowId}' (run ${exec.runId}) is corrupt: ${problem}`,
    );
  return events;
}
