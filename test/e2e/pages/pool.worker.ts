/**
 * A pool worker for the e2e tests: `?db=` names the database, `?name=` the worker, `?queues=`
 * the task queues it serves (comma-separated). Its `where` activity records an effect (so a
 * test can count runs) and answers the worker's name.
 */
import { recordEffect } from '../../../demo/effects.ts';
import { Context, startWorker } from '../../../src/worker/index.ts';
import * as workflows from './pool-workflows.ts';

const params = new URL(globalThis.location.href).searchParams;
const db = params.get('db') ?? 'pool';
const name = params.get('name') ?? 'worker';

startWorker({
  workflows,
  activities: {
    async where(tag: string): Promise<string> {
      const { workflowExecution, attempt } = Context.current().info;
      await recordEffect(db, {
        activity: 'where',
        workflowId: workflowExecution.workflowId,
        attempt,
        detail: `${tag}@${name}`,
        at: Date.now(),
      });
      return name;
    },
  },
  databaseName: db,
  taskQueues: (params.get('queues') ?? 'default').split(','),
  identity: `${name}-${crypto.randomUUID().slice(0, 8)}`,
}).catch((error: unknown) => console.error('pool worker failed to start', error));
