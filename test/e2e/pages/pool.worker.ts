/**
 * A pool worker for the e2e tests: `?db=` names the database, `?name=` the worker, `?queues=`
 * the task queues it serves (comma-separated). Its `where` activity records an effect (so a
 * test can count runs) and answers the worker's name.
 */
import { recordEffect } from '../../../demo/effects.ts';
import { broadcastBus, Context, startWorker, type WakeBus } from '../../../src/worker/index.ts';
import * as workflows from './pool-workflows.ts';

const params = new URL(globalThis.location.href).searchParams;
const db = params.get('db') ?? 'pool';
const name = params.get('name') ?? 'worker';

/**
 * A test makes this worker die between its commit and its answer: once it sets `dropAnswers`
 * (through Playwright's `worker.evaluate`), the answers to calls other workers forward here
 * are dropped (and counted in `droppedAnswers`), as if the worker died as it sent them.
 */
const hooks = globalThis as { dropAnswers?: boolean; droppedAnswers?: number };
const channel = broadcastBus(db);
const bus: WakeBus = {
  publish(note) {
    if (hooks.dropAnswers && 'answer' in note && note.answer)
      hooks.droppedAnswers = (hooks.droppedAnswers ?? 0) + 1;
    else channel.publish(note);
  },
  subscribe: (listener) => channel.subscribe(listener),
};

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
  bus,
  taskQueues: (params.get('queues') ?? 'default').split(','),
  identity: `${name}-${crypto.randomUUID().slice(0, 8)}`,
}).catch((error: unknown) => console.error('pool worker failed to start', error));
