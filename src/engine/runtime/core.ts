import { type Command, type CommandOf, isClosingCommand } from '../commands.ts';
import { isCancellation, named, TemporalFailure, toFailureRecord } from '../failure.ts';
import type { WorkflowRuntime } from '../runtime.ts';
import { CancellationScope, setScopeContext } from '../scope.ts';

/**
 * What the parts of a run's runtime share: the commands going out (what an activation
 * returns), the tick that quiescence watches, and the error that fails the current task.
 */

let active: WorkflowRuntime | undefined;

/** The runtime whose activation is running now, if any. */
export function activeRuntime(): WorkflowRuntime | undefined {
  return active;
}

/** Makes `runtime` the active one (undefined: none); returns the one that was. */
export function setActiveRuntime(runtime: WorkflowRuntime | undefined): WorkflowRuntime | undefined {
  const previous = active;
  active = runtime;
  return previous;
}

/** Thrown by `continueAsNew` to end this run and start a fresh one. */
export class ContinueAsNew extends Error {
  // `declare`d, as in failure.ts: the property without a class field.
  declare readonly command: CommandOf<'ContinueAsNewWorkflowExecution'>;
  constructor(command: CommandOf<'ContinueAsNewWorkflowExecution'>) {
    super('Workflow continued as new');
    this.command = command;
  }
}
named(ContinueAsNew, 'ContinueAsNew');

export class RuntimeCore {
  /** The run's outermost scope: cancelling the workflow cancels it. */
  readonly rootScope = new CancellationScope({ cancellable: true, parent: 'root' });
  /** Moves at every workflow API call: quiescence waits until it stops moving. */
  tick = 0;
  inActivation = false;
  /** An error that fails the current workflow task (not the workflow). */
  taskFailure: { error: unknown } | undefined;
  #commands: Command[] = [];
  #closed = false;

  touch(): void {
    this.tick++;
  }

  /** Called by every authoring function: refuses use outside an activation. */
  assertActive(what: string): void {
    if (!this.inActivation) {
      const error = new Error(
        `${what} called outside a workflow activation: workflow code awaited a non-workflow promise (e.g. fetch, a real timer)`,
      );
      this.taskFailure ??= { error };
      throw error;
    }
    this.touch();
  }

  push(command: Command): void {
    // Temporal drops commands after the one that closes the run.
    if (this.#closed) return;
    this.#commands.push(command);
    if (isClosingCommand(command)) this.#closed = true;
  }

  /** Removes a command not yet handed out (cancelled in the same activation). */
  unsend(command: Command): boolean {
    const index = this.#commands.indexOf(command);
    if (index < 0) return false;
    this.#commands.splice(index, 1);
    return true;
  }

  /** Hands out the commands produced since the last call. */
  takeCommands(): Command[] {
    const commands = this.#commands;
    this.#commands = [];
    return commands;
  }

  /** Sets the current scope before settling an operation of that scope. */
  enter(scope: CancellationScope): void {
    setScopeContext(scope);
    this.touch();
  }

  /** What an error thrown out of workflow code (main function or a handler) means. */
  failWorkflow(error: unknown): void {
    this.touch();
    if (error instanceof ContinueAsNew) {
      this.push(error.command);
    } else if (isCancellation(error) && this.rootScope.consideredCancelled) {
      this.push({ type: 'CancelWorkflowExecution' });
    } else if (error instanceof TemporalFailure) {
      this.push({ type: 'FailWorkflowExecution', failure: toFailureRecord(error) });
    } else {
      // Temporal's rule: an error that is not a failure fails the workflow task, not the
      // workflow, so a bug can be fixed and the run resumed.
      this.taskFailure ??= { error };
    }
  }
}
