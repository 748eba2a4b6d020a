/**
 * An activity call's `cancellationType`, as Temporal's TypeScript SDK has it: TRY_CANCEL asks and
 * rejects at once, WAIT_CANCELLATION_COMPLETED (the default) asks and waits until the activity's
 * end is recorded, ABANDON rejects at once and lets the activity run on. Temporal's replayer
 * replays each of these runs (test/unit/temporal.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { createEngine, type HistoryEvent, InvalidArgumentError, memoryStore } from '../../src/index.ts';
import { proxyActivities } from '../../src/workflow/index.ts';
import * as activities from './fixtures/activities.ts';
import * as children from './fixtures/children.ts';

const slowEcho = async (x: number) => new Promise((resolve) => setTimeout(() => resolve(x), 200));

async function run(workflowType: string, args: unknown[]) {
  const engine = await createEngine({
    workflows: children,
    activities: { ...activities, slowEcho },
    store: memoryStore(),
  });
  try {
    const workflowId = `${workflowType}-${args.join('-')}`;
    const outcome = await engine.client.workflow.execute(workflowType, { workflowId, args });
    const { events } = await engine.client.workflow.getHandle(workflowId).fetchHistory();
    return { outcome, types: events.map((e: HistoryEvent) => e.eventType) };
  } finally {
    await engine.shutdown();
  }
}

/** The run's code went on (its last timer started) before the activity's end was recorded. */
const wentOnFirst = (types: string[]) =>
  types.lastIndexOf('TimerStarted') < types.indexOf('ActivityTaskCanceled');

describe("an activity's cancellation type", () => {
  it('TRY_CANCEL: asks the activity to stop and rejects at once', async () => {
    const { outcome, types } = await run('cancelsActivityWith', ['TRY_CANCEL']);
    expect(outcome).toBe('cancelled');
    expect(types).toContain('ActivityTaskCancelRequested');
    // The activity's end is recorded still, after the code went on.
    expect(types).toContain('ActivityTaskCanceled');
    expect(wentOnFirst(types)).toBe(true);
  });

  it('WAIT_CANCELLATION_COMPLETED: asks, and rejects once the activity’s end is recorded', async () => {
    const { outcome, types } = await run('cancelsActivityWith', ['WAIT_CANCELLATION_COMPLETED']);
    expect(outcome).toBe('cancelled');
    expect(types.indexOf('ActivityTaskCancelRequested')).toBeLessThan(types.indexOf('ActivityTaskCanceled'));
    expect(wentOnFirst(types)).toBe(false);
  });

  it('the default is WAIT_CANCELLATION_COMPLETED, as in Temporal’s TypeScript SDK', async () => {
    const { outcome, types } = await run('cancelsActivityAndGoesOn', []);
    expect(outcome).toBe('cancelled');
    expect(wentOnFirst(types)).toBe(false);
  });

  it('ABANDON: rejects at once, never asks, and the activity runs to its end', async () => {
    const { outcome, types } = await run('cancelsActivityWith', ['ABANDON']);
    expect(outcome).toBe('cancelled');
    expect(types).not.toContain('ActivityTaskCancelRequested');
    expect(types).toContain('ActivityTaskCompleted');
  });

  it('refuses a cancellation type it does not know, with a typed error', () => {
    expect(() =>
      proxyActivities({ startToCloseTimeout: '1s', cancellationType: 'LATER' as 'ABANDON' }),
    ).toThrow(InvalidArgumentError);
  });
});
