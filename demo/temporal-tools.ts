/**
 * The playground's bridge to Temporal: the selected execution's history as Temporal's JSON
 * (a file to keep as a replay test for the same code on a Temporal worker), and a history file
 * of either format replayed against the page's own workflow code.
 */
import type { WorkflowHandle } from '../src/client/index.ts';
import { replayHistory, toTemporalHistory } from '../src/temporal/index.ts';
import * as children from './children.ts';
import * as workflows from './workflows.ts';
import * as workflowsV2 from './workflows-v2.ts';

/** The code the page's worker runs (engine.worker.ts deploys the same). */
function codeOf(variant: string): Record<string, unknown> {
  return variant === 'v2' ? { ...workflows, ...children, ...workflowsV2 } : { ...workflows, ...children };
}

/** Saves `handle`'s history as `<workflowId>.temporal.json`. */
export async function downloadTemporalJson(handle: WorkflowHandle, workflowId: string): Promise<void> {
  const json = toTemporalHistory(await handle.fetchHistory());
  const url = URL.createObjectURL(new Blob([JSON.stringify(json, null, 2)], { type: 'application/json' }));
  const link = document.createElement('a');
  link.href = url;
  link.download = `${workflowId}.temporal.json`;
  link.click();
  // The download has its own copy once the click is handled.
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

/**
 * Replays the history in `file` (weft's `fetchHistory()` JSON or Temporal's) with the page's
 * code, and says how it went: it replays, or where it diverges.
 */
export async function replayFile(file: File, variant: string): Promise<{ ok: boolean; message: string }> {
  let history: unknown;
  try {
    history = JSON.parse(await file.text());
  } catch (error) {
    return { ok: false, message: `${file.name} is not JSON: ${(error as Error).message}` };
  }
  try {
    await replayHistory({ workflows: codeOf(variant) }, history as Parameters<typeof replayHistory>[1]);
    const events = (history as { events: unknown[] }).events.length;
    return {
      ok: true,
      message: `${file.name} replays with this page’s code (${variant}): ${events} events.`,
    };
  } catch (error) {
    const { name, message } = error as Error;
    return {
      ok: false,
      message: `${file.name} does not replay with this page’s code (${variant}): ${name}: ${message}`,
    };
  }
}
