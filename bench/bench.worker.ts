/**
 * The engine worker the benchmarks run: the real `startWorker` with the bench workflows and
 * activities, over the IndexedDB database named by the `db` query parameter. IndexedDB is
 * instrumented (instrument.ts) before the engine opens its database.
 */

import { startWorker } from '../src/worker/index.ts';
import * as activities from './activities.ts';
import { instrumentIndexedDb } from './instrument.ts';
import * as workflows from './workflows.ts';

instrumentIndexedDb();

const params = new URL(globalThis.location.href).searchParams;
const maxConcurrentActivities = params.get('maxConcurrentActivities');

startWorker({
  workflows,
  activities,
  databaseName: params.get('db') ?? 'weft-bench',
  // replay50k builds a history of about 50,000 events: the default cap (50,000) is raised so
  // the run is never terminated for its size.
  historyLimit: 100_000,
  // Only the replay scenarios' history builder raises it (to build faster); default 100.
  ...(maxConcurrentActivities !== null && { maxConcurrentActivities: Number(maxConcurrentActivities) }),
}).catch((error: unknown) => {
  console.error('weft bench worker failed to start', error);
});
