#!/usr/bin/env node
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { gzipSync } from 'node:zlib';
/**
 * `npm run bench`: builds the bench page, its engine worker and the Node variant with Vite,
 * measures the bundles, serves the page on 127.0.0.1, runs the platform baseline and the
 * engine scenarios in headless Chromium (the e2e tests' browser setup), then the same
 * scenarios in Node with the memory store; prints a table and writes bench/results/latest.json
 * (and latest.md). See bench/README.md.
 *
 * Flags: --quick (small sizes, one run: a smoke test; writes results/partial.json),
 *        --only=fanOut1000,chain1000,... (writes results/partial.json), --runs=N,
 *        --no-node (skip the Node variant), --out=path.json.
 */
import { chromiumLaunchOptions } from '../browser.mjs';
import { minify, terserOptions } from '../minify.mjs';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(benchDir, '..');
const distDir = path.join(benchDir, 'dist');
const distNodeDir = path.join(benchDir, 'dist-node');
const resultsDir = path.join(benchDir, 'results');

// ---- options --------------------------------------------------------------------------------

const SCENARIOS = [
  'fanOut1000',
  'chain1000',
  'starts1000',
  'replay10k',
  'replay50k',
  'coldStart',
  'idle10k',
  'open100k',
  'list100k',
  'bundle',
];

function parseArgs(argv) {
  const options = { quick: false, only: undefined, runs: undefined, node: true, out: undefined };
  for (const arg of argv) {
    if (arg === '--quick') options.quick = true;
    else if (arg === '--no-node') options.node = false;
    else if (arg.startsWith('--only=')) options.only = arg.slice('--only='.length).split(',').filter(Boolean);
    else if (arg.startsWith('--runs=')) options.runs = Number(arg.slice('--runs='.length));
    else if (arg.startsWith('--out=')) options.out = path.resolve(arg.slice('--out='.length));
    else if (arg.startsWith('--closed=')) options.closed = Number(arg.slice('--closed='.length));
    else if (arg.startsWith('--fill-in-flight='))
      options.fillInFlight = Number(arg.slice('--fill-in-flight='.length));
    else if (arg === '--help' || arg === '-h') {
      console.log(
        'usage: npm run bench [-- --quick] [--only=a,b] [--runs=N] [--no-node] [--out=file.json] [--closed=N]\n' +
          `scenarios: ${SCENARIOS.join(', ')}`,
      );
      process.exit(0);
    } else throw new Error(`unknown option ${arg} (try --help)`);
  }
  for (const name of options.only ?? []) {
    if (!SCENARIOS.includes(name))
      throw new Error(`--only: unknown scenario ${name} (${SCENARIOS.join(', ')})`);
  }
  if (options.runs !== undefined && !(Number.isInteger(options.runs) && options.runs > 0)) {
    throw new Error('--runs must be a positive integer');
  }
  return options;
}

const options = parseArgs(process.argv.slice(2));
const only = new Set(options.only ?? SCENARIOS);
const sizes = options.quick
  ? { fanOut: 100, chain: 100, starts: 100, replaySmall: 1_000, replayBig: 2_000, idle: 1_000, closed: 2_000 }
  : {
      fanOut: 1_000,
      chain: 1_000,
      starts: 1_000,
      replaySmall: 10_000,
      replayBig: 50_000,
      idle: 10_000,
      closed: 100_000,
    };
const runs = {
  small: options.runs ?? (options.quick ? 1 : 5),
  big: options.runs ?? (options.quick ? 1 : 5),
  idle: options.runs ?? 1,
  platform: options.runs ?? (options.quick ? 1 : 3),
};
// open100k's database size can be set alone (--closed=N), e.g. to look at a smaller one.
if (options.closed) sizes.closed = options.closed;
const fullSizes = !options.quick && !options.closed;

/** Each measurement's time limit (ms); a scenario that exceeds it fails with a clear error. */
function timeoutMs(scenario) {
  const limits = {
    platform: 60,
    fanOut1000: 90,
    chain1000: 120,
    starts1000: 60,
    'replay10k:build': 60,
    'replay50k:build': 150,
    replay10k: 30,
    replay50k: 60,
    coldStart: 30,
    idle10k: 180,
    'open100k:fill': 150,
    open100k: 30,
  };
  // WEFT_BENCH_TIMEOUT_SCALE=2 on a slower machine (or a tiny value to try the timeout path).
  const scale = Number(process.env.WEFT_BENCH_TIMEOUT_SCALE ?? 1) || 1;
  return (limits[scenario] ?? 60) * 1000 * scale;
}

/** The issue's targets (this machine, headless Chromium, durable in IndexedDB). KB = 1,024 bytes. */
const TARGETS = {
  fanOut1000: { metric: 'ms', max: 300, text: '<= 300 ms' },
  chain1000: { metric: 'ms', max: 1000, text: '<= 1,000 ms' },
  starts1000: { metric: 'perSec', min: 5000, text: '>= 5,000/s' },
  replay10k: { metric: 'ms', max: 40, text: '<= 40 ms' },
  replay50k: { metric: 'ms', max: 200, text: '<= 200 ms' },
  coldStart: { metric: 'ms', max: 60, text: '<= 60 ms' },
  idle10k: { metric: 'heapMB', max: 150, text: '<= 150 MB' },
  // The limit is the run's own: max(3x the empty database's open, 150 ms), for each of 3 opens.
  open100k: { metric: 'ms', max: undefined, text: '<= max(3x empty, 150 ms), each open' },
  open100kFill: { metric: 'fillPerSec', min: 3000, text: '>= 3,000 starts/s', of: 'open100k' },
  open100kHeap: { metric: 'heapRatio', max: 2, text: '<= 2x empty engine', of: 'open100k' },
  clientGzipBytes: { metric: 'clientGzipBytes', max: 5 * 1024, text: '<= 5 KB' },
  workerGzipBytes: { metric: 'workerGzipBytes', max: 30 * 1024, text: '<= 30 KB' },
};

/** The whole run stays under 10 minutes: past these, what is left fails with a clear error. */
const startedAt = Date.now();
const browserDeadline = startedAt + 9 * 60_000;
const nodeDeadline = startedAt + 9.6 * 60_000;
function budget(ms, deadline, label) {
  const left = deadline - Date.now();
  if (left <= 0) throw new Error(`${label}: skipped, the run's 10-minute budget is spent`);
  return Math.min(ms, left);
}

/** Log lines: numbers rounded, the per-store request counts left to the JSON. */
const logReplacer = (key, value) => (key === 'requestsByStore' ? undefined : round(value));
const log = (line) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}`);
const round = (x, digits = 2) => (typeof x === 'number' ? Number(x.toFixed(digits)) : x);

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Median of every numeric field over the runs; min, max and samples of the primary metric. */
function summarize(samples, metric = 'ms') {
  if (!Array.isArray(samples)) return samples; // { error }
  const out = {};
  for (const key of Object.keys(samples[0])) {
    const values = samples.map((s) => s[key]);
    out[key] = typeof values[0] === 'number' ? round(median(values)) : values[0];
  }
  const primary = samples.map((s) => s[metric]);
  out.runs = samples.length;
  out.min = { [metric]: round(Math.min(...primary)) };
  out.max = { [metric]: round(Math.max(...primary)) };
  out.samples = { [metric]: primary.map((v) => round(v)) };
  return out;
}

// ---- build ----------------------------------------------------------------------------------

async function buildAll() {
  const { build } = await import('vite');
  const quiet = { configFile: false, logLevel: 'warn', clearScreen: false };

  // (a) The bench page and its workers, a production build.
  await build({
    ...quiet,
    root: benchDir,
    base: '/',
    worker: { format: 'es' },
    build: {
      outDir: distDir,
      emptyOutDir: true,
      target: 'es2022',
      minify,
      terserOptions,
      reportCompressedSize: false,
      rollupOptions: { input: path.join(benchDir, 'index.html'), checks: { bundlerTimings: false } },
    },
  });

  // (b) Bundle sizes: library builds, ES format, minified, dependencies included.
  async function gzipOfLib(entry) {
    const output = await build({
      ...quiet,
      root,
      build: {
        write: false,
        target: 'es2022',
        minify,
        terserOptions,
        reportCompressedSize: false,
        lib: { entry: path.join(root, entry), formats: ['es'], fileName: 'bundle' },
        rollupOptions: { external: [], checks: { bundlerTimings: false } },
      },
    });
    const outputs = (Array.isArray(output) ? output : [output]).flatMap((o) => o.output);
    const code = outputs
      .filter((chunk) => chunk.type === 'chunk')
      .map((chunk) => chunk.code)
      .join('\n');
    return { rawBytes: Buffer.byteLength(code), gzipBytes: gzipSync(code, { level: 9 }).length };
  }
  const client = await gzipOfLib('src/client/index.ts');
  const worker = await gzipOfLib('src/worker/index.ts');

  // The Node variant: bench/node.ts bundled for Node (every dependency inlined).
  await build({
    ...quiet,
    root,
    ssr: { noExternal: true, target: 'node' },
    build: {
      ssr: path.join(benchDir, 'node.ts'),
      outDir: distNodeDir,
      emptyOutDir: true,
      target: 'node20',
      minify: false,
      reportCompressedSize: false,
      rollupOptions: { output: { format: 'es', entryFileNames: 'node.mjs' } },
    },
  });

  return {
    clientGzipBytes: client.gzipBytes,
    workerGzipBytes: worker.gzipBytes,
    clientRawBytes: client.rawBytes,
    workerRawBytes: worker.rawBytes,
  };
}

// ---- static server --------------------------------------------------------------------------

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
};

async function serve(dir) {
  const server = http.createServer((req, res) => {
    const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = path.join(dir, pathname === '/' ? 'index.html' : pathname);
    if (!file.startsWith(dir + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, {
      'content-type': MIME[path.extname(file)] ?? 'application/octet-stream',
      'cache-control': 'no-cache',
    });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return { server, url: `http://127.0.0.1:${server.address().port}/` };
}

// ---- browser --------------------------------------------------------------------------------

/** The same browser as playwright.config.ts: Debian's Chromium unless CHROMIUM_PATH, same flags. */
async function launchBrowser() {
  const { chromium } = await import('playwright');
  return chromium.launch({ headless: true, ...chromiumLaunchOptions() });
}

/** The JS heap of the worker whose URL contains `urlPart`, after a full GC, through the DevTools protocol. */
async function workerHeapBytes(browser, urlPart) {
  const cdp = await browser.newBrowserCDPSession();
  try {
    const { targetInfos } = await cdp.send('Target.getTargets');
    const target = targetInfos.find((t) => t.type === 'worker' && t.url.includes(urlPart));
    if (!target) throw new Error(`no worker target with URL containing ${urlPart}`);
    // Not flattened: Playwright's CDPSession talks to its own session only, so the worker's
    // messages travel inside Target.sendMessageToTarget / receivedMessageFromTarget.
    const { sessionId } = await cdp.send('Target.attachToTarget', {
      targetId: target.targetId,
      flatten: false,
    });
    let nextId = 0;
    const pending = new Map();
    cdp.on('Target.receivedMessageFromTarget', (event) => {
      if (event.sessionId !== sessionId) return;
      const message = JSON.parse(event.message);
      const settle = pending.get(message.id);
      if (!settle) return;
      pending.delete(message.id);
      if (message.error) settle.reject(new Error(`${message.error.message} (${message.error.code})`));
      else settle.resolve(message.result);
    });
    const call = (method, params = {}) =>
      new Promise((resolve, reject) => {
        const id = ++nextId;
        pending.set(id, { resolve, reject });
        cdp
          .send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id, method, params }) })
          .catch(reject);
      });
    await call('HeapProfiler.collectGarbage');
    await call('HeapProfiler.collectGarbage');
    const usage = await call('Runtime.getHeapUsage');
    await cdp.send('Target.detachFromTarget', { sessionId }).catch(() => undefined);
    return usage.usedSize;
  } finally {
    await cdp.detach().catch(() => undefined);
  }
}

class Page {
  constructor(browser, url) {
    this.browser = browser;
    this.url = url;
    this.page = undefined;
  }

  async open() {
    await this.page?.close().catch(() => undefined);
    this.page = await this.browser.newPage();
    this.page.on('console', (msg) => {
      if (msg.type() === 'error' || msg.type() === 'warning') log(`page ${msg.type()}: ${msg.text()}`);
    });
    this.page.on('pageerror', (error) => log(`page error: ${error.message}`));
    await this.page.goto(this.url);
    await this.page.waitForFunction(() => window.bench !== undefined, undefined, { timeout: 15_000 });
  }

  /** Calls `window.bench[method](...args)`; past `ms` the page (and its workers) is replaced. */
  async call(method, args, limitMs, label) {
    const ms = budget(limitMs, browserDeadline, label);
    let timer;
    try {
      return await Promise.race([
        this.page.evaluate(([m, a]) => window.bench[m](...a), [method, args]),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`${label}: timed out after ${ms / 1000} s (window.bench.${method})`)),
            ms,
          );
        }),
      ]);
    } catch (error) {
      // A timed-out or failed scenario may leave workers busy: start the next one on a clean page.
      await this.open().catch(() => undefined);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }
}

const errorOf = (error) => ({ error: error instanceof Error ? error.message.split('\n')[0] : String(error) });

async function runBrowser(browser, url) {
  const page = new Page(browser, url);
  await page.open();
  const results = { platform: undefined, scenarios: {}, raw: {} };

  const platformRuns = [];
  try {
    for (let i = 0; i < runs.platform; i++) {
      const sizesP = options.quick
        ? { commits: 100, records: 10_000, roundTrips: 200 }
        : { commits: 300, records: 10_000, roundTrips: 500 };
      platformRuns.push(await page.call('platform', [sizesP], timeoutMs('platform'), 'platform'));
      log(
        `platform run ${i + 1}/${runs.platform}: ${JSON.stringify(platformRuns.at(-1), (_, v) => round(v, 3))}`,
      );
    }
    results.platform = summarize(platformRuns, 'idbCommitMs');
  } catch (error) {
    log(`platform FAILED: ${errorOf(error).error}`);
    results.platform = errorOf(error);
  }

  async function repeat(name, count, method, args, metric = 'ms') {
    if (!only.has(name)) return;
    const samples = [];
    try {
      for (let i = 0; i < count; i++) {
        samples.push(await page.call(method, args, timeoutMs(name), `${name} run ${i + 1}`));
        log(`${name} run ${i + 1}/${count}: ${JSON.stringify(samples.at(-1), logReplacer)}`);
      }
      results.raw[name] = samples;
      results.scenarios[name] = summarize(samples, metric);
    } catch (error) {
      log(`${name} FAILED: ${errorOf(error).error}`);
      results.scenarios[name] = { ...errorOf(error), completedRuns: samples.length };
    }
  }

  await repeat('fanOut1000', runs.big, 'fanOut', [sizes.fanOut]);
  await repeat('chain1000', runs.big, 'chain', [sizes.chain]);
  await repeat('starts1000', runs.big, 'starts', [sizes.starts, 100]);
  for (const [name, target] of [
    ['replay10k', sizes.replaySmall],
    ['replay50k', sizes.replayBig],
  ]) {
    if (!only.has(name)) continue;
    try {
      const setup = await page.call(
        'replayBuild',
        [name, target, 1000],
        timeoutMs(`${name}:build`),
        `${name} build`,
      );
      log(
        `${name} history: ${setup.events} events (${setup.activities} activities) built in ${Math.round(setup.buildMs)} ms`,
      );
      // The build wrote tens of thousands of records: let the database settle, and replay once
      // untimed (a fresh worker too), so the timed runs do not measure the build's aftermath.
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      const warmup = await page.call('replayQuery', [name], timeoutMs(name), `${name} warm-up`);
      log(`${name} warm-up (not counted): ${round(warmup.ms)} ms`);
      await repeat(name, runs.small, 'replayQuery', [name]);
      const entry = results.scenarios[name];
      if (entry && !entry.error) {
        Object.assign(entry, {
          events: setup.events,
          activities: setup.activities,
          buildMs: round(setup.buildMs, 0),
          warmupMs: round(warmup.ms),
        });
      }
      await page.call('replayDrop', [name], 15_000, `${name} cleanup`).catch(() => undefined);
    } catch (error) {
      log(`${name} FAILED: ${errorOf(error).error}`);
      results.scenarios[name] = errorOf(error);
    }
  }
  await repeat('coldStart', runs.small, 'coldStart', []);

  if (only.has('idle10k')) {
    const samples = [];
    try {
      for (let i = 0; i < runs.idle; i++) {
        const { url: workerUrl } = await page.call('idleOpen', [], 30_000, 'idle10k open');
        const urlPart = new URL(workerUrl).search;
        const baseline = await workerHeapBytes(browser, urlPart);
        const filled = await page.call(
          'idleFill',
          [sizes.idle],
          timeoutMs('idle10k'),
          `idle10k run ${i + 1}`,
        );
        const used = await workerHeapBytes(browser, urlPart);
        await page.call('idleClose', [], 30_000, 'idle10k close');
        samples.push({
          heapMB: used / 2 ** 20,
          baselineHeapMB: baseline / 2 ** 20,
          workflows: sizes.idle,
          startMs: filled.startMs,
          settledMs: filled.settledMs,
        });
        log(`idle10k run ${i + 1}/${runs.idle}: ${JSON.stringify(samples.at(-1), logReplacer)}`);
      }
      results.raw.idle10k = samples;
      results.scenarios.idle10k = summarize(samples, 'heapMB');
    } catch (error) {
      log(`idle10k FAILED: ${errorOf(error).error}`);
      results.scenarios.idle10k = { ...errorOf(error), completedRuns: samples.length };
    }
  }
  if (only.has('open100k') || only.has('list100k')) {
    try {
      results.scenarios.open100k = await scaleRuns(browser, page, results);
    } catch (error) {
      log(`open100k FAILED: ${errorOf(error).error}`);
      results.scenarios.open100k = errorOf(error);
      results.scenarios.list100k = errorOf(error);
    }
  }
  await page.page?.close().catch(() => undefined);
  return results;
}

/**
 * open100k and list100k: three opens of an empty database, then a database filled with
 * `sizes.closed` closed executions, opened three times (the first right after the fill, as a
 * reopened tab would); each open timed from `new Worker` to a new workflow's result, the worker's
 * heap read after each, and the first pages of `list` timed there.
 */
/** Start calls the fill keeps pending at once: a bulk load (starts1000 keeps 100). More pending starts share each flush and each fold of the log: 200 gave 2,400 to 2,960/s, 1,000 gave 2,730 to 3,230/s. */
const FILL_IN_FLIGHT = 1_000;

async function scaleRuns(browser, page, results) {
  const heapOf = async (url) => (await workerHeapBytes(browser, new URL(url).search)) / 2 ** 20;
  const empty = await page.call('emptyDb', [], 5_000, 'open100k empty db');
  const emptyOpens = [];
  const emptyHeaps = [];
  for (let i = 0; i < 3; i++) {
    const { ms, url } = await page.call(
      'scaleOpen',
      [empty],
      timeoutMs('open100k'),
      `open100k empty open ${i + 1}`,
    );
    emptyOpens.push(ms);
    emptyHeaps.push(await heapOf(url));
  }
  await page.call('scaleClose', [empty], 30_000, 'open100k empty close');
  log(
    `open100k empty database: opens ${emptyOpens.map((x) => round(x)).join(', ')} ms, heap ${emptyHeaps.map((x) => round(x)).join(', ')} MB`,
  );
  const fill = await page.call(
    'scaleFill',
    [sizes.closed, options.fillInFlight ?? FILL_IN_FLIGHT],
    timeoutMs('open100k:fill'),
    'open100k fill',
  );
  log(
    `open100k fill: ${sizes.closed} closed executions in ${round(fill.ms, 0)} ms (${round(fill.perSec, 0)}/s)`,
  );
  const opens = [];
  const heaps = [];
  const settledHeaps = [];
  const lists = [];
  for (let i = 0; i < 3; i++) {
    const { ms, url } = await page.call(
      'scaleOpen',
      [fill.db],
      timeoutMs('open100k'),
      `open100k open ${i + 1}`,
    );
    opens.push(ms);
    heaps.push(await heapOf(url));
    lists.push(await page.call('scaleList', [sizes.closed], timeoutMs('open100k'), `list100k ${i + 1}`));
    // Once the log it found is folded (a quiet second after the open): the engine's steady state.
    const settled = await page.call('scaleSettled', [fill.db], 30_000, `open100k settle ${i + 1}`);
    settledHeaps.push(await heapOf(url));
    log(
      `open100k open ${i + 1}: ${round(ms)} ms, heap ${round(heaps.at(-1))} MB, ${round(settledHeaps.at(-1))} MB once its log is folded (${round(settled.ms, 0)} ms later); list100k ${JSON.stringify(lists.at(-1), logReplacer)}`,
    );
  }
  await page.call('scaleClose', [fill.db], 30_000, 'open100k close');
  const emptyMs = median(emptyOpens);
  const emptyHeapMB = median(emptyHeaps);
  const heapMB = Math.max(...settledHeaps);
  results.raw.open100k = { emptyOpens, emptyHeaps, opens, heaps, settledHeaps, fill };
  results.raw.list100k = lists;
  results.scenarios.list100k = summarize(lists, 'ms');
  return {
    // The worst of the three opens, the first included: each must be within the limit.
    ms: Math.max(...opens),
    firstOpenMs: opens[0],
    opens: opens.map((x) => round(x)),
    emptyMs,
    limitMs: Math.max(3 * emptyMs, 150),
    vsEmpty: round(Math.max(...opens) / emptyMs),
    closed: sizes.closed,
    fillMs: fill.ms,
    fillPerSec: fill.perSec,
    // Steady state: once the log the open found is folded. Right after the first workflow, the
    // not yet folded log (at most about 5,000 records) is in memory too: `openHeapMB`.
    heapMB,
    openHeapMB: Math.max(...heaps),
    emptyHeapMB,
    heapRatio: heapMB / emptyHeapMB,
    openHeapRatio: Math.max(...heaps) / emptyHeapMB,
  };
}

// ---- Node variant ---------------------------------------------------------------------------

function exposeGc() {
  if (typeof globalThis.gc === 'function') return globalThis.gc;
  try {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc');
  } catch {
    return undefined;
  }
}

async function runNodeVariant() {
  const modulePath = pathToFileURL(path.join(distNodeDir, 'node.mjs')).href;
  const { runNode } = await import(modulePath);
  const raw = await runNode({
    only,
    runs: { small: runs.small, big: runs.big, idle: runs.idle },
    sizes,
    gc: exposeGc(),
    log,
    timeoutMs: (scenario) => budget(timeoutMs(scenario), nodeDeadline, `node ${scenario}`),
  });
  const scenarios = {};
  for (const [name, value] of Object.entries(raw)) {
    scenarios[name] = summarize(value, name === 'idle10k' ? 'heapMB' : 'ms');
  }
  return { store: 'memoryStore', scenarios };
}

// ---- report ---------------------------------------------------------------------------------

/**
 * Engine figures against the platform measured in the same run. `ioEstimateMs` is what the
 * scenario's IndexedDB work alone would take done one request at a time: read requests x one
 * awaited get, records / records-per-second in a transaction, commits x one 9-store commit.
 */
function ratiosOf(platform, scenarios) {
  if (!platform || platform.error) return {};
  const commitRate = 1000 / platform.idbCommitMs;
  const ioEstimate = (s) =>
    round(
      s.readRequests * platform.idbSequentialGetMs +
        (s.records * 1000) / platform.idbRecordsPerSec +
        s.transactions * platform.idbCommitWideMs,
      0,
    );
  const r = {};
  const ok = (s) => s && !s.error;
  const { fanOut1000, chain1000, starts1000, replay10k, replay50k, coldStart, idle10k } = scenarios;
  for (const [name, s] of [
    ['fanOut1000', fanOut1000],
    ['chain1000', chain1000],
  ]) {
    if (!ok(s)) continue;
    const perSec = (s.children * 1000) / s.ms;
    r[name] = {
      childrenPerSec: round(perSec, 0),
      msPerChild: round(s.ms / s.children, 3),
      vsOneCommitPerChildRate: round(perSec / commitRate, 3),
      commitTimesPerChild: round(s.ms / s.children / platform.idbCommitMs),
      transactionsPerChild: round(s.transactions / s.children),
      recordsPerChild: round(s.records / s.children),
      readRequestsPerChild: round(s.readRequests / s.children),
      eventsPerChild: round(s.events / s.children),
      ioEstimateMs: ioEstimate(s),
    };
  }
  if (ok(starts1000)) {
    r.starts1000 = {
      vsOneCommitPerStartRate: round(starts1000.perSec / commitRate, 3),
      transactionsPerStart: round(starts1000.transactions / sizes.starts),
      recordsPerStart: round(starts1000.records / sizes.starts),
      readRequestsPerStart: round(starts1000.readRequests / sizes.starts),
      ioEstimateMs: ioEstimate(starts1000),
    };
  }
  for (const [name, s] of [
    ['replay10k', replay10k],
    ['replay50k', replay50k],
  ]) {
    if (!ok(s)) continue;
    const loadMs = (platform.load10kEventsAs10RecordsOf1000Ms * s.events) / 10_000;
    r[name] = {
      eventsPerSec: round((s.events * 1000) / s.ms, 0),
      packedLoadMs: round(loadMs, 1),
      vsPackedLoad: round(s.ms / loadMs),
    };
  }
  if (ok(coldStart)) {
    r.coldStart = {
      platformMs: round(platform.workerStartMs + platform.idbOpenMs, 1),
      vsWorkerStartPlusDbOpen: round(coldStart.ms / (platform.workerStartMs + platform.idbOpenMs)),
    };
  }
  if (ok(idle10k)) {
    r.idle10k = { kBPerWorkflow: round((idle10k.heapMB * 1024) / idle10k.workflows, 3) };
  }
  return r;
}

function verdicts(scenarios) {
  const out = {};
  const check = (key, s, target) => {
    if (!s || s.error || s[target.metric] === undefined) return;
    const value = s[target.metric];
    const max = key === 'open100k' ? s.limitMs : target.max;
    const met = max !== undefined ? value <= max : value >= target.min;
    out[key] = { target: target.text, value: round(value), met: fullSizes ? met : null };
  };
  for (const name of Object.keys(TARGETS)) {
    if (name.endsWith('GzipBytes')) check(name, scenarios.bundle, TARGETS[name]);
    else check(name, scenarios[TARGETS[name].of ?? name], TARGETS[name]);
  }
  return out;
}

function fmt(value, unit = '') {
  if (value === undefined || value === null) return '-';
  const n = Number(value);
  const text = n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(n >= 10 ? 1 : 2);
  return `${text}${unit}`;
}

function tableRows(report) {
  const s = report.scenarios;
  const r = report.ratios;
  const n = report.node?.scenarios ?? {};
  const t = report.targets;
  const metVerdict = (key) => (t[key] ? (t[key].met === null ? 'n/a' : t[key].met ? 'yes' : 'NO') : '');
  const err = (x) => (x?.error ? `ERROR: ${x.error.slice(0, 60)}` : undefined);
  const rows = [];
  const add = (name, weft, ratio, targetKey, node) =>
    rows.push([
      name,
      weft,
      ratio ?? '',
      targetKey ? (t[targetKey]?.target ?? TARGETS[targetKey].text) : '',
      targetKey ? metVerdict(targetKey) : '',
      node ?? '',
    ]);
  const p = report.platform;
  if (p && !p.error) {
    add(
      'platform: idb commit (1 record)',
      `${fmt(p.idbCommitMs, ' ms')}`,
      `${fmt(1000 / p.idbCommitMs, '/s')}`,
    );
    add('platform: records in one tx', fmt(p.idbRecordsPerSec, '/s'), '');
    add('platform: packed events (100/record)', fmt(p.idbPackedEventsPerSec, '/s'), '');
    add(
      'platform: Comlink round trip',
      fmt(p.comlinkRoundTripMs, ' ms'),
      `${fmt(p.comlinkInFlight100PerSec, '/s')} w/ 100 in flight`,
    );
    add(
      'platform: load 10k events (10 x 1000)',
      fmt(p.load10kEventsAs10RecordsOf1000Ms, ' ms'),
      `${fmt(p.load10kEventsAs10000RecordsMs, ' ms')} as 10k records`,
    );
    add(
      'platform: worker start / db open',
      `${fmt(p.workerStartMs, ' ms')} / ${fmt(p.idbOpenMs, ' ms')}`,
      '',
    );
    add(
      'platform: commit, 9 stores, 4 records',
      fmt(p.idbCommitWideMs, ' ms'),
      'the shape of an engine commit',
    );
    add(
      'platform: get, awaited one by one',
      fmt(p.idbSequentialGetMs, ' ms'),
      `${fmt(p.idbPipelinedGetMs, ' ms')} pipelined`,
    );
  }
  const scen = (name, show, ratio, targetKey, nodeShow) => {
    if (!only.has(name)) return;
    add(
      `${name}${sizeNote(name)}`,
      err(s[name]) ?? show(s[name]),
      s[name]?.error ? '' : ratio,
      targetKey,
      n[name] ? (err(n[name]) ?? nodeShow(n[name])) : '',
    );
  };
  scen(
    'fanOut1000',
    (x) =>
      `${fmt(x.ms, ' ms')} (${fmt((x.children * 1000) / x.ms, ' children/s')}; ${fmt(x.transactions)} tx, ${fmt(x.records)} records, ${fmt(x.events)} events)`,
    r.fanOut1000 &&
      `${r.fanOut1000.vsOneCommitPerChildRate}x 1-commit/child rate; per child ${r.fanOut1000.transactionsPerChild} tx, ${r.fanOut1000.recordsPerChild} rec, ${r.fanOut1000.readRequestsPerChild} reads; IO est. ${fmt(r.fanOut1000.ioEstimateMs, ' ms')}`,
    'fanOut1000',
    (x) => `${fmt(x.ms, ' ms')} (${fmt(x.transactions)} tx)`,
  );
  scen(
    'chain1000',
    (x) => `${fmt(x.ms, ' ms')} (${fmt(x.ms / x.children, ' ms/child')}; ${fmt(x.transactions)} tx)`,
    r.chain1000 &&
      `${r.chain1000.commitTimesPerChild} commit-times/child; per child ${r.chain1000.transactionsPerChild} tx, ${r.chain1000.recordsPerChild} rec, ${r.chain1000.readRequestsPerChild} reads; IO est. ${fmt(r.chain1000.ioEstimateMs, ' ms')}`,
    'chain1000',
    (x) => fmt(x.ms, ' ms'),
  );
  scen(
    'starts1000',
    (x) => `${fmt(x.perSec, '/s')} (${fmt(x.ms, ' ms')}; all done ${fmt(x.completedMs, ' ms')})`,
    r.starts1000 &&
      `${r.starts1000.vsOneCommitPerStartRate}x 1-commit/start rate; per start ${r.starts1000.transactionsPerStart} tx, ${r.starts1000.recordsPerStart} rec, ${r.starts1000.readRequestsPerStart} reads; IO est. ${fmt(r.starts1000.ioEstimateMs, ' ms')}`,
    'starts1000',
    (x) => fmt(x.perSec, '/s'),
  );
  for (const name of ['replay10k', 'replay50k']) {
    scen(
      name,
      (x) => `${fmt(x.ms, ' ms')} (${fmt(x.events)} events)`,
      r[name] &&
        `${r[name].vsPackedLoad}x packed load (${fmt(r[name].packedLoadMs, ' ms')}); ${fmt(r[name].eventsPerSec, ' events/s')}`,
      name,
      (x) => fmt(x.ms, ' ms'),
    );
  }
  scen(
    'coldStart',
    (x) => fmt(x.ms, ' ms'),
    r.coldStart &&
      `${r.coldStart.vsWorkerStartPlusDbOpen}x (worker start + db open = ${fmt(r.coldStart.platformMs, ' ms')})`,
    'coldStart',
    (x) => fmt(x.ms, ' ms'),
  );
  scen(
    'idle10k',
    (x) => `${fmt(x.heapMB, ' MB')} worker heap (empty engine ${fmt(x.baselineHeapMB, ' MB')})`,
    r.idle10k && `${r.idle10k.kBPerWorkflow} KB/workflow`,
    'idle10k',
    (x) => `+${fmt(x.heapMB, ' MB')} heap (store incl.)`,
  );
  scen(
    'open100k',
    (x) =>
      `opens ${x.opens.map((o) => fmt(o, ' ms')).join(', ')} (empty db ${fmt(x.emptyMs, ' ms')}); fill ${fmt(x.fillPerSec, '/s')}; heap ${fmt(x.heapMB, ' MB')} settled, ${fmt(x.openHeapMB, ' MB')} at open (empty ${fmt(x.emptyHeapMB, ' MB')})`,
    s.open100k &&
      !s.open100k.error &&
      `${s.open100k.vsEmpty}x empty; limit ${fmt(s.open100k.limitMs, ' ms')}`,
    'open100k',
    () => '',
  );
  if (s.open100k && !s.open100k.error) {
    add(
      'open100k: fill',
      fmt(s.open100k.fillPerSec, ' starts/s'),
      `${fmt(s.open100k.fillMs, ' ms')} for ${fmt(s.open100k.closed)}`,
      'open100kFill',
    );
    add(
      'open100k: heap',
      fmt(s.open100k.heapRatio, 'x'),
      `${fmt(s.open100k.heapMB, ' MB')} vs ${fmt(s.open100k.emptyHeapMB, ' MB')}`,
      'open100kHeap',
    );
  }
  scen(
    'list100k',
    (x) =>
      `first page ${fmt(x.ms, ' ms')}; filtered ${fmt(x.filteredMs, ' ms')}; count ${fmt(x.countMs, ' ms')} (${fmt(x.count)})`,
    '',
    undefined,
    () => '',
  );
  if (only.has('bundle')) {
    const b = s.bundle;
    add(
      'bundle: client (gzip)',
      err(b) ?? fmt(b.clientGzipBytes, ' B'),
      b.error ? '' : `${fmt(b.clientRawBytes, ' B')} minified`,
      'clientGzipBytes',
    );
    add(
      'bundle: worker (gzip)',
      err(b) ?? fmt(b.workerGzipBytes, ' B'),
      b.error ? '' : `${fmt(b.workerRawBytes, ' B')} minified`,
      'workerGzipBytes',
    );
  }
  return rows;
}

function sizeNote(name) {
  if (fullSizes) return '';
  const m = {
    fanOut1000: sizes.fanOut,
    chain1000: sizes.chain,
    starts1000: sizes.starts,
    replay10k: sizes.replaySmall,
    replay50k: sizes.replayBig,
    idle10k: sizes.idle,
    open100k: sizes.closed,
    list100k: sizes.closed,
  }[name];
  return m ? ` [n=${m}]` : '';
}

const HEADER = [
  'scenario',
  'weft (Chromium, IndexedDB)',
  'vs platform',
  'target',
  'met',
  'Node (memory store)',
];

function textTable(rows) {
  const all = [HEADER, ...rows];
  const widths = HEADER.map((_, i) => Math.max(...all.map((row) => String(row[i]).length)));
  const line = (row) =>
    row
      .map((cell, i) => String(cell).padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return [line(HEADER), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function markdownTable(rows) {
  const esc = (cell) => String(cell).replace(/\|/g, '\\|');
  return [
    `| ${HEADER.join(' | ')} |`,
    `| ${HEADER.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row.map(esc).join(' | ')} |`),
  ].join('\n');
}

/** The issue's four platform figures first, then the extras. */
function platformJson(p) {
  if (p.error) return p;
  const { idbCommitMs, idbRecordsPerSec, idbPackedEventsPerSec, comlinkRoundTripMs, ...extras } = p;
  return {
    idbCommitMs: round(idbCommitMs, 3),
    idbRecordsPerSec: round(idbRecordsPerSec, 0),
    idbPackedEventsPerSec: round(idbPackedEventsPerSec, 0),
    comlinkRoundTripMs: round(comlinkRoundTripMs, 3),
    ...extras,
  };
}

// ---- main -----------------------------------------------------------------------------------

async function main() {
  const started = startedAt;
  log(
    `weft bench${options.quick ? ' --quick' : ''}: ${[...only].join(', ')}; runs small ${runs.small}, big ${runs.big}, idle ${runs.idle}`,
  );
  log('building (vite): bench page, bundle sizes, Node variant');
  const bundle = await buildAll();
  log(`built in ${((Date.now() - started) / 1000).toFixed(1)} s: ${JSON.stringify(bundle)}`);

  const { server, url } = await serve(distDir);
  let browser;
  let browserResults;
  let chromiumVersion;
  try {
    browser = await launchBrowser();
    chromiumVersion = browser.version();
    log(`Chromium ${chromiumVersion}, page ${url}`);
    browserResults = await runBrowser(browser, url);
  } finally {
    await browser?.close().catch(() => undefined);
    await new Promise((resolve) => server.close(resolve));
  }
  const scenarios = browserResults.scenarios;
  if (only.has('bundle')) scenarios.bundle = bundle;

  let node;
  if (options.node) {
    log('Node variant (createEngine + memoryStore, in process)');
    try {
      node = await runNodeVariant();
    } catch (error) {
      node = errorOf(error);
      log(`Node variant FAILED: ${node.error}`);
    }
  }

  const cpus = os.cpus();
  const report = {
    platform: platformJson(browserResults.platform),
    scenarios: Object.fromEntries(
      SCENARIOS.filter((name) => scenarios[name]).map((name) => [name, scenarios[name]]),
    ),
    date: new Date().toISOString(),
    machine: {
      cpu: cpus[0]?.model ?? 'unknown',
      cores: cpus.length,
      memoryGB: round(os.totalmem() / 2 ** 30, 1),
      os: `${os.type()} ${os.release()} ${os.arch()}`,
    },
    chromium: chromiumVersion,
    node: undefined,
    nodeVersion: process.version,
    quick: options.quick,
    sizes,
    runs,
    durationSec: 0,
  };
  report.ratios = ratiosOf(report.platform, report.scenarios);
  report.targets = verdicts(report.scenarios);
  report.node = node;
  report.durationSec = round((Date.now() - started) / 1000, 1);

  const rows = tableRows(report);
  console.log(
    `\nweft bench, ${report.date} - ${report.machine.cpu}, ${report.machine.cores} cores, Chromium ${chromiumVersion}, Node ${process.version}`,
  );
  console.log(
    `(median of ${runs.big} runs: fanOut, chain, starts; ${runs.small}: replay, coldStart; ${runs.idle}: idle; platform ${runs.platform})\n`,
  );
  console.log(textTable(rows));

  const partial = options.quick || options.only !== undefined;
  const outFile = options.out ?? path.join(resultsDir, partial ? 'partial.json' : 'latest.json');
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  const tmp = `${outFile}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(report, null, 2)}\n`);
  fs.renameSync(tmp, outFile);
  const md = [
    `weft bench, ${report.date.slice(0, 10)}: ${report.machine.cpu} (${report.machine.cores} cores, ${report.machine.memoryGB} GB), headless Chromium ${chromiumVersion}, Node ${process.version}${options.quick ? ' (--quick sizes)' : ''}.`,
    '',
    markdownTable(rows),
    '',
  ].join('\n');
  fs.writeFileSync(outFile.replace(/\.json$/, '.md'), md);
  log(`wrote ${path.relative(root, outFile)} (+ .md) in ${report.durationSec} s`);

  const failed = [
    ...(report.platform.error ? [['platform', report.platform]] : []),
    ...Object.entries(report.scenarios).filter(([, v]) => v.error),
    ...Object.entries(node?.scenarios ?? {}).filter(([, v]) => v.error),
    ...(node?.error ? [['node', node]] : []),
  ];
  if (failed.length > 0) {
    console.error(
      `\n${failed.length} scenario(s) failed: ${failed.map(([k, v]) => `${k}: ${v.error}`).join('; ')}`,
    );
    process.exitCode = 1;
  }
}

main().catch((error) => {
  console.error('bench failed:', error);
  process.exitCode = 1;
});
