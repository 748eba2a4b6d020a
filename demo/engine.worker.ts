/**
 * The playground's engine worker. The page passes its `?db=` and `?variant=` on to this
 * worker's URL: `db` names the IndexedDB database (each e2e test uses its own), `variant=v2`
 * deploys changed workflow code (see workflows-v2.ts), `lease` sets the lease timeout in ms,
 * `retention` how long closed executions are kept (a duration, or `Infinity`). The child-workflow samples
 * (children.ts) are deployed in both variants.
 */
import { startWorker } from '../src/worker/index.ts';
import * as activities from './activities.ts';
import * as children from './children.ts';
import * as workflows from './workflows.ts';
import * as workflowsV2 from './workflows-v2.ts';

const params = new URL(globalThis.location.href).searchParams;
const databaseName = params.get('db') ?? 'weft-demo';
const variant = params.get('variant') ?? 'v1';
const lease = Number(params.get('lease'));
const retention = params.get('retention');

startWorker({
  workflows: variant === 'v2' ? { ...workflows, ...children, ...workflowsV2 } : { ...workflows, ...children },
  activities,
  databaseName,
  identity: `demo-${variant}-${crypto.randomUUID().slice(0, 8)}`,
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
