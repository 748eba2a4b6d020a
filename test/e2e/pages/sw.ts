/**
 * The service-worker page for the e2e tests: registers the engine's service worker for `?db=`
 * and connects the client to it.
 */
import { type EffectRecord, readEffects } from '../../../demo/effects.ts';
import { type Client, connect } from '../../../src/client/index.ts';

export interface ServiceWorkerPage {
  client: Client;
  effects(): Promise<EffectRecord[]>;
}

declare global {
  interface Window {
    swPage?: ServiceWorkerPage;
  }
}

const db = new URL(location.href).searchParams.get('db') ?? 'weft-sw';
await navigator.serviceWorker.register(`/test/e2e/pages/engine.sw.ts?db=${encodeURIComponent(db)}`, {
  type: 'module',
  scope: '/test/e2e/pages/',
});
const registration = await navigator.serviceWorker.ready;
const worker = registration.active;
if (!worker) throw new Error('The service worker did not activate');
window.swPage = { client: await connect(worker), effects: () => readEffects(db) };
