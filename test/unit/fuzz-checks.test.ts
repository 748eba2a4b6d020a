/**
 * The crash fuzzer's checks can fail: with a store that misbehaves on every host (no crash
 * needed), a few seeds report problems of the kind the fault implies. Without this, a check
 * broken so that it passes everything would leave `npm run fuzz` green.
 */
import { describe, expect, it } from 'vitest';
import { runSeed } from '../../fuzz/seed.ts';
import type { StoreFaults } from '../../src/store/faulty.ts';

/** What seeds 1 to 6 report, on the memory store, without crashes. */
async function problemsWith(sabotage: () => StoreFaults): Promise<string[]> {
  const problems: string[] = [];
  for (let seed = 1; seed <= 6; seed++) {
    const report = await runSeed(seed, {
      sabotage,
      crashes: 0,
      noBaseline: true,
      storeKind: 'memory',
      deadlineMs: 2_000,
    });
    problems.push(...report.problems.map((p) => `${p.kind}: ${p.what}`));
  }
  return problems;
}

type Added = { kind?: string; signalName?: string };

describe('the crash fuzzer, on a store that misbehaves', () => {
  it('reports nothing on a store that behaves', async () => {
    expect(await problemsWith(() => ({}))).toEqual([]);
  }, 60_000);

  it('reports client signals the store drops as lost', async () => {
    const problems = await problemsWith(() => ({
      before: (op) =>
        op.name === 'inbox.add' &&
        (op.args[0] as Added).kind === 'signal' &&
        (op.args[0] as Added).signalName === 'sig'
          ? 'skip'
          : undefined,
    }));
    // The runs that wait for them never close.
    expect(problems.some((p) => /^lost: .* never closed \(RUNNING\)/.test(p))).toBe(true);
  }, 60_000);

  it('reports messages the store never deletes, and so handles again, as duplicated', async () => {
    const problems = await problemsWith(() => ({
      before: (op) => (op.name === 'inbox.delete' ? 'skip' : undefined),
    }));
    expect(problems.some((p) => p.startsWith('duplicated: '))).toBe(true);
  }, 60_000);

  it('reports results the store changes as diverged', async () => {
    const problems = await problemsWith(() => ({
      before: (op) => {
        const record = op.args[0] as { status?: string; result?: unknown };
        if (op.name === 'executions.put' && record.status === 'COMPLETED') record.result = ['sabotaged'];
        return undefined;
      },
    }));
    expect(problems.some((p) => p.startsWith('diverged: '))).toBe(true);
  }, 60_000);
});
