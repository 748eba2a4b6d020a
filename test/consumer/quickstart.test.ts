/**
 * README's Quickstart is a working Vite app: its four code blocks (each opening with a
 * `// <file>.ts` line) with fixtures/vite-app/index.html, against weft from the tarball. The
 * app type-checks, `vite build` bundles it (the page, the module worker), and in Chromium the
 * page runs the order workflow to its end and logs what the README says it logs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { chromium } from '@playwright/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumLaunchOptions } from '../../browser.mjs';
import { repoRoot, tsc, vite, workspace } from './helpers.ts';

const QUICKSTART_FILES = ['workflows.ts', 'activities.ts', 'engine.worker.ts', 'main.ts'];

/** The `ts` blocks of README's Quickstart section that name their file on their first line. */
function quickstartBlocks(): Map<string, string> {
  const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  const section = readme.split(/^## /m).find((s) => s.startsWith('Quickstart\n'));
  if (section === undefined) throw new Error('README.md has no "## Quickstart" section');
  const blocks = new Map<string, string>();
  for (const [, code] of section.matchAll(/^```ts\n([\s\S]*?)^```$/gm)) {
    const name = /^\/\/ ([\w.-]+\.ts)\n/.exec(code!)?.[1];
    if (name !== undefined) blocks.set(name, code!);
  }
  return blocks;
}

const MIME: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.map': 'application/json',
};

/** Serves the built app; anything else (the Quickstart's `/api/reserve/...`) is a 404. */
function serve(root: string): Promise<{ server: Server; url: string }> {
  const server = createServer((request, response) => {
    const pathname = new URL(request.url ?? '/', 'http://localhost').pathname;
    const file = path.join(root, pathname === '/' ? 'index.html' : pathname);
    try {
      if (!file.startsWith(root + path.sep)) throw new Error('outside the app');
      const body = readFileSync(file);
      response.writeHead(200, { 'content-type': MIME[path.extname(file)] ?? 'application/octet-stream' });
      response.end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') throw new Error('no port');
      resolve({ server, url: `http://127.0.0.1:${address.port}/` });
    });
  });
}

let app: string;
let server: Server | undefined;
beforeAll(() => {
  app = workspace('quickstart', 'vite-app');
  const blocks = quickstartBlocks();
  expect([...blocks.keys()].sort()).toEqual([...QUICKSTART_FILES].sort());
  for (const [name, code] of blocks) writeFileSync(path.join(app, name), code);
});
afterAll(() => {
  server?.close();
});

describe("README's Quickstart as a Vite app, weft from the tarball", () => {
  it('type-checks (strict, skipLibCheck false, bundler resolution)', async () => {
    expect(await tsc(app, '-p', 'tsconfig.json')).toEqual({ code: 0, output: '' });
  });

  it('builds with vite build and runs the workflow in Chromium', async () => {
    const built = await vite(app, 'build', '--logLevel', 'warn', '--outDir', 'dist', '--emptyOutDir');
    expect(built).toMatchObject({ code: 0 });
    const served = await serve(path.join(app, 'dist'));
    server = served.server;

    const browser = await chromium.launch(chromiumLaunchOptions());
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      const logged = page.waitForEvent('console', {
        predicate: (message) => message.type() === 'log',
        timeout: 30_000,
      });
      await page.goto(served.url);
      expect((await logged).text()).toBe('charged for book approved');
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
