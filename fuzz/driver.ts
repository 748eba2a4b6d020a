/**
 * The client side of a seed: starts the roots, sends the signals, cancels, terminates and
 * releases the programs ask for, queries now and then, and waits for every execution to close.
 * A call to a host that dies is sent again to another (the client cannot know whether it took
 * effect): each attempt's time span is kept, so the checks know which calls a crash may have
 * doubled.
 */
import type { WorkflowClient } from '../src/client/client.ts';
import { realTime } from './clock.ts';
import type { Expectation, ExpectedExecution, Program, TraceItem } from './program.ts';
import { activityKey } from './program.ts';
import type { Rng } from './random.ts';

/** What the driver needs from where the hosts live (Node's {@link World}, or a browser page). */
export interface Hosts {
  /**
   * Runs `fn` with the client of a live host; if that host dies first, rejects with an error
   * named `HostDied` (the call may or may not have taken effect).
   */
  withClient<T>(fn: (client: WorkflowClient) => Promise<T>): Promise<T>;
  /** Whether an activity key has run at least once (a `report` was made). */
  hasEffect(key: string): boolean;
}

/** One attempt at a call that changes something. */
export interface Send {
  kind: 'start' | 'signal' | 'cancel' | 'terminate' | 'release';
  workflowId: string;
  id?: string;
  start: number;
  /** When the answer came (absent: no answer, its host died or the seed ended). */
  end?: number;
  /** The error it answered with, by name. */
  error?: string;
}

export type Outcome =
  | { ok: true; value: unknown }
  | { ok: false; name: string; cause?: string; message?: string; said?: string };

export interface DriverRecord {
  sends: Send[];
  queries: { workflowId: string; answer: unknown }[];
  results: Map<string, Outcome>;
  /** Executions not closed when the driver gave up, with the status last seen. */
  open: Map<string, string>;
  /** Calls refused where the program says they succeed. */
  refusals: string[];
  /** What the driver still waits for (when it gives up: what it never got). */
  waiting: Set<string>;
  /** The driver's progress, for a seed that gives up. */
  log: string[];
}

class Stopped extends Error {}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class Driver {
  readonly record: DriverRecord = {
    sends: [],
    queries: [],
    results: new Map(),
    open: new Map(),
    refusals: [],
    waiting: new Set(),
    log: [],
  };
  #stopped = false;

  constructor(
    private readonly hosts: Hosts,
    private readonly expectation: Expectation,
    private readonly rng: Rng,
  ) {}

  /** Gives up: every call in progress ends at its next attempt. */
  stop(): void {
    this.#stopped = true;
  }

  /** Calls `fn` on a live host until a host answers; HostDied means: again, elsewhere. */
  async #call<T>(fn: (client: WorkflowClient) => Promise<T>, send?: Omit<Send, 'start'>): Promise<T> {
    for (;;) {
      if (this.#stopped) throw new Stopped();
      const attempt: Send | undefined = send && { ...send, start: realTime() };
      if (attempt) this.record.sends.push(attempt);
      try {
        const value = await this.hosts.withClient(fn);
        if (attempt) attempt.end = realTime();
        return value;
      } catch (error) {
        const name = (error as Error)?.name;
        if (name === 'HostDied') continue;
        if (attempt) {
          attempt.end = realTime();
          attempt.error = name;
        }
        throw error;
      }
    }
  }

  /** Like {@link #call}, sent again while the target does not exist yet. */
  async #callUntilFound<T>(
    fn: (client: WorkflowClient) => Promise<T>,
    send: Omit<Send, 'start'>,
  ): Promise<T> {
    for (;;) {
      try {
        return await this.#call(fn, send);
      } catch (error) {
        if ((error as Error)?.name !== 'WorkflowNotFoundError') throw error;
        // Not there yet (a child not started), or there and closed: then it is too late.
        const closed = await this.#call((client) => client.getHandle(send.workflowId).describe()).then(
          (d) => d.status !== 'RUNNING',
          () => false,
        );
        if (closed) {
          // Closed: fine if an earlier attempt, whose host died before it answered, took effect.
          const interrupted = this.record.sends.some(
            (s) =>
              s.kind === send.kind &&
              s.workflowId === send.workflowId &&
              s.id === send.id &&
              s.end === undefined,
          );
          if (interrupted) return undefined as T;
          throw error;
        }
        await sleep(this.rng.int(2, 15));
      }
    }
  }

  async #start(workflowId: string, program: Program): Promise<void> {
    try {
      await this.#call(
        (client) =>
          client.start('fuzz', {
            workflowId,
            args: [program],
            requestId: `${workflowId}:start`,
            workflowIdReusePolicy: 'REJECT_DUPLICATE',
          }),
        { kind: 'start', workflowId },
      );
    } catch (error) {
      // A start sent again after its host died, that had taken effect.
      if ((error as Error)?.name !== 'WorkflowExecutionAlreadyStartedError') throw error;
    }
  }

  /** Everything the client does for one root and the executions under it. */
  async #drive(root: ExpectedExecution, tree: ExpectedExecution[]): Promise<void> {
    const { workflowId } = root;
    this.record.log.push(`${realTime() % 100000} start ${workflowId}`);
    await this.#start(workflowId, root.program!);
    this.record.log.push(`${realTime() % 100000} started ${workflowId}`);
    const tasks: Promise<unknown>[] = [];
    const labels: string[] = [];
    for (const execution of tree) {
      for (const id of execution.clientSignals) {
        const delay = this.rng.int(0, 40);
        labels.push(`signal ${id} to ${execution.workflowId}`);
        tasks.push(
          sleep(delay).then(() =>
            this.#callUntilFound((client) => client.getHandle(execution.workflowId).signal('sig', id), {
              kind: 'signal',
              workflowId: execution.workflowId,
              id,
            }),
          ),
        );
      }
      if (execution.releasedByClient) {
        const delay = this.rng.int(0, 60);
        labels.push(`release ${execution.workflowId}`);
        tasks.push(
          sleep(delay).then(() =>
            this.#callUntilFound((client) => client.getHandle(execution.workflowId).signal('release'), {
              kind: 'release',
              workflowId: execution.workflowId,
            }),
          ),
        );
      }
    }
    if (root.endedByClient === 'cancel') {
      labels.push('cancel');
      tasks.push(
        sleep(this.rng.int(0, 60)).then(() =>
          this.#idempotent((client) => client.getHandle(workflowId).cancel(), 'cancel', workflowId),
        ),
      );
    }
    if (root.endedByClient === 'terminate') {
      labels.push('terminate once reported');
      tasks.push(
        (async () => {
          // Once it has reported (its steps are done), it only waits to be terminated. The
          // report's effect says it ran, not that its run got there for good (a crash may take
          // back the writes it ran after): the run says so, durably, when asked.
          for (;;) {
            if (this.#stopped) throw new Stopped();
            if (
              this.hosts.hasEffect(activityKey(workflowId, 'report')) &&
              (await this.#call((client) => client.getHandle(workflowId).query('reported')).catch(
                () => false,
              ))
            )
              break;
            await sleep(10);
          }
          await this.#idempotent(
            (client) => client.getHandle(workflowId).terminate('fuzz'),
            'terminate',
            workflowId,
          );
        })(),
      );
    }
    const queries = this.rng.int(0, 3);
    for (let i = 0; i < queries; i++) {
      labels.push('query');
      tasks.push(
        sleep(this.rng.int(0, 80)).then(async () => {
          try {
            const answer = await this.#call((client) => client.getHandle(workflowId).query('trace'));
            this.record.queries.push({ workflowId, answer });
          } catch {
            // A query may fail (the run closed, no host answered in time): only answers are checked.
          }
        }),
      );
    }
    const result = this.#call((client) => client.getHandle(workflowId).result()).then(
      (value): Outcome => ({ ok: true, value }),
      (error: unknown): Outcome => {
        if (error instanceof Stopped) throw error;
        const e = error as Error & { cause?: Error };
        return {
          ok: false,
          name: e?.name,
          ...(e?.cause?.name !== undefined && { cause: e.cause.name }),
          ...(e?.cause?.message !== undefined && { message: e.cause.message }),
          // An error of its own (not a workflow failure with a cause): what it says, to diagnose.
          ...(e?.cause === undefined && e?.message !== undefined && { said: e.message }),
        };
      },
    );
    labels.push('result');
    tasks.push(result.then((outcome) => this.record.results.set(workflowId, outcome)));
    // A refusal is recorded (the checks report it), and the other calls go on.
    await Promise.all(
      tasks
        .map((task, i) => {
          const label = `${workflowId}: ${labels[i]} (#${i})`;
          this.record.waiting.add(label);
          return task.finally(() => {
            this.record.waiting.delete(label);
            this.record.log.push(`${realTime() % 100000} done ${label}`);
          });
        })
        .map((task) =>
          task.catch((error: unknown) => {
            if (error instanceof Stopped) throw error;
            this.record.refusals.push(
              `${workflowId}: ${(error as Error)?.name}: ${(error as Error)?.message}`,
            );
          }),
        ),
    );
  }

  /** A call whose resend may find its work done: WorkflowNotFoundError after a lost answer is fine. */
  async #idempotent(
    fn: (client: WorkflowClient) => Promise<unknown>,
    kind: 'cancel' | 'terminate',
    workflowId: string,
  ) {
    try {
      await this.#call(fn, { kind, workflowId });
    } catch (error) {
      const interrupted = this.record.sends.some(
        (s) => s.kind === kind && s.workflowId === workflowId && s.end === undefined,
      );
      if (!(interrupted && (error as Error)?.name === 'WorkflowNotFoundError')) throw error;
    }
  }

  /** Waits until every execution the programs imply has closed. */
  async #waitClosed(): Promise<void> {
    const pending = new Set(this.expectation.executions.keys());
    while (pending.size > 0) {
      for (const workflowId of [...pending]) {
        try {
          const d = await this.#call((client) => client.getHandle(workflowId).describe());
          this.record.open.set(workflowId, d.status);
          if (d.status !== 'RUNNING' && d.status !== 'CONTINUED_AS_NEW') {
            pending.delete(workflowId);
            this.record.open.delete(workflowId);
          }
        } catch (error) {
          if (error instanceof Stopped) throw error;
          this.record.open.set(workflowId, (error as Error)?.name ?? 'unknown');
        }
      }
      if (pending.size > 0) await sleep(10);
    }
  }

  /** Drives every root to its end; rejects with a Stopped error if stopped first. */
  async run(): Promise<void> {
    const executions = [...this.expectation.executions.values()];
    const roots = executions.filter((e) => e.program);
    for (const e of executions) this.record.open.set(e.workflowId, 'not seen');
    await Promise.all(
      roots.map((root) =>
        this.#drive(
          root,
          executions.filter(
            (e) => e.workflowId === root.workflowId || e.workflowId.startsWith(`${root.workflowId}.`),
          ),
        ),
      ),
    );
    this.record.log.push(`${realTime() % 100000} roots driven`);
    await this.#waitClosed();
  }
}

/** Whether `error` is the driver giving up. */
export const isStopped = (error: unknown): boolean => error instanceof Stopped;

/** Every trace `answer` a query may give: a prefix of the final trace. */
export function isTracePrefix(answer: unknown, trace: TraceItem[]): boolean {
  if (!Array.isArray(answer) || answer.length > trace.length) return false;
  return answer.every((item, i) => JSON.stringify(item) === JSON.stringify(trace[i]));
}
