/**
 * `npm run fuzz` in Node (bundled by fuzz/run.mjs): runs seeds on worker threads, one per core,
 * two seeds at a time on each (a seed spends most of its time waiting for timers), prints each
 * failing seed with its problems and the command that replays it, and ends with
 * `fuzz: <P> crash points, <S> seeds, lost <L>, duplicated <D>, diverged <V>`.
 */
import 'fake-indexeddb/auto';
import os from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { runSeed, type SeedReport } from './seed.ts';
import { addReport, describeFailure, summaryLine, type Totals } from './summary.ts';

interface Options {
  /** Seeds to run, or undefined: until `points` crash points. */
  seeds?: number;
  from: number;
  points: number;
  jobs: number;
  perJob: number;
  verbose: boolean;
  /** Stop handing out seeds after this long (s). */
  time?: number;
  /** Run each seed this many times (timing varies between runs, so a failure may need a few). */
  repeat: number;
  dump: boolean;
  /** A seed that has not reported after this long (s) hung. */
  hangSeconds: number;
}

function parse(argv: string[]): Options {
  const options: Options = {
    from: 1,
    points: 1_000,
    jobs: Math.max(1, os.availableParallelism?.() ?? 2),
    perJob: 2,
    verbose: false,
    repeat: 1,
    dump: false,
    hangSeconds: 120,
  };
  for (const arg of argv) {
    const [key, value] = arg.split('=') as [string, string | undefined];
    const n = Number(value);
    if (key === '--seed') Object.assign(options, { from: n, seeds: 1, verbose: true, single: true });
    else if (key === '--seeds') options.seeds = n;
    else if (key === '--from') options.from = n;
    else if (key === '--points') options.points = n;
    else if (key === '--jobs') options.jobs = n;
    else if (key === '--per-job') options.perJob = n;
    else if (key === '--time') options.time = n;
    else if (key === '--verbose') options.verbose = true;
    else if (key === '--repeat') options.repeat = n;
    else if (key === '--dump') options.dump = true;
    else if (key === '--hang') options.hangSeconds = n;
    else throw new Error(`fuzz: unknown option ${arg} (see fuzz/README.md)`);
    if (value !== undefined && !Number.isFinite(n))
      throw new Error(`fuzz: ${key} takes a number, not ${value}`);
  }
  // One seed once runs alone, as it ran in the failing run's thread (more or less).
  if ((options as { single?: boolean }).single && options.repeat === 1)
    Object.assign(options, { jobs: 1, perJob: 1 });
  return options;
}

/** A worker thread: runs the seeds the main thread hands it. */
function work(): void {
  const port = parentPort!;
  port.on('message', (message: { seed?: number }) => {
    if (message.seed === undefined) {
      process.exit(0);
    }
    const seed = message.seed;
    const onStage = (stage: string): void => port.postMessage({ stage: { seed, stage } });
    void runSeed(seed, { dump: (workerData as { dump: boolean }).dump, onStage }).then(
      (report) => port.postMessage({ report }),
      (error: unknown) =>
        port.postMessage({ crashed: message.seed, error: String((error as Error)?.stack ?? error) }),
    );
  });
  port.postMessage({ ready: (workerData as { perJob: number }).perJob });
}

async function main(): Promise<void> {
  const options = parse(process.argv.slice(2));
  const began = Date.now();
  const totals: Totals = { points: 0, seeds: 0, lost: 0, duplicated: 0, diverged: 0, failedSeeds: [] };
  let handed = 0;
  const seedAt = (i: number): number => options.from + Math.floor(i / options.repeat);
  const end = options.seeds === undefined ? undefined : options.seeds * options.repeat;
  let running = 0;
  const more = (): boolean =>
    (end === undefined ? totals.points < options.points : handed < end) &&
    (options.time === undefined || Date.now() - began < options.time * 1000);
  const onReport = (report: SeedReport): void => {
    addReport(totals, report);
    if (report.problems.length > 0 || options.verbose) console.log(describeFailure(report));
    if (report.dump) console.log(report.dump);
    if (totals.seeds % 50 === 0)
      console.log(
        `... ${totals.seeds} seeds, ${totals.points} crash points, ${Math.round((Date.now() - began) / 1000)} s`,
      );
  };
  // Seeds handed back by a worker that was stopped for another seed that hung: run again.
  const again: number[] = [];
  await new Promise<void>((resolve, reject) => {
    const inFlight = new Map<Worker, Map<number, number>>();
    /** The last stage a worker's seeds reported (for a seed that hangs). */
    const stages = new Map<Worker, { seed: number; stage: string }>();
    const spawn = (): void => {
      const worker = new Worker(new URL(import.meta.url), {
        workerData: { perJob: options.perJob, dump: options.dump },
      });
      const mine = new Map<number, number>();
      inFlight.set(worker, mine);
      const hand = (): void => {
        if (again.length > 0 || more()) {
          running++;
          const seed = again.shift() ?? seedAt(handed++);
          // A seed may run twice at once (--repeat): keyed by a count of its own.
          mine.set(seed + mine.size / 1e6, Date.now());
          worker.postMessage({ seed });
        }
        if (running === 0) finish();
      };
      worker.on(
        'message',
        (message: {
          ready?: number;
          report?: SeedReport;
          crashed?: number;
          error?: string;
          stage?: { seed: number; stage: string };
        }) => {
          if (message.stage) {
            stages.set(worker, message.stage);
            return;
          }
          if (message.ready !== undefined) {
            for (let i = 0; i < message.ready; i++) hand();
            return;
          }
          const seed = message.report?.seed ?? message.crashed!;
          const key = [...mine.keys()].find((k) => Math.floor(k) === seed);
          if (key !== undefined) mine.delete(key);
          running--;
          if (message.report) onReport(message.report);
          else {
            totals.seeds++;
            totals.diverged++;
            totals.failedSeeds.push(seed);
            console.log(`seed ${seed}: the fuzzer itself failed: ${message.error}`);
          }
          hand();
        },
      );
      worker.on('error', reject);
    };
    // A seed gives up on its run after 30 s and bounds its shutdown: one that never reports hangs
    // somewhere else. It counts as lost; its worker is replaced, and its other seeds run again.
    const watchdog = setInterval(() => {
      for (const [worker, mine] of inFlight) {
        const stuck = [...mine].find(([, since]) => Date.now() - since > options.hangSeconds * 1000);
        if (!stuck) continue;
        const seed = Math.floor(stuck[0]);
        totals.seeds++;
        totals.lost++;
        totals.failedSeeds.push(seed);
        console.log(
          `seed ${seed}: hung: no report after ${options.hangSeconds} s (its worker's last news: seed ` +
            `${stages.get(worker)?.seed}, ${stages.get(worker)?.stage})\n  replay: npm run fuzz -- --seed=${seed} --repeat=20`,
        );
        inFlight.delete(worker);
        running -= mine.size;
        for (const [k] of mine) if (k !== stuck[0]) again.push(Math.floor(k));
        void worker.terminate();
        spawn();
      }
    }, 1_000);
    const finish = (): void => {
      clearInterval(watchdog);
      for (const worker of inFlight.keys()) void worker.terminate();
      resolve();
    };
    for (let i = 0; i < options.jobs; i++) spawn();
  });
  const seconds = (Date.now() - began) / 1000;
  console.log(
    `${totals.seeds} seeds in ${seconds.toFixed(0)} s` +
      (totals.failedSeeds.length > 0 ? `; failing seeds: ${totals.failedSeeds.join(', ')}` : ''),
  );
  if (end === undefined && totals.points < options.points)
    console.log(`fewer crash points than the ${options.points} asked for (time ran out)`);
  console.log(summaryLine(totals));
  const bad =
    totals.lost + totals.duplicated + totals.diverged > 0 ||
    (end === undefined && totals.points < options.points);
  process.exit(bad ? 1 : 0);
}

if (isMainThread) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(2);
  });
} else work();
