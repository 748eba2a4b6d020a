/**
 * The crash fuzzer (fuzz/) in real Chromium, for a part of its seeds: each seed's programs, as
 * `npm run fuzz` generates them, run on engine workers of one page (real Workers, IndexedDB,
 * Web Locks, BroadcastChannel, Comlink), one or two hosts on one database, whose workflows and
 * activities are the fuzzer's. The client side is the fuzzer's driver (fuzz/driver.ts), here in
 * the test, calling a host of the page. Crashes, drawn from the seed: the page reloaded (every
 * host dies with it), a host's worker terminated, or a host crashed inside its writes to
 * IndexedDB (before a transaction, with its requests issued, or committed and not yet heard of:
 * see pages/fuzz.worker.ts); new hosts start on the same database and the driver goes on. The
 * checks are the fuzzer's (fuzz/check.ts), on what the databases hold afterwards.
 *
 * WEFT_FUZZ_SEEDS=1-40 (or 3,17) runs other seeds.
 */
import { expect, type Page, test } from '@playwright/test';
import type { Effect } from '../../fuzz/activities.ts';
import { checkSeed, type Problem, type SeedData } from '../../fuzz/check.ts';
import { realTime } from '../../fuzz/clock.ts';
import { Driver, type Hosts, isStopped } from '../../fuzz/driver.ts';
import type { Resolution } from '../../fuzz/outcomes.ts';
import { Rng } from '../../fuzz/random.ts';
import { programsOf } from '../../fuzz/seed.ts';
import * as workflows from '../../fuzz/workflows.ts';
import type { WorkflowClient } from '../../src/client/client.ts';
import type { WorkflowStartOptions } from '../../src/client/index.ts';
import type { HistoryEvent } from '../../src/engine/events.ts';
import type { ExecutionRecord } from '../../src/store/types.ts';
import { replayHistory } from '../../src/temporal/replay.ts';
import type { Call, CallError, Killed } from './pages/fuzz.ts';
import type { CrashPoint } from './pages/fuzz.worker.ts';

const SEEDS = seedsOf(process.env.WEFT_FUZZ_SEEDS ?? '1-16');
/** A seed not done by then has lost something (they take about a second). */
const DEADLINE_MS = Number(process.env.WEFT_FUZZ_DEADLINE ?? 30_000);

/** `1,4,7` or `1-30`. */
function seedsOf(text: string): number[] {
  return text.split(',').flatMap((part) => {
    const [from, to = from] = part.split('-').map(Number);
    return Array.from({ length: to! - from! + 1 }, (_, i) => from! + i);
  });
}

function named(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

function rebuild(e: CallError): Error {
  const error = named(e.name, e.message);
  if (e.cause) error.cause = named(e.cause.name, e.cause.message);
  return error;
}

/** Promise.withResolvers, which Node 20 lacks. */
function resolvers<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The page's hosts, as the driver sees them: a call goes to one that lives, drawn from the seed. */
class PageHosts implements Hosts {
  /** The hosts running, oldest first. */
  readonly live: string[] = [];
  #changed = resolvers<void>();
  readonly #effects = new Set<string>();
  #refreshing = false;

  constructor(
    private readonly page: Page,
    private readonly rng: Rng,
  ) {}

  add(host: string): void {
    this.live.push(host);
    this.#changed.resolve();
    this.#changed = resolvers<void>();
  }

  remove(host: string): void {
    const i = this.live.indexOf(host);
    if (i >= 0) this.live.splice(i, 1);
  }

  #clientOf(host: string): WorkflowClient {
    const call = async (c: Call): Promise<unknown> => {
      const outcome = await this.page
        .evaluate(([host, c]) => window.fuzz!.call(host, c), [host, c] as const)
        // The page went away under the call (reloaded): its host died.
        .catch(() => ({ ok: false as const, error: { name: 'HostDied', message: 'the page reloaded' } }));
      if (!outcome.ok)
        throw outcome.error.name === 'HostDied' ? named('HostDied', host) : rebuild(outcome.error);
      return outcome.value;
    };
    return {
      start: (workflowType: string, options: WorkflowStartOptions) =>
        call({ method: 'start', workflowType, options }),
      getHandle: (workflowId: string) => ({
        signal: (...args: unknown[]) => call({ method: 'signal', workflowId, args }),
        describe: () => call({ method: 'describe', workflowId }),
        result: () => call({ method: 'result', workflowId }),
        cancel: () => call({ method: 'cancel', workflowId }),
        query: (name: string) => call({ method: 'query', workflowId, name }),
        terminate: (reason: string) => call({ method: 'terminate', workflowId, reason }),
      }),
    } as unknown as WorkflowClient;
  }

  async withClient<T>(fn: (client: WorkflowClient) => Promise<T>): Promise<T> {
    while (this.live.length === 0) await this.#changed.promise;
    return fn(this.#clientOf(this.rng.pick(this.live)));
  }

  hasEffect(key: string): boolean {
    if (!this.#effects.has(key) && !this.#refreshing) {
      this.#refreshing = true;
      void this.page
        .evaluate(() => window.fuzz!.effectKeys())
        .then(
          (keys) => {
            for (const k of keys) this.#effects.add(k);
          },
          () => undefined,
        )
        .finally(() => {
          this.#refreshing = false;
        });
    }
    return this.#effects.has(key);
  }
}

/**
 * Attempts lost with their host that the side table does not show: the host that recorded the
 * loss may have died before it wrote there (its writes to the engine's database and to the side
 * table are two transactions). A run's history shows them: an attempt before the one its
 * `ActivityTaskStarted` names that left no effect never ran (an attempt that ran recorded its
 * effect first), so it was lost, and recorded as such by then.
 */
function lostAttemptsOf(
  histories: Map<string, HistoryEvent[]>,
  effects: Effect[],
  known: Resolution[],
): Resolution[] {
  const ran = new Set(effects.map((e) => `${e.runId}/${e.seq}/${e.attempt}`));
  const seen = new Set(known.map((r) => `${r.runId}/${r.seq}/${r.attempt}`));
  const lost: Resolution[] = [];
  for (const [runId, events] of histories) {
    const seqOf = new Map<number, number>();
    for (const e of events) {
      if (e.eventType === 'ActivityTaskScheduled') seqOf.set(e.eventId, Number(e.attributes.activityId));
      if (e.eventType !== 'ActivityTaskStarted') continue;
      const seq = seqOf.get(e.attributes.scheduledEventId);
      if (seq === undefined) continue;
      for (let attempt = 1; attempt < e.attributes.attempt; attempt++) {
        const id = `${runId}/${seq}/${attempt}`;
        if (!ran.has(id) && !seen.has(id)) lost.push({ runId, seq, attempt, lost: true, time: e.eventTime });
      }
    }
  }
  return lost;
}

interface SeedResult {
  seed: number;
  hosts: number;
  crashes: string[];
  problems: Problem[];
  ms: number;
  /** With problems: the programs, each run's events and every effect. */
  dump?: string;
}

const POINTS: readonly CrashPoint[] = ['before', 'writes', 'commit'];

async function runSeed(page: Page, seed: number): Promise<SeedResult> {
  const began = Date.now();
  const { roots, expectation } = programsOf(seed);
  const db = `fuzz-${seed}-${Date.now().toString(36)}`;
  await page.goto(`/test/e2e/pages/fuzz.html?db=${encodeURIComponent(db)}`);
  await page.waitForFunction(() => window.fuzz !== undefined);
  const plan = new Rng(seed ^ 0xc4a5);
  const hosts = new PageHosts(page, new Rng(seed + 5));
  let generation = 0;
  const spawn = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const host = `h${++generation}`;
      await page.evaluate((host) => window.fuzz!.start(host), host);
      hosts.add(host);
    }
  };
  const initialHosts = plan.chance(0.4) ? 2 : 1;
  await spawn(initialHosts);
  const driver = new Driver(hosts, expectation, new Rng(seed + 4));
  const crashTimes: number[] = [];
  const killed: Killed[] = [];
  const crashes: string[] = [];
  const finished = resolvers<'done'>();
  const driving = driver.run().finally(() => finished.resolve('done'));
  const debug = process.env.WEFT_FUZZ_DEBUG
    ? setInterval(
        () =>
          console.log(
            `[${Date.now() - began} ms] live ${hosts.live} crashes ${crashes} waiting ${[...driver.record.waiting].join('; ')} log ${driver.record.log.slice(-5).join(' | ')}`,
          ),
        2000,
      )
    : undefined;
  if (process.env.WEFT_FUZZ_DEBUG)
    page.on('console', (m) => console.log(`[page ${Date.now() - began} ms] ${m.text()}`));
  const crashing = (async () => {
    const count = plan.int(1, 3);
    for (let i = 0; i < count; i++) {
      // The moment of the crash, drawn from the seed: a delay, or the n-th transaction of a host.
      const delay = plan.int(5, i === 0 ? 120 : 300);
      const kind = plan.weighted({ reload: 2, terminate: 3, inject: 4 });
      const target = plan.chance(0.5) ? 'oldest' : 'newest';
      const point = plan.pick(POINTS);
      const n = plan.int(1, 6);
      const respawn = plan.int(0, 2);
      if ((await Promise.race([pause(delay), finished.promise])) === 'done') return;
      const host = target === 'oldest' ? hosts.live[0] : hosts.live.at(-1);
      if (process.env.WEFT_FUZZ_DEBUG)
        console.log(`crash ${i}: ${kind} ${host} ${point} #${n} after ${delay} ms`);
      if (kind === 'reload') {
        const dying = [...hosts.live];
        for (const h of dying) hosts.remove(h);
        await page.reload();
        await page.waitForFunction(() => window.fuzz !== undefined);
        const time = realTime();
        crashTimes.push(time);
        for (const h of dying) killed.push({ host: h, time, at: 'reload' });
        crashes.push(`reload(${dying.join(',')})@${Date.now() - began}ms`);
      } else if (host !== undefined) {
        const dead =
          kind === 'terminate'
            ? await page.evaluate((host) => window.fuzz!.kill(host), host)
            : await Promise.race([
                page.evaluate(([host, point, n]) => window.fuzz!.arm(host, point, n), [
                  host,
                  point,
                  n,
                ] as const),
                finished.promise,
              ]);
        if (dead === 'done') return;
        hosts.remove(host);
        if (!dead) continue;
        crashTimes.push(dead.time);
        killed.push(dead);
        crashes.push(`${host}@${dead.at}${kind === 'inject' ? `#${n}` : ''}@${Date.now() - began}ms`);
      }
      await spawn(hosts.live.length === 0 ? Math.max(1, respawn) : Math.min(respawn, 1));
    }
  })();
  let timedOut = false;
  // A call that never answers (a result the hosts never give) holds the driver: the deadline
  // ends the seed without it.
  const deadline = resolvers<void>();
  const timer = setTimeout(() => {
    timedOut = true;
    driver.stop();
    finished.resolve('done');
    deadline.resolve();
  }, DEADLINE_MS);
  driving.catch((error: unknown) => {
    if (!isStopped(error)) console.error(`seed ${seed}: the driver failed`, error);
  });
  await Promise.race([driving.catch(() => undefined), deadline.promise]);
  clearTimeout(timer);
  await crashing;
  clearInterval(debug);
  // Closed as the hosts said: durable too, once their stores flush. Then every host is stopped
  // and the databases read as they are.
  const closed = ({ executions }: { executions: ExecutionRecord[] }) =>
    [...expectation.executions.keys()].every((id) =>
      executions.some(
        (r) => r.workflowId === id && r.status !== 'RUNNING' && r.status !== 'CONTINUED_AS_NEW',
      ),
    );
  if (!timedOut)
    await expect
      .poll(async () => closed(await page.evaluate(() => window.fuzz!.inspect())), { timeout: 10_000 })
      .toBe(true)
      // Not closed there: the checks say which.
      .catch(() => undefined);
  for (const host of [...hosts.live]) await page.evaluate((host) => window.fuzz!.kill(host), host);
  const read = await page.evaluate(() => window.fuzz!.inspect());
  const { effects, reloads, resolutions } = await page.evaluate(() => window.fuzz!.side());
  const histories = new Map(read.histories);
  const data: SeedData = {
    executions: read.executions,
    histories,
    effects,
    crashTimes,
    crashes: killed,
    resolutions: [...resolutions, ...lostAttemptsOf(histories, effects, resolutions)],
    reloads,
    driver: driver.record,
  };
  const problems = await checkSeed(expectation, data, async (run, events) => {
    await replayHistory({ workflows, workflowId: run.workflowId, runId: run.runId }, { events });
  });
  if (timedOut)
    problems.push({
      kind: 'lost',
      what: `not done after ${DEADLINE_MS} ms: the client still waited for ${
        [...driver.record.waiting].join('; ') ||
        `executions to close (${[...driver.record.open].map(([id, status]) => `${id}: ${status}`).join(', ')})`
      }`,
    });
  await page.evaluate(() => window.fuzz!.drop());
  const dump =
    problems.length === 0
      ? undefined
      : [
          ...roots.map((r) => `  program ${r.workflowId}: ${JSON.stringify(r.program)}`),
          ...read.executions.map(
            (run) =>
              `  ${run.status} ${run.workflowId} ${run.runId.slice(0, 8)}: ${(histories.get(run.runId) ?? [])
                .map((e) => `${e.eventId}:${e.eventType}@${e.eventTime % 100000}`)
                .join(' ')}`,
          ),
          ...effects.map(
            (e) =>
              `  effect ${e.key} #${e.attempt} seq ${e.seq} on ${e.host} (leader ${e.leader}) run ${e.runId.slice(0, 8)} @${(e.time % 100000).toFixed(1)}`,
          ),
          ...killed.map((k) => `  crash ${k.host} at ${k.at} @${(k.time % 100000).toFixed(1)}`),
          ...reloads.map((r) => `  store reload on ${r.host} @${(r.time % 100000).toFixed(1)}`),
          ...driver.record.log.map((line) => `  driver ${line}`),
        ].join('\n');
  return {
    seed,
    hosts: initialHosts,
    crashes,
    problems,
    ms: Date.now() - began,
    ...(dump !== undefined && { dump }),
  };
}

test('the crash fuzzer in Chromium: page reloads, worker terminations and crashes inside writes lose, duplicate and change nothing', async ({
  page,
}) => {
  test.setTimeout(SEEDS.length * (DEADLINE_MS + 15_000));
  const results: SeedResult[] = [];
  for (const seed of SEEDS) {
    const result = await runSeed(page, seed);
    results.push(result);
    console.log(
      `seed ${seed}: ${result.hosts} host(s), ${result.crashes.length} crashes (${result.crashes.join(', ')}), ${result.ms} ms, ${result.problems.length} problems`,
    );
    for (const p of result.problems) console.log(`  ${p.kind}: ${p.what}`);
    if (result.problems.length > 0)
      console.log(`  replay: WEFT_FUZZ_SEEDS=${seed} npx playwright test test/e2e/fuzz-browser.spec.ts`);
    if (result.dump) console.log(result.dump);
  }
  const count = (kind: Problem['kind']) =>
    results.reduce((n, r) => n + r.problems.filter((p) => p.kind === kind).length, 0);
  const points = results.reduce((n, r) => n + r.crashes.length, 0);
  console.log(
    `fuzz (chromium): ${points} crash points, ${results.length} seeds, lost ${count('lost')}, duplicated ${count('duplicated')}, diverged ${count('diverged')}`,
  );
  expect(
    results
      .filter((r) => r.problems.length > 0)
      .map((r) => `seed ${r.seed}: ${r.problems.map((p) => `${p.kind}: ${p.what}`).join('; ')}`),
  ).toEqual([]);
  // The crashes happened: a seed's crash that came after its work was done does not count.
  expect(points).toBeGreaterThanOrEqual(SEEDS.length / 2);
});
