import type { HistoryEvent } from '../engine/events.ts';
import {
  fromErrorRecord,
  fromFailureRecord,
  InvalidArgumentError,
  WorkflowFailedError,
} from '../engine/failure.ts';
import type {
  EngineApi,
  Reply,
  WorkflowChange,
  WorkflowDescription,
  WorkflowListFilter,
  WorkflowListPage,
  WorkflowListQuery,
  WorkflowSignalWithStartOptions,
  WorkflowStartOptions,
} from '../protocol/api.ts';

type Named = string | { name: string };
const nameOf = (def: Named): string => (typeof def === 'string' ? def : def.name);

/**
 * The definitions `defineSignal`, `defineQuery` and `defineUpdate` make, by shape (the client
 * does not import workflow code): their type parameters check a call's arguments and result.
 */
interface SignalDef<Args extends unknown[]> {
  type: 'signal';
  name: string;
  __args?: Args;
}
interface QueryDef<Ret, Args extends unknown[]> {
  type: 'query';
  name: string;
  __args?: Args;
  __ret?: Ret;
}
interface UpdateDef<Ret, Args extends unknown[]> {
  type: 'update';
  name: string;
  __args?: Args;
  __ret?: Ret;
}
/** A workflow function, as the client is given it to start by. */
type WorkflowFn = (...args: never[]) => Promise<unknown>;
/** Start options whose `args` are the workflow function's parameters (required unless it takes none). */
export type StartOptionsOf<Args extends unknown[]> = Omit<WorkflowStartOptions, 'args'> &
  ([] extends Args ? { args?: Args } : { args: Args });
/** `signalWithStart`'s signal: a definition checks `signalArgs` (required unless it takes none); a name takes any. */
type SignalOptionsOf<S> = { signal: S } & (S extends SignalDef<infer Args>
  ? [] extends Args
    ? { signalArgs?: Args }
    : { signalArgs: Args }
  : { signalArgs?: unknown[] });
/** `signalWithStart`'s options: a start's (see {@link StartOptionsOf}), and the signal with its arguments. */
export type SignalWithStartOptionsOf<Args extends unknown[], S> = StartOptionsOf<Args> & SignalOptionsOf<S>;
/** A signal as `signalWithStart` takes it: its definition, or its name. */
type SignalRef = SignalDef<unknown[]> | string;
/** `executeUpdate`'s options, whose `args` are the update's (required unless it takes none). */
type UpdateOptionsOf<Args extends unknown[]> = [] extends Args
  ? [options?: { args?: Args; updateId?: string }]
  : [options: { args: Args; updateId?: string }];

/**
 * Calls the engine. `payload`, the caller's data, is checked first: calls travel batched
 * (see `batchingEndpoint`), so postMessage can no longer refuse one alone, synchronously.
 */
async function unwrap<T>(call: () => Promise<Reply<T>>, payload?: unknown): Promise<T> {
  let reply: Reply<T>;
  try {
    if (payload !== undefined) structuredClone(payload);
    reply = await call();
  } catch (error) {
    // Refused before anything reaches the worker.
    if (error instanceof Error && error.name === 'DataCloneError') {
      throw new InvalidArgumentError(
        `Arguments cannot be sent to the engine: not structured-cloneable (${error.message})`,
      );
    }
    if (error instanceof Error) throw fromErrorRecord({ name: error.name, message: error.message });
    throw error;
  }
  if ('error' in reply) throw fromErrorRecord(reply.error);
  return reply.ok;
}

/**
 * A handle on a workflow execution (the current run of its ID, or one run).
 * @example await client.workflow.getHandle('order-1').signal('approve', 'alice');
 */
export class WorkflowHandle<R = unknown> {
  constructor(
    private readonly api: EngineApi,
    readonly workflowId: string,
    readonly runId?: string,
    readonly firstExecutionRunId?: string,
  ) {}

  /**
   * Waits for the workflow to close, following continue-as-new and retries.
   * @throws WorkflowFailedError with the failure as `cause` if it did not complete.
   */
  async result(): Promise<R> {
    const outcome = await unwrap(() => this.api.result(this.workflowId, this.runId));
    if (outcome.status === 'COMPLETED') return outcome.result as R;
    throw new WorkflowFailedError(
      `Workflow execution ${outcome.status.toLowerCase().replace('_', ' ')}`,
      fromFailureRecord(outcome.failure),
      outcome.retryState,
    );
  }

  /** Sends a signal: with a definition, its arguments are checked; a name takes any. */
  signal<Args extends unknown[]>(def: SignalDef<Args>, ...args: Args): Promise<void>;
  signal(def: string, ...args: unknown[]): Promise<void>;
  signal(def: Named, ...args: unknown[]): Promise<void> {
    return unwrap(() => this.api.signal(this.workflowId, this.runId, nameOf(def), args), args);
  }

  /** Runs a query: with a definition, its arguments and result are checked; a name takes any. */
  query<T, Args extends unknown[]>(def: QueryDef<T, Args>, ...args: Args): Promise<T>;
  query<T = unknown>(def: string, ...args: unknown[]): Promise<T>;
  query<T = unknown>(def: Named, ...args: unknown[]): Promise<T> {
    return unwrap(() => this.api.query(this.workflowId, this.runId, nameOf(def), args), args) as Promise<T>;
  }

  /**
   * Runs an update and waits for its result. The same `updateId` again (as Temporal's) runs it
   * once and gives the first call's outcome.
   * @example await handle.executeUpdate(setLimit, { args: [10] })
   */
  executeUpdate<T, Args extends unknown[]>(
    def: UpdateDef<T, Args>,
    ...options: UpdateOptionsOf<Args>
  ): Promise<T>;
  executeUpdate<T = unknown>(def: string, options?: { args?: unknown[]; updateId?: string }): Promise<T>;
  executeUpdate<T = unknown>(def: Named, options?: { args?: unknown[]; updateId?: string }): Promise<T> {
    const args = options?.args ?? [];
    return unwrap(
      () => this.api.update(this.workflowId, this.runId, nameOf(def), args, options?.updateId),
      args,
    ) as Promise<T>;
  }

  cancel(reason?: string): Promise<void> {
    return unwrap(() => this.api.cancel(this.workflowId, this.runId, reason));
  }

  terminate(reason?: string): Promise<void> {
    return unwrap(() => this.api.terminate(this.workflowId, this.runId, reason));
  }

  describe(): Promise<WorkflowDescription> {
    return unwrap(() => this.api.describe(this.workflowId, this.runId));
  }

  async fetchHistory(): Promise<{ events: HistoryEvent[] }> {
    return { events: await unwrap(() => this.api.history(this.workflowId, this.runId)) };
  }

  /**
   * Deletes this execution now, with its history, as retention later would: the run this handle
   * names, or the workflow's current run. Only a closed execution can be deleted.
   */
  delete(): Promise<void> {
    return unwrap(() => this.api.delete(this.workflowId, this.runId));
  }
}

/**
 * The handle `signalWithStart` returns: on the workflow ID (following continue-as-new), with the
 * run that got the signal, as Temporal's `WorkflowHandleWithSignaledRunId`.
 */
export class WorkflowHandleWithSignaledRunId<R = unknown> extends WorkflowHandle<R> {
  constructor(
    api: EngineApi,
    workflowId: string,
    /** The run that got the signal: the one already running, or the one this call started. */
    readonly signaledRunId: string,
    firstExecutionRunId?: string,
  ) {
    super(api, workflowId, undefined, firstExecutionRunId);
  }
}

/** `client.workflow`: start workflows, get handles, list and watch executions. */
export class WorkflowClient {
  constructor(
    private readonly api: EngineApi,
    private readonly wrapListener: <F extends (...args: never[]) => unknown>(fn: F) => F = (fn) => fn,
  ) {}

  /**
   * Starts a workflow.
   * @example const handle = await client.workflow.start('order', { workflowId: 'order-1', args: [cart] });
   */
  start<W extends WorkflowFn>(
    workflow: W,
    options: StartOptionsOf<Parameters<W>>,
  ): Promise<WorkflowHandle<Awaited<ReturnType<W>>>>;
  start<R = unknown>(workflowType: string, options: WorkflowStartOptions): Promise<WorkflowHandle<R>>;
  async start<R = unknown>(
    workflowType: string | WorkflowFn,
    options: WorkflowStartOptions,
  ): Promise<WorkflowHandle<R>> {
    const type = typeof workflowType === 'string' ? workflowType : workflowType.name;
    const started = await unwrap(() => this.api.start(type, options), options);
    return new WorkflowHandle<R>(this.api, started.workflowId, undefined, started.runId);
  }

  /** Starts a workflow and waits for its result (arguments and result checked as `start`'s). */
  execute<W extends WorkflowFn>(
    workflow: W,
    options: StartOptionsOf<Parameters<W>>,
  ): Promise<Awaited<ReturnType<W>>>;
  execute<R = unknown>(workflowType: string, options: WorkflowStartOptions): Promise<R>;
  async execute<R = unknown>(workflowType: string | WorkflowFn, options: WorkflowStartOptions): Promise<R> {
    const handle = await (
      this.start as (t: string | WorkflowFn, o: WorkflowStartOptions) => Promise<WorkflowHandle<R>>
    )(workflowType, options);
    return handle.result();
  }

  /**
   * Signals the workflow ID's running execution or, if none is running, starts one with the
   * signal, atomically, as Temporal's `signalWithStart`: a new run's first activation has the
   * signal (a handler set at the top of the workflow sees it). A running execution keeps going
   * and the start options are not used; a closed one is followed by a new run under
   * `workflowIdReusePolicy`. Arguments are checked as `start`'s, `signalArgs` against a
   * `defineSignal` definition (a name takes any).
   * @example
   * const handle = await client.workflow.signalWithStart(cart, { workflowId: 'cart-7', signal: addItem, signalArgs: ['pen'] });
   */
  signalWithStart<W extends WorkflowFn, S extends SignalRef>(
    workflow: W,
    options: SignalWithStartOptionsOf<Parameters<W>, S>,
  ): Promise<WorkflowHandleWithSignaledRunId<Awaited<ReturnType<W>>>>;
  signalWithStart<R = unknown, S extends SignalRef = SignalRef>(
    workflowType: string,
    options: WorkflowStartOptions & SignalOptionsOf<S>,
  ): Promise<WorkflowHandleWithSignaledRunId<R>>;
  async signalWithStart<R = unknown>(
    workflowType: string | WorkflowFn,
    options: WorkflowStartOptions & { signal: SignalRef; signalArgs?: unknown[] },
  ): Promise<WorkflowHandleWithSignaledRunId<R>> {
    const type = typeof workflowType === 'string' ? workflowType : workflowType.name;
    // A missing signal stays missing: the engine refuses it by name.
    const wire: WorkflowSignalWithStartOptions = {
      ...options,
      signal: options.signal && nameOf(options.signal),
    };
    const { workflowId, runId, started } = await unwrap(() => this.api.signalWithStart(type, wire), wire);
    // A run it started is the first of its chain; a running one it found may not be.
    return new WorkflowHandleWithSignaledRunId<R>(this.api, workflowId, runId, started ? runId : undefined);
  }

  /** A handle on an existing workflow (its current run unless `runId` is given). */
  getHandle<R = unknown>(workflowId: string, runId?: string): WorkflowHandle<R> {
    return new WorkflowHandle<R>(this.api, workflowId, runId, runId);
  }

  /**
   * Executions matching the filter, newest first, read one page at a time from the engine's
   * indexes (as Temporal's `list`): iterate it with `for await`. Awaiting it reads every page
   * into one array: fine for a few thousand, not for a database of a year.
   * @example for await (const wf of client.workflow.list({ status: 'RUNNING' })) console.log(wf.workflowId);
   */
  list(
    filter: WorkflowListFilter & { pageSize?: number } = {},
  ): PromiseLike<WorkflowDescription[]> & AsyncIterable<WorkflowDescription> {
    const pages = async function* (this: WorkflowClient): AsyncGenerator<WorkflowDescription> {
      let nextPageToken: string | undefined;
      do {
        const page: WorkflowListPage = await this.listPage({
          ...filter,
          ...(nextPageToken && { nextPageToken }),
        });
        yield* page.executions;
        nextPageToken = page.nextPageToken;
      } while (nextPageToken !== undefined);
    }.bind(this);
    const all = async (): Promise<WorkflowDescription[]> => {
      const out: WorkflowDescription[] = [];
      for await (const execution of pages()) out.push(execution);
      return out;
    };
    return {
      // biome-ignore lint/suspicious/noThenProperty: deliberately thenable, so `await list()` gives an array
      then: (onFulfilled, onRejected) => all().then(onFulfilled, onRejected),
      [Symbol.asyncIterator]: () => pages(),
    };
  }

  /**
   * One page of the executions matching the filter, newest first, for a UI that pages: pass the
   * `nextPageToken` it returns to get the next page (absent on the last one). Executions started
   * after the first page never appear on later ones, so no execution is skipped or repeated.
   * @example const { executions, nextPageToken } = await client.workflow.listPage({ status: 'FAILED', pageSize: 50 });
   */
  listPage(query: WorkflowListQuery = {}): Promise<WorkflowListPage> {
    return unwrap(() => this.api.listPage(query), query);
  }

  /** How many executions match the filter, answered from the engine's indexes. */
  count(filter: WorkflowListFilter = {}): Promise<{ count: number }> {
    return unwrap(() => this.api.count(filter), filter);
  }

  /** Deletes a closed execution now, with its history (the workflow's current run unless `runId` is given). */
  delete(workflowId: string, runId?: string): Promise<void> {
    return unwrap(() => this.api.delete(workflowId, runId));
  }

  /**
   * Calls `listener` with every change to any execution (starts, progress, closes).
   * @returns a function that stops watching.
   */
  watch(listener: (changes: WorkflowChange[]) => void): () => void {
    const id = this.api.watch(this.wrapListener(listener));
    return () => {
      void id.then((n) => this.api.unwatch(n));
    };
  }
}
