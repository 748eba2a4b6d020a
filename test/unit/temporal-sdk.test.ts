/**
 * Histories from Temporal's own TypeScript SDK test suite (temporalio/sdk-typescript,
 * packages/test/history_files, MIT: see test/unit/temporal-sdk/LICENSE.md), recorded by
 * Temporal's worker, replay in weft against the same workflow source written against
 * 'weft/workflow'; and one of them is refused when the code differs.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CancellationScope } from 'weft/workflow';
import { DeterminismViolationError } from '../../src/index.ts';
import { replayHistory } from '../../src/temporal/index.ts';
import * as langFlags from './temporal-sdk/lang-flags.ts';
import * as update from './temporal-sdk/update.ts';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'temporal-sdk');
const load = (name: string) => JSON.parse(readFileSync(path.join(dir, name), 'utf8'));

const histories: [file: string, workflows: Record<string, unknown>][] = [
  // A timer (withTimeout's) started, an activity run in its scope, the timer cancelled.
  ['lang_flags_replay_correctly_1_11_2.json', langFlags],
  // An update accepted, and the workflow completed before the update's own completion.
  ['complete_update_after_workflow_returns_pre1488.json', update],
];

describe("histories from Temporal's SDK test suite", () => {
  for (const [file, workflows] of histories) {
    it(`replays ${file}`, async () => {
      await expect(replayHistory({ workflows }, load(file))).resolves.toBeUndefined();
    });
  }

  it('refuses lang_flags_replay_correctly_1_11_2.json against code without its activity call', async () => {
    const workflows = {
      async langFlagsReplayCorrectly(): Promise<void> {
        await CancellationScope.withTimeout(10_000, async () => {});
      },
    };
    await expect(
      replayHistory({ workflows }, load('lang_flags_replay_correctly_1_11_2.json')),
    ).rejects.toThrow(DeterminismViolationError);
  });
});
