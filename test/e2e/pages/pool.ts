/**
 * The pool page for the e2e tests: `?workers=w1:default,w2:other` starts one worker per entry,
 * in order, each once the one before answers (so the first leads), then connects the client
 * to the pool.
 */

import { type EffectRecord, readEffects } from '../../../demo/effects.ts';
import { type Client, connect } from '../../../src/client/index.ts';
import workerUrl from './pool.worker.ts?worker&url';

export interface PoolPage {
  client: Client;
  /** One per worker, each connected when its worker started. */
  clients: Client[];
  workers: Worker[];
  effects(): Promise<EffectRecord[]>;
}

declare global {
  interface Window {
    pool?: PoolPage;
  }
}

const params = new URL(location.href).searchParams;
const db = params.get('db') ?? 'pool';
const workers: Worker[] = [];
const clients: Client[] = [];
for (const spec of (params.get('workers') ?? 'w1:default').split(',')) {
  const [name = 'worker', queues = 'default'] = spec.split(':');
  const query = new URLSearchParams({ db, name, queues: queues.replaceAll('+', ',') });
  // Appended as is: Vite's own query must stay intact.
  const url = `${workerUrl}${workerUrl.includes('?') ? '&' : '?'}${query}`;
  const worker = new Worker(new URL(url, import.meta.url), { type: 'module', name });
  workers.push(worker);
  // One client per worker (the pool's client shares worker 1 with the first).
  clients.push(await connect(worker));
  await clients[clients.length - 1]!.workflow.list();
}
window.pool = { client: await connect(workers), clients, workers, effects: () => readEffects(db) };
