/**
 * weft's histories judged by Temporal's own replayer: every golden history, and a run of each
 * workflow of the fixtures, converted by `toTemporalHistory` replays in
 * `Worker.runReplayHistories` against the same workflow source bundled for Temporal (weft's
 * workflow API resolved to `@temporalio/workflow`); tampered histories are refused by both
 * replayers; and the conversion goes back again to a history weft replays.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { DefaultLogger, Runtime, Worker, type WorkflowBundle } from '@temporalio/worker';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import {
  ApplicationFailure,
  createEngine,
  DeterminismViolationError,
  type HistoryEvent,
  InvalidArgumentError,
  memoryStore,
} from '../../src/index.ts';
import {
  fromTemporalHistory,
  replayHistory,
  type TemporalHistory,
  type TemporalHistoryEvent,
  toTemporalHistory,
} from '../../src/temporal/index.ts';
import * as activities from './fixtures/activities.ts';
import * as children from './fixtures/children.ts';
import { bundleForTemporal } from './fixtures/temporal-bundle.ts';
import * as workflows from './fixtures/workflows.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const fixtures = path.join(root, 'test/unit/fixtures');

type Source = 'workflows.ts' | 'children.ts';
const registries: Record<Source, Record<string, unknown>> = {
  'workflows.ts': workflows,
  'children.ts': children,
};

/** A run to replay: its events, the source its workflow code is in, and its IDs. */
interface Run {
  name: string;
  source: Source;
  workflowId: string;
  runId: string;
  events: HistoryEvent[];
}

/** Every golden history in test/unit/golden, with the source it was recorded from (see replay*.test.ts). */
const goldenSources: [name: string, source: Source, workflowId?: string][] = [
  ['activityThenTimer', 'workflows.ts', 'activityThenTimer'],
  ['approval', 'workflows.ts', 'approval'],
  ['cancellable', 'workflows.ts', 'cancellable'],
  ['counter', 'workflows.ts', 'counter'],
  ['determinism', 'workflows.ts', 'determinism'],
  ['child-sync', 'children.ts', 'golden-sync'],
  ['child-fanOut', 'children.ts', 'golden-fanOut'],
  ['child-order', 'children.ts', 'golden-order'],
  ['child-closePolicies', 'children.ts', 'golden-closePolicies'],
  ['child-payment', 'children.ts'],
];

function golden([name, source, workflowId]: (typeof goldenSources)[number]): Run {
  const json = JSON.parse(readFileSync(path.join(root, `test/unit/golden/${name}.json`), 'utf8')) as
    | HistoryEvent[]
    | { events: HistoryEvent[]; workflowId?: string; runId?: string };
  const { events, ...ids } = Array.isArray(json) ? { events: json } : json;
  const start = events[0] as Extract<HistoryEvent, { eventType: 'WorkflowExecutionStarted' }>;
  return {
    name: `golden ${name}`,
    source,
    workflowId: workflowId ?? ids.workflowId!,
    runId: ids.runId ?? start.attributes.originalExecutionRunId,
    events,
  };
}

const goldens = goldenSources.map(golden);

/** Workflows of the fixtures run here, each with its arguments: every kind of event weft records. */
const liveStarts: Record<Source, [type: string, args: unknown[]][]> = {
  'workflows.ts': [
    ['versioned', []],
    ['failing', []],
    ['flaky', []],
    ['timeoutRace', []],
    ['scoped', []],
    ['timesOutActivity', []],
    ['activityFailsForGood', []],
  ],
  'children.ts': [
    ['asyncChild', [2]],
    ['fireAndForget', []],
    ['conditional', [500]],
    ['signalsChild', []],
    ['cancelsChild', ['ABANDON', 5]],
    ['cancelsChild', ['TRY_CANCEL', 5]],
    ['cancelsChild', ['WAIT_CANCELLATION_REQUESTED', 5]],
    ['cancelsChild', ['WAIT_CANCELLATION_COMPLETED', 5]],
    ['catchesChildFailure', []],
    ['timesOutChild', []],
    ['retriesChild', []],
    ['duplicateChild', []],
    ['initiateAndComplete', []],
    ['continuesWithChild', [0]],
    ['grandparent', []],
    ['signalsClosed', []],
    ['cancelsExternal', []],
    ['cancelsActivityAndGoesOn', []],
    ['cancelsActivityWith', ['TRY_CANCEL']],
    ['cancelsActivityWith', ['WAIT_CANCELLATION_COMPLETED']],
    ['cancelsActivityWith', ['ABANDON']],
    ['cancelsMissing', []],
    ['runTimesOutChild', []],
  ],
};

const quiet = new DefaultLogger('ERROR');

/** Runs the fixture's workflows in weft and returns every run's history, children's and continued runs' included. */
async function record(source: Source): Promise<Run[]> {
  const { resetActivities: _, calls: __, ...acts } = activities;
  const engine = await createEngine({
    workflows: registries[source],
    activities: {
      ...acts,
      echo: async (x: number) => x,
      slowEcho: async (x: number) => new Promise((resolve) => setTimeout(() => resolve(x), 200)),
      refuse: async () => {
        throw ApplicationFailure.create({ message: 'refused', type: 'Refused', nonRetryable: true });
      },
      never: () => new Promise(() => undefined),
    },
    store: memoryStore(),
  });
  const wf = engine.client.workflow;
  try {
    for (const [i, [type, args]] of liveStarts[source].entries()) {
      await wf.execute(type, { workflowId: `live-${i}-${type}`, args }).catch(() => undefined);
    }
    // A child terminated from outside, and a run blocked by a bug in its code, then terminated.
    const recorded = async (workflowId: string, eventType: HistoryEvent['eventType']) => {
      const handle = wf.getHandle(workflowId);
      for (let i = 0; i < 200; i++) {
        const history = await handle.fetchHistory().catch(() => ({ events: [] as HistoryEvent[] }));
        if (history.events.some((e) => e.eventType === eventType)) return handle;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      throw new Error(`${workflowId} never recorded ${eventType}`);
    };
    if (source === 'children.ts') {
      const parent = await wf.start('childGetsTerminated', { workflowId: 'live-terminated-child' });
      await (await recorded('to-be-terminated', 'WorkflowTaskCompleted')).terminate('from outside');
      await parent.result();
    } else {
      await wf.start('buggy', { workflowId: 'live-buggy' });
      await (await recorded('live-buggy', 'WorkflowTaskFailed')).terminate('blocked by a bug');
    }
    // Children that close in their own time (abandoned ones, cleanups): every execution closes.
    await vi.waitFor(
      async () => {
        const running = (await wf.list()).filter((e) => e.status === 'RUNNING');
        expect(running.map((e) => e.workflowId)).toEqual([]);
      },
      { timeout: 15_000, interval: 10 },
    );
    const runs: Run[] = [];
    for (const execution of await wf.list()) {
      if (execution.status === 'RUNNING') continue;
      const { events } = await wf.getHandle(execution.workflowId, execution.runId).fetchHistory();
      runs.push({
        name: `${execution.workflowId} (${execution.type}, ${execution.status})`,
        source,
        workflowId: execution.workflowId,
        runId: execution.runId,
        events,
      });
    }
    return runs.sort((a, b) => a.name.localeCompare(b.name));
  } finally {
    await engine.shutdown();
  }
}

/** The fixture bundled for Temporal: weft's workflow API resolves to `@temporalio/workflow`. */
const bundle = (source: Source): Promise<WorkflowBundle> =>
  bundleForTemporal(path.join(fixtures, source), quiet);

const bundles = new Map<Source, WorkflowBundle>();
const live: Run[] = [];

beforeAll(async () => {
  Runtime.install({
    logger: quiet,
    telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' } } },
  });
  for (const source of ['workflows.ts', 'children.ts'] as const) {
    bundles.set(source, await bundle(source));
    live.push(...(await record(source)));
  }
}, 180_000);

/**
 * Replays runs of one source in one Temporal replay worker, in order.
 * @returns each failed run's error message, by the run's name.
 */
async function temporalReplay(
  source: Source,
  runs: { name: string; workflowId: string; history: TemporalHistory }[],
) {
  const failed: Record<string, string> = {};
  const histories = runs.map(({ workflowId, history }) => ({
    workflowId,
    history: historyFromJSON(history),
  }));
  let i = 0;
  for await (const result of Worker.runReplayHistories(
    { workflowBundle: bundles.get(source)!, replayName: source.replace('.ts', '') },
    histories,
  )) {
    const run = runs[i++]!;
    expect(result.workflowId).toBe(run.workflowId);
    if (result.error) failed[run.name] = result.error.message.replace(/^.*Details: /s, '');
  }
  expect(i).toBe(runs.length);
  return failed;
}

const temporalRuns = (runs: Run[]) =>
  runs.map((r) => ({ name: r.name, workflowId: r.workflowId, history: toTemporalHistory(r) }));

describe("Temporal's replayer takes weft's histories", () => {
  for (const source of ['workflows.ts', 'children.ts'] as const) {
    it(`every golden history of ${source} replays with the same workflow source`, async () => {
      const runs = goldens.filter((g) => g.source === source);
      expect(await temporalReplay(source, temporalRuns(runs))).toEqual({});
    }, 60_000);

    it(`a run of each workflow of ${source} replays, children and continued runs included`, async () => {
      const runs = live.filter((r) => r.source === source);
      expect(runs.length).toBeGreaterThan(source === 'children.ts' ? 30 : 6);
      expect(await temporalReplay(source, temporalRuns(runs))).toEqual({});
    }, 120_000);
  }
});

/** `events` without event `eventId`, the later ones renumbered and every reference to them too. */
function dropEvent(events: HistoryEvent[], eventId: number): HistoryEvent[] {
  const shift = (id: number) => (id > eventId ? id - 1 : id);
  return events
    .filter((e) => e.eventId !== eventId)
    .map((e) => {
      const attributes: Record<string, unknown> = { ...e.attributes };
      for (const [key, value] of Object.entries(attributes)) {
        if (key.endsWith('EventId') && typeof value === 'number') attributes[key] = shift(value);
      }
      return { ...e, eventId: shift(e.eventId), attributes } as HistoryEvent;
    });
}

const goldenRun = (name: string) => goldens.find((g) => g.name === `golden ${name}`)!;

describe('a tampered history is refused by both replayers', () => {
  const approval = goldenRun('approval');
  const signal = approval.events.find((e) => e.eventType === 'WorkflowExecutionSignaled')!;
  const fanOut = goldenRun('child-fanOut');
  const tampered: (Run & { weft: RegExp; temporal: RegExp })[] = [
    {
      ...approval,
      name: 'approval without its signal',
      events: dropEvent(approval.events, signal.eventId),
      weft: /event 13: history has WorkflowExecutionCompleted, code no longer produces it/,
      temporal:
        /Nondeterminism error: No command scheduled for event HistoryEvent\(id: 13, WorkflowExecutionCompleted\)/,
    },
    {
      ...fanOut,
      name: 'fan-out of 2 where 3 were recorded',
      events: fanOut.events.map((e) =>
        e.eventType === 'WorkflowExecutionStarted'
          ? { ...e, attributes: { ...e.attributes, input: [2] } }
          : e,
      ),
      weft: /event 7: history has StartChildWorkflowExecutionInitiated, code no longer produces it/,
      temporal: /No command scheduled for event HistoryEvent\(id: 7, StartChildWorkflowExecutionInitiated\)/,
    },
  ];

  for (const t of tampered) {
    it(`${t.name}: weft says which event and command differ`, async () => {
      const error = await replayHistory({ workflows: registries[t.source] }, t).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DeterminismViolationError);
      expect((error as Error).message).toMatch(t.weft);
      // The same, from Temporal's format.
      const fromJson = await replayHistory(
        { workflows: registries[t.source], workflowId: t.workflowId, runId: t.runId },
        toTemporalHistory(t),
      ).catch((e: unknown) => e);
      expect((fromJson as Error).message).toBe((error as Error).message);
    });

    it(`${t.name}: Temporal's replayer refuses it too`, async () => {
      const failed = await temporalReplay(t.source, temporalRuns([t]));
      expect(failed[t.name]).toMatch(t.temporal);
      await expect(
        Worker.runReplayHistory(
          { workflowBundle: bundles.get(t.source)!, replayName: 'tampered' },
          historyFromJSON(toTemporalHistory(t)),
          t.workflowId,
        ),
      ).rejects.toThrow(/nondeterminism/);
    }, 60_000);
  }
});

describe('weft replays both formats', () => {
  it('every golden history and every run, as weft recorded it and converted to Temporal JSON', async () => {
    for (const run of [...goldens, ...live]) {
      const workflows = registries[run.source];
      await replayHistory({ workflows, workflowId: run.workflowId, runId: run.runId }, run);
      await replayHistory(
        { workflows, workflowId: run.workflowId, runId: run.runId },
        toTemporalHistory(run),
      );
    }
  });

  it('finds the run IDs itself: a root run from its started event, a child from the fields beside its events', async () => {
    const sync = goldenRun('child-sync');
    await replayHistory({ workflows: children }, { events: sync.events });
    const json = await readJson('child-payment');
    await replayHistory({ workflows: children }, json);
  });

  it('refuses a workflow type it was not given', async () => {
    await expect(replayHistory({ workflows: {} }, goldenRun('counter'))).rejects.toThrow(
      /Workflow type 'counter' is not registered/,
    );
  });
});

async function readJson(name: string): Promise<{ events: unknown[]; workflowId?: string; runId?: string }> {
  return JSON.parse(readFileSync(path.join(root, `test/unit/golden/${name}.json`), 'utf8')) as {
    events: unknown[];
  };
}

describe('the round trip', () => {
  it('fromTemporalHistory(toTemporalHistory(h)) gives every event back', () => {
    for (const run of [...goldens, ...live]) {
      const back = fromTemporalHistory(JSON.parse(JSON.stringify(toTemporalHistory(run))));
      expect([run.name, back.events]).toEqual([run.name, run.events]);
    }
  });
});

/** SPEC section 4: every event type weft records. */
const EVENT_TYPES = [
  'WorkflowExecutionStarted',
  'WorkflowTaskScheduled',
  'WorkflowTaskStarted',
  'WorkflowTaskCompleted',
  'WorkflowTaskFailed',
  'WorkflowTaskTimedOut',
  'ActivityTaskScheduled',
  'ActivityTaskStarted',
  'ActivityTaskCompleted',
  'ActivityTaskFailed',
  'ActivityTaskTimedOut',
  'ActivityTaskCancelRequested',
  'ActivityTaskCanceled',
  'TimerStarted',
  'TimerFired',
  'TimerCanceled',
  'WorkflowExecutionSignaled',
  'WorkflowExecutionCancelRequested',
  'WorkflowExecutionUpdateAccepted',
  'WorkflowExecutionUpdateCompleted',
  'MarkerRecorded',
  'StartChildWorkflowExecutionInitiated',
  'StartChildWorkflowExecutionFailed',
  'ChildWorkflowExecutionStarted',
  'ChildWorkflowExecutionCompleted',
  'ChildWorkflowExecutionFailed',
  'ChildWorkflowExecutionCanceled',
  'ChildWorkflowExecutionTimedOut',
  'ChildWorkflowExecutionTerminated',
  'SignalExternalWorkflowExecutionInitiated',
  'ExternalWorkflowExecutionSignaled',
  'SignalExternalWorkflowExecutionFailed',
  'RequestCancelExternalWorkflowExecutionInitiated',
  'ExternalWorkflowExecutionCancelRequested',
  'RequestCancelExternalWorkflowExecutionFailed',
  'WorkflowExecutionCompleted',
  'WorkflowExecutionFailed',
  'WorkflowExecutionCanceled',
  'WorkflowExecutionTerminated',
  'WorkflowExecutionTimedOut',
  'WorkflowExecutionContinuedAsNew',
];

describe('every event type', () => {
  it('of SPEC section 4 is in a run above, so converts both ways and replays in Temporal', () => {
    const types = new Set([...goldens, ...live].flatMap((r) => r.events.map((e) => e.eventType)));
    // weft records a task's timeout only when a task outlives its timeout: built by hand below.
    expect(EVENT_TYPES.filter((t) => !types.has(t as HistoryEvent['eventType']))).toEqual([
      'WorkflowTaskTimedOut',
    ]);
  });
});

describe('the format', () => {
  const started = (h: TemporalHistory) =>
    h.events[0]!.workflowExecutionStartedEventAttributes as Record<string, unknown>;

  it('is the protobuf JSON of a History: string IDs, RFC 3339 times, full enum names, Durations, base64 payloads', () => {
    const json = toTemporalHistory(goldenRun('activityThenTimer'));
    const [first, , , , scheduled] = json.events;
    expect(first).toMatchObject({ eventId: '1', eventType: 'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED' });
    expect(first!.eventTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(started(json)).toMatchObject({
      workflowType: { name: 'activityThenTimer' },
      taskQueue: { name: 'default', kind: 'TASK_QUEUE_KIND_NORMAL' },
      workflowTaskTimeout: '10s',
      input: {
        payloads: [
          { metadata: { encoding: btoa('json/plain') }, data: btoa('"x"') },
          { metadata: { encoding: btoa('json/plain') }, data: btoa('5') },
        ],
      },
    });
    expect(scheduled!.activityTaskScheduledEventAttributes).toMatchObject({
      activityId: '1',
      activityType: { name: 'hello' },
      startToCloseTimeout: '5s',
      retryPolicy: { initialInterval: '0.010s', maximumAttempts: 3 },
      workflowTaskCompletedEventId: '4',
    });
    // `historyFromJSON` of @temporalio/common reads it into Temporal's own History.
    expect(historyFromJSON(json).events?.[4]?.activityTaskScheduledEventAttributes?.activityType?.name).toBe(
      'hello',
    );
  });

  it("records `patched` as Temporal's SDK core does: a core_patch marker with { id, deprecated } under patch-data", () => {
    const run = live.find(
      (r) => r.events[0]?.eventType === 'WorkflowExecutionStarted' && r.name.includes('versioned'),
    )!;
    const marker = toTemporalHistory(run).events.find((e) => e.eventType === 'EVENT_TYPE_MARKER_RECORDED')!;
    expect(marker.markerRecordedEventAttributes).toEqual({
      markerName: 'core_patch',
      details: {
        'patch-data': {
          payloads: [
            { metadata: { encoding: btoa('json/plain') }, data: btoa('{"id":"v2","deprecated":false}') },
          ],
        },
      },
      workflowTaskCompletedEventId: '4',
    });
  });

  it('writes undefined as binary/null, and failures with their cause chains', () => {
    const failed = live.find((r) => r.name.includes('catchesChildFailure'))!;
    const event = toTemporalHistory(failed).events.find(
      (e) => e.eventType === 'EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED',
    )!;
    expect(event.childWorkflowExecutionFailedEventAttributes).toMatchObject({
      failure: {
        message: 'card declined',
        applicationFailureInfo: { type: 'Declined', nonRetryable: false },
      },
      retryState: 'RETRY_STATE_RETRY_POLICY_NOT_SET',
    });
    // A chain: the workflow fails with a child's failure, whose cause is the child's own.
    const chain: HistoryEvent = {
      eventId: 1,
      eventTime: 0,
      eventType: 'WorkflowExecutionFailed',
      attributes: {
        failure: {
          name: 'ChildWorkflowFailure',
          message: 'Child Workflow execution failed',
          workflowType: 'failingChild',
          workflowExecution: { workflowId: 'c', runId: 'r' },
          retryState: 'RETRY_STATE_NON_RETRYABLE_FAILURE',
          cause: { name: 'TimeoutFailure', message: 'timed out', timeoutType: 'START_TO_CLOSE' },
        },
        retryState: 'RETRY_STATE_RETRY_POLICY_NOT_SET',
        workflowTaskCompletedEventId: 0,
      },
    };
    const json = toTemporalHistory({ events: [chain] });
    expect(json.events[0]!.workflowExecutionFailedEventAttributes).toMatchObject({
      failure: {
        childWorkflowExecutionFailureInfo: {
          workflowExecution: { workflowId: 'c', runId: 'r' },
          workflowType: { name: 'failingChild' },
          retryState: 'RETRY_STATE_NON_RETRYABLE_FAILURE',
        },
        cause: { message: 'timed out', timeoutFailureInfo: { timeoutType: 'TIMEOUT_TYPE_START_TO_CLOSE' } },
      },
    });
    expect(fromTemporalHistory(json).events).toEqual([chain]);
    const completed = toTemporalHistory({
      events: [
        {
          eventId: 1,
          eventTime: 0,
          eventType: 'WorkflowExecutionCompleted',
          attributes: { result: undefined, workflowTaskCompletedEventId: 0 },
        },
      ],
    });
    expect(completed.events[0]!.workflowExecutionCompletedEventAttributes).toMatchObject({
      result: { payloads: [{ metadata: { encoding: btoa('binary/null') } }] },
    });
  });

  it('reads the short spellings older tools wrote: WorkflowExecutionStarted, Terminate', () => {
    const json = toTemporalHistory(goldenRun('child-closePolicies'));
    const short = {
      events: json.events.map((e) => {
        const out: TemporalHistoryEvent = {
          ...e,
          eventType: e.eventType
            .replace('EVENT_TYPE_', '')
            .toLowerCase()
            .replace(/(^|_)(.)/g, (_, __, c: string) => c.toUpperCase()),
        };
        const initiated = out.startChildWorkflowExecutionInitiatedEventAttributes as
          | Record<string, unknown>
          | undefined;
        if (initiated) initiated.parentClosePolicy = 'Terminate';
        return out;
      }),
    };
    expect(short.events[0]!.eventType).toBe('WorkflowExecutionStarted');
    expect(fromTemporalHistory(JSON.parse(JSON.stringify(short))).events[4]).toEqual(
      goldenRun('child-closePolicies').events[4],
    );
  });

  it('an event type weft does not know is an InvalidArgumentError naming it', () => {
    const json = toTemporalHistory(goldenRun('determinism'));
    json.events.splice(5, 0, {
      eventId: '6',
      eventTime: json.events[5]!.eventTime,
      eventType: 'EVENT_TYPE_NEXUS_OPERATION_SCHEDULED',
      nexusOperationScheduledEventAttributes: {},
    });
    const error = (() => {
      try {
        fromTemporalHistory(json);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toMatch(/NexusOperationScheduled/);
    expect(() => fromTemporalHistory({ nope: [] })).toThrow(InvalidArgumentError);
  });

  it('a workflow task timeout converts both ways (weft records one only when a task outlives it)', () => {
    const events: HistoryEvent[] = [
      ...goldenRun('counter').events.slice(0, 3),
      {
        eventId: 4,
        eventTime: 5,
        eventType: 'WorkflowTaskTimedOut',
        attributes: { scheduledEventId: 2, startedEventId: 3, timeoutType: 'START_TO_CLOSE' },
      },
    ];
    const json = toTemporalHistory({ events });
    expect(json.events[3]!.workflowTaskTimedOutEventAttributes).toEqual({
      scheduledEventId: '2',
      startedEventId: '3',
      timeoutType: 'TIMEOUT_TYPE_START_TO_CLOSE',
    });
    expect(historyFromJSON(json).events).toHaveLength(4);
    expect(fromTemporalHistory(json).events).toEqual(events);
  });

  it('a 1 MB payload converts and replays in both', async () => {
    const big = 'x'.repeat(1 << 20);
    const run = goldenRun('activityThenTimer');
    const events = run.events.map((e) =>
      e.eventType === 'ActivityTaskCompleted' ? { ...e, attributes: { ...e.attributes, result: big } } : e,
    ) as HistoryEvent[];
    const json = toTemporalHistory({ events });
    expect(fromTemporalHistory(json).events).toEqual(events);
    await replayHistory({ workflows }, json);
    expect(await temporalReplay('workflows.ts', temporalRuns([{ ...run, name: 'big', events }]))).toEqual({});
  }, 60_000);
});
