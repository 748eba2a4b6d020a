/**
 * The engine in a service worker, for the e2e tests: the playground's workflows and activities,
 * on the database named by `?db=` in the script's URL.
 */
import * as activities from '../../../demo/activities.ts';
import * as workflows from '../../../demo/workflows.ts';
import { startWorker } from '../../../src/worker/index.ts';

interface ServiceWorkerScope {
  skipWaiting(): Promise<void>;
  clients: { claim(): Promise<void> };
  addEventListener(
    type: 'install' | 'activate',
    listener: (event: { waitUntil(p: Promise<unknown>): void }) => void,
  ): void;
}

const scope = globalThis as unknown as ServiceWorkerScope;
// Takes over at once: the test's page talks to it as soon as it is registered.
scope.addEventListener('install', (event) => event.waitUntil(scope.skipWaiting()));
scope.addEventListener('activate', (event) => event.waitUntil(scope.clients.claim()));

startWorker({
  workflows,
  activities,
  databaseName: new URL(globalThis.location.href).searchParams.get('db') ?? 'weft-sw',
}).catch((error: unknown) => console.error('weft service worker failed to start', error));
