/**
 * A pool worker for the e2e tests: `?db=` names the database, `?name=` the worker, `?queues=`
 * the task queues it serves (comma-separated). Its `where` activity records an effect (so a
 * test can count runs) and answers the worker's name; `progress` works in steps, heartbeating
 * each, from where an earlier attempt's heartbeats left off; `untilCancelled` heartbeats until
 * it is cancelled. Each records its effects.
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
    /** `steps` steps of `stepMs`, each heartbeated; starts after the last step a heartbeat recorded. */
    async progress(steps: number, stepMs: number): Promise<string> {
      const context = Context.current();
      const { workflowExecution, attempt, heartbeatDetails } = context.info;
      const from = typeof heartbeatDetails === 'number' ? heartbeatDetails : 0;
      const effect = (detail: string) =>
        recordEffect(db, {
          activity: 'progress',
          workflowId: workflowExecution.workflowId,
          attempt,
          detail,
          at: Date.now(),
        });
      await effect(`start ${from}@${name}`);
      for (let step = from + 1; step <= steps; step++) {
        await context.sleep(stepMs);
        context.heartbeat(step);
        await effect(`step ${step}@${name}`);
      }
      return `${name}: attempt ${attempt} from ${from}`;
    },
    /** Heartbeats until it is cancelled; records how it learned of it. */
    async untilCancelled(): Promise<string> {
      const context = Context.current();
      const { workflowExecution, attempt } = context.info;
      const effect = (detail: string) =>
        recordEffect(db, {
          activity: 'untilCancelled',
          workflowId: workflowExecution.workflowId,
          attempt,
          detail,
          at: Date.now(),
        });
      await effect(`started@${name}`);
      try {
        for (let i = 0; ; i++) {
          context.heartbeat(i);
          await context.sleep(50);
        }
      } catch (error) {
        await effect(`${(error as Error).name}: ${(error as Error).message}@${name}`);
        throw error;
      }
    },
  },
  databaseName: db,
  bus,
  taskQueues: (params.get('queues') ?? 'default').split(','),
  identity: `${name}-${crypto.randomUUID().slice(0, 8)}`,
}).catch((error: unknown) => console.error('pool worker failed to start', error));
