/**
 * The playground's engine worker. The page passes its `?db=` and `?variant=` on to this
 * worker's URL: `db` names the IndexedDB database (each e2e test uses its own), `variant=v2`
 * deploys changed workflow code (see workflows-v2.ts), `lease` sets the lease timeout in ms,
 * `retention` how long closed executions are kept (a duration, or `Infinity`), `faults=1` lets the
 * e2e tests make the database refuse writes (see faults.ts). The child-workflow samples
 * (children.ts) are deployed in both variants.
 */
import { startWorker } from '../src/worker/index.ts';
import * as activities from './activities.ts';
import * as children from './children.ts';
import { faultyIndexedDB, listenForFaults } from './faults.ts';
import * as workflows from './workflows.ts';
import * as workflowsV2 from './workflows-v2.ts';

const params = new URL(globalThis.location.href).searchParams;
const databaseName = params.get('db') ?? 'weft-demo';
const variant = params.get('variant') ?? 'v1';
const lease = Number(params.get('lease'));
const retention = params.get('retention');
/**
 * Only the tests' pages switch faults on, with `?faults=1`. (Imported statically: a module
 * worker that awaits at its top level loses the messages that arrive meanwhile.)
 */
const indexedDB = params.get('faults') === '1' ? faultyDatabase() : undefined;

function faultyDatabase(): IDBFactory {
  const faults = { quota: false };
  listenForFaults(databaseName, faults);
  return faultyIndexedDB(globalThis.indexedDB, faults);
}

startWorker({
  workflows: variant === 'v2' ? { ...workflows, ...children, ...workflowsV2 } : { ...workflows, ...children },
  activities,
  databaseName,
  identity: `demo-${variant}-${crypto.randomUUID().slice(0, 8)}`,
  ...(indexedDB && { indexedDB }),
  ...(lease > 0 && { leaseTimeout: lease }),
  ...(retention !== null && {
    retention:
      retention === 'Infinity'
        ? Number.POSITIVE_INFINITY
        : /^\d+$/.test(retention)
          ? Number(retention)
          : retention,
  }),
}).catch((error: unknown) => {
  console.error('weft demo worker failed to start', error);
});
