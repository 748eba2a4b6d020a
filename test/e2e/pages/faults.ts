/**
 * The faults page for the e2e tests: one engine worker that can be armed to crash at a point of
 * a commit (see faults.worker.ts); when it says it is there, this page terminates it.
 */
import { type Client, connect } from '../../../src/client/index.ts';
import workerUrl from './faults.worker.ts?worker&url';

export interface FaultsPage {
  client: Client;
  /** Arms the crash at `point` of the next commit that writes `match`; resolves once armed. */
  arm(point: 'before-writes' | 'after-writes' | 'after-commit', match: string): Promise<void>;
  /** The point the worker crashed at (it is terminated by then), once it has. */
  crashed?: string;
}

declare global {
  interface Window {
    faults?: FaultsPage;
  }
}

const db = new URL(location.href).searchParams.get('db') ?? 'faults';
const url = `${workerUrl}${workerUrl.includes('?') ? '&' : '?'}${new URLSearchParams({ db })}`;
const worker = new Worker(new URL(url, import.meta.url), { type: 'module', name: 'faults' });
const client = await connect(worker);
await client.workflow.list();
const channel = new BroadcastChannel('weft-e2e-faults');
let onArmed: (() => void) | undefined;
const page: FaultsPage = {
  client,
  arm: (point, match) =>
    new Promise<void>((resolve) => {
      onArmed = resolve;
      channel.postMessage({ arm: point, match });
    }),
};
channel.onmessage = (event: MessageEvent<{ crashed?: string; armed?: string }>) => {
  if (event.data.armed) onArmed?.();
  if (!event.data.crashed) return;
  worker.terminate();
  page.crashed = event.data.crashed;
};
window.faults = page;
