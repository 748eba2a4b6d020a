import type { CommandOf } from '../commands.ts';
import { ApplicationFailure, QueryNotRegisteredError, toFailureRecord } from '../failure.ts';
import { promiseOf } from '../helpers.ts';
import type { WorkflowRuntime } from '../runtime.ts';
import { setScopeContext } from '../scope.ts';
import { type RuntimeCore, setActiveRuntime } from './core.ts';

/** A function workflow code hands the runtime: its main function, or a handler. */
export type Handler = (...args: unknown[]) => unknown;

/**
 * The handlers workflow code registers for signals, queries and updates, and what they make of
 * the `SignalWorkflow` and `DoUpdate` jobs and of queries.
 */
export class Handlers {
  readonly #signalHandlers = new Map<string, Handler>();
  #defaultSignalHandler: ((signalName: string, ...args: unknown[]) => unknown) | undefined;
  readonly #bufferedSignals: { signalName: string; input: unknown[] }[] = [];
  readonly #queryHandlers = new Map<string, Handler>();
  readonly #updateHandlers = new Map<string, { handler: Handler; validator?: Handler }>();
  readonly #core: RuntimeCore;
  /** The runtime these handlers belong to: a query runs with it active. */
  readonly #runtime: WorkflowRuntime;

  constructor(core: RuntimeCore, runtime: WorkflowRuntime) {
    this.#core = core;
    this.#runtime = runtime;
  }

  setSignalHandler(name: string, handler: Handler | undefined): void {
    if (handler === undefined) {
      this.#signalHandlers.delete(name);
      return;
    }
    this.#signalHandlers.set(name, handler);
    for (let i = 0; i < this.#bufferedSignals.length; ) {
      const buffered = this.#bufferedSignals[i]!;
      if (buffered.signalName === name) {
        this.#bufferedSignals.splice(i, 1);
        this.#callHandler(() => handler(...buffered.input));
      } else {
        i++;
      }
    }
  }

  setDefaultSignalHandler(handler: ((signalName: string, ...args: unknown[]) => unknown) | undefined): void {
    this.#defaultSignalHandler = handler;
    if (handler === undefined) return;
    for (const buffered of this.#bufferedSignals.splice(0)) {
      this.#callHandler(() => handler(buffered.signalName, ...buffered.input));
    }
  }

  setQueryHandler(name: string, handler: Handler | undefined): void {
    if (handler === undefined) this.#queryHandlers.delete(name);
    else this.#queryHandlers.set(name, handler);
  }

  setUpdateHandler(name: string, handler: Handler | undefined, validator?: Handler): void {
    if (handler === undefined) this.#updateHandlers.delete(name);
    else this.#updateHandlers.set(name, validator ? { handler, validator } : { handler });
  }

  deliverSignal(signalName: string, input: unknown[]): void {
    setScopeContext(this.#core.rootScope);
    const handler = this.#signalHandlers.get(signalName);
    if (handler) this.#callHandler(() => handler(...input));
    else if (this.#defaultSignalHandler) {
      const fallback = this.#defaultSignalHandler;
      this.#callHandler(() => fallback(signalName, ...input));
    } else this.#bufferedSignals.push({ signalName, input });
  }

  #callHandler(fn: () => unknown): void {
    try {
      const result = fn();
      if (result instanceof Promise) result.catch((error: unknown) => this.#core.failWorkflow(error));
    } catch (error) {
      this.#core.failWorkflow(error);
    }
  }

  /** Runs a query handler against the current state. Never changes the state. */
  query(name: string, args: unknown[]): unknown {
    const handler = this.#queryHandlers.get(name);
    // Temporal's built-in query: the handlers the workflow has registered (UIs list them).
    if (name === '__temporal_workflow_metadata' && !handler) {
      const names = (handlers: Map<string, unknown>) => [...handlers.keys()].map((n) => ({ name: n }));
      return {
        definition: {
          type: this.#runtime.info.workflowType,
          queryDefinitions: names(this.#queryHandlers),
          signalDefinitions: names(this.#signalHandlers),
          updateDefinitions: names(this.#updateHandlers),
        },
      };
    }
    if (!handler) {
      throw new QueryNotRegisteredError(
        `Workflow ${this.#runtime.info.workflowType} has no query handler '${name}' (known: ${[...this.#queryHandlers.keys()].join(', ') || 'none'})`,
      );
    }
    const previous = setActiveRuntime(this.#runtime);
    try {
      return handler(...args);
    } finally {
      setActiveRuntime(previous);
    }
  }

  doUpdate(updateId: string, name: string, input: unknown[], accepted: boolean): void {
    setScopeContext(this.#core.rootScope);
    const entry = this.#updateHandlers.get(name);
    const reject = (error: unknown) =>
      this.#core.push({ type: 'RejectUpdate', updateId, failure: toFailureRecord(error) });
    if (!entry) {
      if (!accepted) {
        reject(
          ApplicationFailure.create({ message: `No update handler for '${name}'`, type: 'UnknownUpdate' }),
        );
      }
      return;
    }
    if (!accepted && entry.validator) {
      try {
        entry.validator(...input);
      } catch (error) {
        reject(error);
        return;
      }
    }
    this.#core.push({ type: 'AcceptUpdate', updateId, name, input });
    const complete = (outcome: CommandOf<'CompleteUpdate'>['outcome']) => {
      this.#core.touch();
      this.#core.push({ type: 'CompleteUpdate', updateId, outcome });
    };
    promiseOf(() => entry.handler(...input)).then(
      (value) => complete({ success: value }),
      (error: unknown) => complete({ failure: toFailureRecord(error) }),
    );
  }
}
