/**
 * Every pattern of the playground's gallery (SPEC 6), run in weft with its default arguments,
 * and every execution it makes (the children included), exported with `toTemporalHistory`,
 * replays in Temporal's own `Worker.runReplayHistories` against the playground's workflow code
 * bundled for Temporal (`weft/workflow` resolved to `@temporalio/workflow`).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { DefaultLogger, Runtime, Worker, type WorkflowBundle } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as activities from '../../demo/activities.ts';
import { SAMPLES } from '../../demo/gallery.ts';
import { createEngine, type HistoryEvent, memoryStore } from '../../src/index.ts';
import { toTemporalHistory } from '../../src/temporal/index.ts';
import * as playground from './fixtures/playground-workflows.ts';
import { bundleForTemporal } from './fixtures/temporal-bundle.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const quiet = new DefaultLogger('ERROR');

/** The executions the patterns leave running on purpose (ABANDON): they are not replayed. */
const STAY_RUNNING = new Set(['pattern-close-policies-ABANDON', 'pattern-fire-and-forget-follow-up']);

interface Run {
  pattern: string;
  workflowId: string;
  status: string;
  events: HistoryEvent[];
}

let bundle: WorkflowBundle;
const runs: Run[] = [];

beforeAll(async () => {
  // The playground's activities record their effects in a database named by the page's `?db=`.
  vi.stubGlobal('location', new URL('http://localhost/?db=temporal-patterns'));
  Runtime.install({
    logger: quiet,
    telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' } } },
  });
  bundle = await bundleForTemporal(path.join(root, 'test/unit/fixtures/playground-workflows.ts'), quiet);
  const engine = await createEngine({ workflows: playground, activities, store: memoryStore() });
  const wf = engine.client.workflow;
  try {
    for (const sample of SAMPLES) {
      const workflowId = `pattern-${sample.id}`;
      // A failing child's parent may fail: that is its outcome, recorded like any other.
      await wf.execute(sample.workflowType, { workflowId, args: sample.args }).catch(() => undefined);
    }
    // Children that close in their own time once their parent has (REQUEST_CANCEL, say): every
    // one is waited for, but those the patterns leave running on purpose.
    await vi.waitFor(
      async () => {
        const running = (await wf.list()).filter(
          (e) => e.status === 'RUNNING' && !STAY_RUNNING.has(e.workflowId),
        );
        expect(running.map((e) => e.workflowId)).toEqual([]);
      },
      { timeout: 15_000, interval: 10 },
    );
    for (const execution of await wf.list()) {
      if (execution.status === 'RUNNING') continue;
      const pattern = SAMPLES.find((s) => execution.workflowId.startsWith(`pattern-${s.id}`))?.id;
      const { events } = await wf.getHandle(execution.workflowId, execution.runId).fetchHistory();
      runs.push({
        pattern: pattern ?? execution.workflowId,
        workflowId: execution.workflowId,
        status: execution.status,
        events,
      });
    }
  } finally {
    await engine.shutdown();
  }
}, 180_000);

afterAll(() => {
  vi.unstubAllGlobals();
});

describe("the playground's patterns, in Temporal's replayer", () => {
  it('ran every pattern of the gallery to completion, as the playground does', () => {
    const parents = SAMPLES.map((s) => [s.id, runs.find((r) => r.workflowId === `pattern-${s.id}`)?.status]);
    expect(parents).toEqual(SAMPLES.map((s) => [s.id, 'COMPLETED']));
  });

  it('replays every execution of every pattern, children included, with the same workflow code', async () => {
    const replayed = runs;
    const failed: Record<string, string> = {};
    let i = 0;
    for await (const result of Worker.runReplayHistories(
      { workflowBundle: bundle, replayName: 'playground' },
      replayed.map((r) => ({ workflowId: r.workflowId, history: historyFromJSON(toTemporalHistory(r)) })),
    )) {
      const run = replayed[i++]!;
      if (result.error) failed[`${run.workflowId} (${run.status})`] = result.error.message;
    }
    expect(i).toBe(replayed.length);
    expect(replayed.length).toBeGreaterThan(SAMPLES.length);
    expect(failed).toEqual({});
  }, 120_000);
});
