/**
 * One seed in Node: its programs and crash plan, a run without crashes (the baseline, which
 * also says how many operations a crash can fall among), the run with crashes, and the checks
 * of both.
 */
import { IDBFactory } from 'fake-indexeddb';
import type { HistoryEvent } from '../src/engine/events.ts';
import type { StoreFaults } from '../src/store/faulty.ts';
import { ENGINE_LEASE, type ExecutionRecord, type Store } from '../src/store/types.ts';
import { replayHistory } from '../src/temporal/replay.ts';
import { checkSeed, type Problem, type SeedData } from './check.ts';
import { Driver, isStopped } from './driver.ts';
import { type Expectation, expectationOf, generatePrograms, type Program } from './program.ts';
import { Rng } from './random.ts';
import * as workflows from './workflows.ts';
import { type Crash, type Trigger, World } from './world.ts';

export interface SeedOptions {
  /** Crashes to plan (default: 2 to 6, drawn from the seed). */
  crashes?: number;
  /** Give up on a run after this long (default 30 s): what is not closed then is lost. */
  deadlineMs?: number;
  /** Which store (default: drawn from the seed, IndexedDB three times in four). */
  storeKind?: 'indexeddb' | 'memory';
  /** Faults added to every host's store, crashes aside (to check that the checks can fail). */
  sabotage?: () => StoreFaults;
  /** Skip the run without crashes (the plan then guesses its sizes). */
  noBaseline?: boolean;
  /** On a failure, describe what the database holds for each open execution (for debugging). */
  dump?: boolean;
  /** Told where the seed is, for a report of one that hangs. */
  onStage?: (stage: string) => void;
}

export interface SeedReport {
  seed: number;
  storeKind: 'indexeddb' | 'memory';
  roots: number;
  executions: number;
  /** Crashes that happened. */
  crashPoints: number;
  /** Where each fell. */
  crashes: string[];
  problems: Problem[];
  ms: number;
  /** With {@link SeedOptions.dump}, on a failure: the open executions' state. */
  dump?: string;
}

export interface Sizes {
  ops: number;
  ends: number;
  activities: number;
  flushes: number;
}

/** The roots of a seed and what they imply. */
export function programsOf(seed: number): {
  roots: { workflowId: string; program: Program }[];
  expectation: Expectation;
} {
  const rng = new Rng(seed);
  const programs = generatePrograms(rng, rng.int(1, 3));
  const roots = programs.map((program, i) => ({ workflowId: `f${seed}-${i}`, program }));
  return { roots, expectation: expectationOf(roots) };
}

/** The crash plan of a seed, spread over a run of `sizes`. */
export function crashPlan(rng: Rng, count: number, sizes: Sizes, storeKind: 'indexeddb' | 'memory'): Crash[] {
  const spread = (total: number) => Math.max(2, Math.round((1.3 * total) / count));
  return Array.from({ length: count }, (): Crash => {
    const kind = rng.weighted({
      op: 4,
      after: 2,
      activity: sizes.activities > 0 ? 1.5 : 0,
      flush: storeKind === 'indexeddb' ? 2 : 0,
    });
    let trigger: Trigger;
    if (kind === 'op')
      trigger = { kind, n: rng.chance(0.25) ? rng.int(1, 40) : rng.int(1, spread(sizes.ops)) };
    else if (kind === 'after') trigger = { kind, n: rng.int(1, spread(sizes.ends)) };
    else if (kind === 'activity')
      trigger = { kind, n: rng.int(1, Math.max(1, Math.round(sizes.activities / count))) };
    else
      trigger = {
        kind,
        n: rng.int(1, spread(sizes.flushes)),
        mode: rng.pick(['abort', 'inflight', 'committed'] as const),
      };
    return {
      trigger,
      target: rng.chance(0.7) ? 'oldest' : 'newest',
      abortInFlight: rng.chance(0.5),
      respawn: Number(rng.weighted({ 0: 3, 1: 5, 2: 2 })),
    };
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function replay(run: ExecutionRecord, events: HistoryEvent[]): Promise<void> {
  await replayHistory({ workflows, workflowId: run.workflowId, runId: run.runId }, { events });
}

/** What the database holds for each open execution: its record, history tail, messages and tasks. */
async function describeOpen(
  store: Store,
  executions: ExecutionRecord[],
  histories: Map<string, HistoryEvent[]>,
): Promise<string> {
  const lines: string[] = [];
  const short = (value: unknown, n = 300) => JSON.stringify(value)?.slice(0, n);
  await store.read(async (tx) => {
    lines.push(`  leases: ${short(await tx.leases.get(ENGINE_LEASE))}`);
    const timers = await tx.timers.list();
    const workflowTasks = await tx.workflowTasks.list();
    const activityTasks = await tx.activityTasks.list();
    for (const run of executions) {
      if (run.status !== 'RUNNING') {
        const types = (histories.get(run.runId) ?? []).map((e) =>
          e.eventType.replace(/^(WorkflowExecution|WorkflowTask)/, '$1.'),
        );
        const events = histories.get(run.runId) ?? [];
        const span = events.length > 0 ? events.at(-1)!.eventTime - events[0]!.eventTime : 0;
        lines.push(
          `  ${run.status} ${run.workflowId} ${run.runId.slice(0, 8)} (${span} ms): ${types.join(' ')}`,
        );
        continue;
      }
      const { runId } = run;
      lines.push(`  open ${run.workflowId} ${runId}: ${short({ ...run, memo: undefined })}`);
      for (const event of histories.get(runId) ?? [])
        lines.push(`    ${event.eventId} ${event.eventType} ${short(event.attributes).slice(0, 160)}`);
      for (const m of await tx.inbox.list(runId)) lines.push(`    inbox: ${short(m)}`);
      for (const t of workflowTasks.filter((t) => t.runId === runId))
        lines.push(`    workflow task: ${short(t)}`);
      for (const t of activityTasks.filter((t) => t.runId === runId))
        lines.push(`    activity task: ${short({ ...t, input: undefined, retryPolicy: undefined }, 800)}`);
      for (const t of timers.filter((t) => t.runId === runId)) lines.push(`    timer: ${short(t)}`);
    }
  });
  return lines.join('\n');
}

/** Runs the roots in `world` until every execution closed (or the deadline), then reads what is left. */
async function runWorld(
  world: World,
  expectation: Expectation,
  rng: Rng,
  deadlineMs: number,
  dump = false,
  stage: (what: string) => void = () => undefined,
): Promise<{ data: SeedData; timedOut: boolean; stuck?: string; hung: string[]; dump?: string }> {
  const driver = new Driver(world, expectation, rng);
  stage('starting the hosts');
  await world.begin();
  stage('running');
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timedOut = false;
  try {
    await Promise.race([
      driver.run(),
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          timedOut = true;
          driver.stop();
          world.halted = true;
          resolve();
        }, deadlineMs);
      }),
    ]);
  } catch (error) {
    if (!isStopped(error)) throw error;
  } finally {
    clearTimeout(timer);
  }
  world.calm = true;
  // What was still going on when it gave up, for its report.
  const stuck = timedOut
    ? `calls in flight: ${[...world.inFlight.values()].join(' | ') || 'none'}; the client's last steps: ${driver.record.log.slice(-5).join(', ')}`
    : undefined;
  // What is still in hand (a cancelled attempt winding down) settles before the hosts stop.
  for (let i = 0; i < 50 && world.ready.some((fh) => fh.host.busy.writes || fh.host.busy.workflowTasks); i++)
    await sleep(5);
  stage('shutting down');
  const hung = await world.shutdown();
  stage('reading the database');
  const { executions, histories, state } = await world.inspect(async (store) => {
    const executions = await store.read((tx) => tx.executions.list());
    const histories = new Map<string, HistoryEvent[]>();
    for (const run of executions)
      histories.set(run.runId, await store.read((tx) => tx.history.read(run.runId)));
    const state = dump ? await describeOpen(store, executions, histories) : undefined;
    return { executions, histories, state };
  });
  return {
    timedOut,
    ...(stuck !== undefined && { stuck }),
    hung,
    ...(state !== undefined && { dump: state }),
    data: {
      executions,
      histories,
      effects: world.effects,
      crashTimes: world.crashes.map((c) => c.time),
      crashes: world.crashes.map(({ host, time }) => ({ host, time })),
      resolutions: world.resolutions,
      reloads: world.reloads,
      driver: driver.record,
    },
  };
}

/** What a seed that gave up still waited for. */
function notDone(deadlineMs: number, data: SeedData, stuck: string | undefined): string {
  const open = [...data.driver.open].map(([id, status]) => `${id} ${status}`).join(', ');
  const waiting = [...data.driver.waiting].join('; ') || `every execution to close (${open})`;
  return `not done after ${deadlineMs} ms: the client still waited for ${waiting}; ${stuck}`;
}

/** Runs one seed: the baseline without crashes, then the crashes; checks both. */
export async function runSeed(seed: number, options: SeedOptions = {}): Promise<SeedReport> {
  const began = Date.now();
  const { roots, expectation } = programsOf(seed);
  const rng = new Rng(seed ^ 0x5eed);
  const storeKind = options.storeKind ?? (rng.chance(0.75) ? 'indexeddb' : 'memory');
  const deadlineMs = options.deadlineMs ?? 30_000;
  const problems: Problem[] = [];
  let baselineDump: string | undefined;
  let sizes: Sizes = { ops: 600, ends: 80, activities: 6, flushes: 30 };
  if (!options.noBaseline) {
    const baseline = new World({
      seed,
      rng: new Rng(seed + 1),
      storeKind,
      ...(storeKind === 'indexeddb' && { factory: new IDBFactory() }),
      crashes: [],
      hosts: 1,
      ...(options.sabotage && { sabotage: options.sabotage }),
    });
    const run = await runWorld(baseline, expectation, new Rng(seed + 2), deadlineMs, options.dump, (what) =>
      options.onStage?.(`without crashes: ${what}`),
    );
    const { data, timedOut, hung, stuck } = run;
    baselineDump = run.dump;
    options.onStage?.('without crashes: checking');
    for (const host of hung)
      problems.push({ kind: 'lost', what: `without crashes: host ${host} never finished shutting down` });
    for (const p of await checkSeed(expectation, data, replay))
      problems.push({ kind: p.kind, what: `without crashes: ${p.what}` });
    if (timedOut)
      problems.push({
        kind: 'lost',
        what: `without crashes: ${notDone(deadlineMs, data, stuck)}`,
      });
    sizes = baseline.sizes;
  }
  const crashes = crashPlan(rng, options.crashes ?? rng.int(2, 6), sizes, storeKind);
  const world = new World({
    seed,
    rng: new Rng(seed + 3),
    storeKind,
    ...(storeKind === 'indexeddb' && { factory: new IDBFactory() }),
    crashes,
    hosts: rng.chance(0.35) ? 2 : 1,
    ...(options.sabotage && { sabotage: options.sabotage }),
  });
  const { data, timedOut, hung, dump, stuck } = await runWorld(
    world,
    expectation,
    new Rng(seed + 4),
    deadlineMs,
    options.dump,
    options.onStage,
  );
  options.onStage?.('checking');
  for (const host of hung) problems.push({ kind: 'lost', what: `host ${host} never finished shutting down` });
  (globalThis as { __fuzzDump?: (d: SeedData) => void }).__fuzzDump?.(data);
  problems.push(...(await checkSeed(expectation, data, replay)));
  if (timedOut)
    problems.push({
      kind: 'lost',
      what: notDone(deadlineMs, data, stuck),
    });
  return {
    seed,
    storeKind,
    roots: roots.length,
    executions: expectation.executions.size,
    crashPoints: world.crashes.length,
    crashes: world.crashes.map((c) => `${c.host}@${c.at}(${c.crash.trigger.kind}#${c.crash.trigger.n})`),
    problems,
    ms: Date.now() - began,
    ...(problems.length > 0 &&
      dump !== undefined && {
        dump: problems.some((p) => p.what.startsWith('without crashes'))
          ? `  without crashes:\n${baselineDump}\n  with crashes:\n${dump}`
          : dump,
      }),
  };
}
