/** The fuzzer's output: each failing seed with its replay command, and the last line's totals. */
import type { SeedReport } from './seed.ts';

export interface Totals {
  points: number;
  seeds: number;
  lost: number;
  duplicated: number;
  diverged: number;
  failedSeeds: number[];
}

export function addReport(totals: Totals, report: SeedReport): void {
  totals.seeds++;
  totals.points += report.crashPoints;
  for (const problem of report.problems) totals[problem.kind]++;
  if (report.problems.length > 0) totals.failedSeeds.push(report.seed);
}

/** A seed's report: what it ran, what went wrong, and how to run it again. */
export function describeFailure(
  report: SeedReport,
  replay = `npm run fuzz -- --seed=${report.seed}`,
): string {
  const lines = [
    `seed ${report.seed}: ${report.problems.length === 0 ? 'ok' : `${report.problems.length} problems`} ` +
      `(${report.storeKind}, ${report.roots} roots, ${report.executions} executions, ` +
      `${report.crashPoints} crashes: ${report.crashes.join(' ') || 'none'}; ${report.ms} ms)`,
    ...report.problems.map((p) => `  ${p.kind}: ${p.what}`),
  ];
  if (report.problems.length > 0)
    lines.push(`  replay: ${replay} (timing varies: add --repeat=20 to run it 20 times side by side)`);
  return lines.join('\n');
}

/** The last line of a run, exactly as `npm run fuzz` prints it. */
export function summaryLine(totals: Totals): string {
  return `fuzz: ${totals.points} crash points, ${totals.seeds} seeds, lost ${totals.lost}, duplicated ${totals.duplicated}, diverged ${totals.diverged}`;
}
