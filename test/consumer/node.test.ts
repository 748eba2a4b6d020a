/**
 * Plain Node 20, no TypeScript, no bundler: programs in fixtures/node/ import weft from its
 * package and run workflows, each a step that exits non-zero when an assertion fails.
 */
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { run, workspace } from './helpers.ts';

let dir: string;
beforeAll(() => {
  dir = workspace('node', 'node');
});

const node = (step: string) => run(process.execPath, [path.join(dir, step)], dir);

describe('weft in plain Node, from the tarball', () => {
  it('imports every subpath, and importing patches nothing global', async () => {
    expect(await node('imports.mjs')).toEqual({ code: 0, output: expect.stringContaining('imports: weft') });
  });

  it('runs workflows with activities on memoryStore()', async () => {
    expect(await node('memory.mjs')).toEqual({ code: 0, output: expect.stringContaining('memory store:') });
  });

  it('runs workflows on indexedDbStore() over fake-indexeddb, and resumes one on a new connection', async () => {
    expect(await node('indexeddb.mjs')).toEqual({
      code: 0,
      output: expect.stringContaining('indexedDB store'),
    });
  });

  it('weft/testing: time skipping and the mock activity environment', async () => {
    expect(await node('testing.mjs')).toEqual({ code: 0, output: expect.stringContaining('weft/testing:') });
  });
});
