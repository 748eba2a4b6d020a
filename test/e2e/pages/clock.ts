/**
 * The clock page for the e2e tests: one engine worker whose wall clock can be set
 * (`window.clock.shift(ms)`), and the client connected to it.
 */
import { type Client, connect } from '../../../src/client/index.ts';
import workerUrl from './clock.worker.ts?worker&url';

export interface ClockPage {
  client: Client;
  /** Moves the worker's wall clock by `ms` (negative: back); resolves once it has. */
  shift(ms: number): Promise<void>;
}

declare global {
  interface Window {
    clock?: ClockPage;
  }
}

const db = new URL(location.href).searchParams.get('db') ?? 'clock';
const url = `${workerUrl}${workerUrl.includes('?') ? '&' : '?'}${new URLSearchParams({ db })}`;
const worker = new Worker(new URL(url, import.meta.url), { type: 'module', name: 'clock' });
const client = await connect(worker);
await client.workflow.list();
const control = new BroadcastChannel('weft-e2e-clock');
window.clock = {
  client,
  shift: (ms) =>
    new Promise<void>((resolve) => {
      control.onmessage = () => resolve();
      control.postMessage({ shift: ms });
    }),
};
