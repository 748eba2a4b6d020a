/**
 * Helpers of the child-workflow e2e specs. Everything goes through the playground page's
 * `window.weft` (demo/page-api.ts): the real page client, worker, Comlink and IndexedDB.
 * Whatever comes back from `page.evaluate` is plain data (errors are flattened in the page,
 * where their classes are still known).
 */
import { expect, type Page, type TestInfo } from '@playwright/test';
import type {} from '../../demo/page-api.ts';
import type { ExecutionStatus, HistoryEvent, WorkflowListFilter } from '../../src/client/index.ts';

/** A database of its own for each test (and each run of it). */
export function dbName(testInfo: TestInfo): string {
  const slug = testInfo.title.replace(/[^a-z0-9]+/gi, '-').slice(0, 40);
  return `e2e-${slug}-${testInfo.repeatEachIndex}-${Date.now().toString(36)}`;
}

/** Waits until the page's engine answers on this database. */
export async function waitReady(page: Page, db: string): Promise<void> {
  await page.waitForFunction((d) => window.weft !== undefined && window.weft.db === d, db);
  // The first call answers once this page's engine has started (and loaded pending work).
  await page.evaluate(() => window.weft.client.workflow.list());
}

export async function openPlayground(page: Page, db: string): Promise<void> {
  await page.goto(`/?db=${encodeURIComponent(db)}`);
  await waitReady(page, db);
}

/** Starts a workflow from the page; returns its first run ID. */
export function start(page: Page, type: string, workflowId: string, args: unknown[] = []): Promise<string> {
  return page.evaluate(
    async ([t, id, a]) => {
      const handle = await window.weft.client.workflow.start(t, { workflowId: id, args: a });
      return handle.firstExecutionRunId as string;
    },
    [type, workflowId, args] as const,
  );
}

/** An error as plain data: its class name, what the classes carry, and its cause chain. */
export interface ErrorInfo {
  name: string;
  message: string;
  type?: string;
  details?: unknown[];
  timeoutType?: string;
  workflowType?: string;
  workflowId?: string;
  /** Which of the page's error classes it is an instance of. */
  instanceOf: string[];
  cause?: ErrorInfo;
}

export type Settled = { ok: unknown } | { error: ErrorInfo };

/** Awaits `handle.result()` in the page and reports how it settled, as plain data. */
export function outcome(page: Page, workflowId: string): Promise<Settled> {
  return page.evaluate(async (id) => {
    const { client, errors } = window.weft;
    const flatten = (e: unknown): ErrorInfo => {
      const error = e as Error & Record<string, unknown>;
      const info: ErrorInfo = {
        name: error.name,
        message: error.message,
        instanceOf: Object.entries(errors)
          .filter(([, cls]) => e instanceof cls)
          .map(([name]) => name),
      };
      if (typeof error.type === 'string') info.type = error.type;
      if (Array.isArray(error.details)) info.details = error.details;
      if (typeof error.timeoutType === 'string') info.timeoutType = error.timeoutType;
      if (typeof error.workflowType === 'string') info.workflowType = error.workflowType;
      const execution = error.workflowExecution as { workflowId?: string } | undefined;
      if (execution?.workflowId !== undefined) info.workflowId = execution.workflowId;
      if (error.cause instanceof Error) info.cause = flatten(error.cause);
      return info;
    };
    try {
      return { ok: await client.workflow.getHandle(id).result() };
    } catch (e) {
      return { error: flatten(e) };
    }
  }, workflowId);
}

/** Starts a workflow and awaits its result. */
export async function run(page: Page, type: string, workflowId: string, args: unknown[] = []) {
  await start(page, type, workflowId, args);
  return outcome(page, workflowId);
}

export interface RunInfo {
  workflowId: string;
  runId: string;
  type: string;
  status: ExecutionStatus;
  parent?: { workflowId: string; runId: string };
  startTime: number;
  closeTime?: number;
  historyLength: number;
}

export function describe(page: Page, workflowId: string, runId?: string): Promise<RunInfo> {
  return page.evaluate(
    async ([id, r]) => {
      const d = await window.weft.client.workflow.getHandle(id, r).describe();
      return {
        workflowId: d.workflowId,
        runId: d.runId,
        type: d.type,
        status: d.status,
        ...(d.parent && { parent: d.parent }),
        startTime: d.startTime.getTime(),
        ...(d.closeTime && { closeTime: d.closeTime.getTime() }),
        historyLength: d.historyLength,
      };
    },
    [workflowId, runId] as const,
  );
}

export async function status(page: Page, workflowId: string): Promise<ExecutionStatus> {
  return (await describe(page, workflowId)).status;
}

/** The runs the filter matches, in the order they started (the engine lists newest first). */
export function list(page: Page, filter: WorkflowListFilter): Promise<RunInfo[]> {
  return page.evaluate(async (f) => {
    const runs = (await window.weft.client.workflow.list(f)).reverse();
    return runs.map((d) => ({
      workflowId: d.workflowId,
      runId: d.runId,
      type: d.type,
      status: d.status,
      ...(d.parent && { parent: d.parent }),
      startTime: d.startTime.getTime(),
      ...(d.closeTime && { closeTime: d.closeTime.getTime() }),
      historyLength: d.historyLength,
    }));
  }, filter);
}

export function history(page: Page, workflowId: string, runId?: string): Promise<HistoryEvent[]> {
  return page.evaluate(
    async ([id, r]) => (await window.weft.client.workflow.getHandle(id, r).fetchHistory()).events,
    [workflowId, runId] as const,
  );
}

export async function eventTypes(page: Page, workflowId: string, runId?: string): Promise<string[]> {
  return (await history(page, workflowId, runId)).map((e) => e.eventType);
}

/** Histories of many executions in one round trip. */
export function histories(page: Page, workflowIds: string[]): Promise<Record<string, HistoryEvent[]>> {
  return page.evaluate(async (ids) => {
    const { client } = window.weft;
    const all = await Promise.all(ids.map((id) => client.workflow.getHandle(id).fetchHistory()));
    return Object.fromEntries(ids.map((id, i) => [id, all[i]?.events ?? []]));
  }, workflowIds);
}

/** Every activity side effect recorded in this database, as `{ activity, workflowId, detail }`. */
export function effects(page: Page): Promise<{ activity: string; workflowId: string; detail: string }[]> {
  return page.evaluate(async () =>
    (await window.weft.effects()).map(({ activity, workflowId, detail }) => ({
      activity,
      workflowId,
      detail,
    })),
  );
}

/** How many times each activity ran for one workflow ID. */
export async function effectCounts(page: Page, workflowId: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const e of await effects(page)) {
    if (e.workflowId === workflowId) counts[e.activity] = (counts[e.activity] ?? 0) + 1;
  }
  return counts;
}

export const CLOSING = [
  'WorkflowExecutionCompleted',
  'WorkflowExecutionFailed',
  'WorkflowExecutionCanceled',
  'WorkflowExecutionTerminated',
  'WorkflowExecutionTimedOut',
  'WorkflowExecutionContinuedAsNew',
];

/** A well-formed closed history: event IDs 1..n, exactly one closing event, and it is the last. */
export function expectWellFormed(events: HistoryEvent[], label: string): void {
  expect(
    events.map((e) => e.eventId),
    `${label}: contiguous event IDs`,
  ).toEqual(events.map((_, i) => i + 1));
  const closing = events.filter((e) => CLOSING.includes(e.eventType));
  expect(closing, `${label}: one closing event`).toHaveLength(1);
  expect(events.at(-1)?.eventType, `${label}: closing event last`).toBe(closing[0]?.eventType);
}

export function count(items: string[], item: string): number {
  return items.filter((x) => x === item).length;
}
