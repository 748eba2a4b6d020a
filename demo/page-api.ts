/**
 * What the playground page exposes as `window.weft`, for the console and for the e2e tests
 * (which drive the real page client, worker, Comlink and IndexedDB through it).
 */
import type * as errors from '../src/client/index.ts';
import type { Client } from '../src/client/index.ts';
import type { EffectRecord } from './effects.ts';

export interface WeftPage {
  client: Client;
  /** The engine's database name (`?db=`, default `weft-demo`). */
  db: string;
  /** The deployed workflow code (`?variant=`, default `v1`). */
  variant: string;
  /** Every activity side effect recorded so far in this database's effects database. */
  effects(): Promise<EffectRecord[]>;
  /**
   * Kills the worker and connects to a fresh one (same database): nothing is lost. `meanwhile`
   * runs in between, with no engine on the database (the e2e tests damage records there).
   */
  restartWorker(meanwhile?: () => Promise<void>): Promise<void>;
  /** The client's error classes, for `instanceof` checks in the page. */
  errors: {
    WorkflowFailedError: typeof errors.WorkflowFailedError;
    CancelledFailure: typeof errors.CancelledFailure;
    TerminatedFailure: typeof errors.TerminatedFailure;
    InvalidArgumentError: typeof errors.InvalidArgumentError;
    WorkflowNotFoundError: typeof errors.WorkflowNotFoundError;
    WorkflowExecutionAlreadyStartedError: typeof errors.WorkflowExecutionAlreadyStartedError;
    ApplicationFailure: typeof errors.ApplicationFailure;
    ChildWorkflowFailure: typeof errors.ChildWorkflowFailure;
    TimeoutFailure: typeof errors.TimeoutFailure;
  };
  /** Shows one execution's details and history in the page. */
  select(workflowId: string | undefined): Promise<void>;
}

declare global {
  interface Window {
    weft: WeftPage;
  }
}
