import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  type Command,
  DeterminismViolationError,
  type HistoryEvent,
  isCommandEvent,
  type WorkflowFunction,
  WorkflowMachine,
  WorkflowRuntime,
} from '../../src/engine/index.ts';
import { createEngine, memoryStore } from '../../src/index.ts';
import { installDeterminism } from '../../src/worker/determinism.ts';
import { executeChild, startChild } from '../../src/workflow/index.ts';
import * as children from './fixtures/children.ts';

installDeterminism();

const registry = children as unknown as Record<string, WorkflowFunction>;
const types = new Map<Function, string>(Object.entries(registry).map(([k, v]) => [v as Function, k]));
const file = (name: string) => new URL(`./golden/${name}.json`, import.meta.url);
const init = (overrides: Record<string, WorkflowFunction> = {}, workflowId = 'wf', runId = 'run') => ({
  workflowId,
  runId,
  identity: 'test',
  resolveWorkflow: (type: string) => overrides[type] ?? registry[type],
  workflowTypeOf: (fn: Function) => types.get(fn),
});

const goldens = {
  sync: ['sync', [21]],
  fanOut: ['fanOut', [3]],
  order: ['order', ['o1']],
  closePolicies: ['closePolicies', []],
} as const;

if (process.env.UPDATE_GOLDEN) {
  it('records golden parent and child histories', async () => {
    const engine = await createEngine({
      workflows: children,
      activities: { echo: async (x: number) => x },
      store: memoryStore(),
    });
    const wf = engine.client.workflow;
    for (const [name, [type, args]] of Object.entries(goldens)) {
      await wf.execute(type, { workflowId: `golden-${name}`, args: [...args] });
      const { events } = await wf.getHandle(`golden-${name}`).fetchHistory();
      const { runId } = await wf.getHandle(`golden-${name}`).describe();
      writeFileSync(file(`child-${name}`), `${JSON.stringify({ runId, events }, null, 1)}\n`);
    }
    const [child] = await wf.list({ parentWorkflowId: 'golden-order' });
    const { events } = await wf.getHandle(child!.workflowId).fetchHistory();
    writeFileSync(
      file('child-payment'),
      `${JSON.stringify({ workflowId: child!.workflowId, runId: child!.runId, events }, null, 1)}\n`,
    );
    await engine.shutdown();
  });
}

/** Replays a golden history task by task, and returns every task's commands. */
async function recordedCommands(
  name: string,
): Promise<{ events: HistoryEvent[]; runId: string; workflowId: string }> {
  const golden = JSON.parse(readFileSync(file(name), 'utf8')) as {
    runId: string;
    workflowId?: string;
    events: HistoryEvent[];
  };
  return {
    events: golden.events,
    runId: golden.runId,
    workflowId: golden.workflowId ?? `golden-${name.slice(6)}`,
  };
}

describe('golden parent and child histories', () => {
  for (const name of ['child-sync', 'child-fanOut', 'child-order', 'child-closePolicies', 'child-payment']) {
    it(`${name} replays with the current code`, async () => {
      const { events, runId, workflowId } = await recordedCommands(name);
      const machine = await WorkflowMachine.replay(init({}, workflowId, runId), events);
      expect(machine.closed).toBe(true);
    });
  }

  it('the fan-out parent produces exactly the recorded commands, task by task', async () => {
    const { events, runId } = await recordedCommands('child-fanOut');
    // The first task's commands: three StartChildWorkflowExecution with derived IDs.
    const rt = new WorkflowRuntime({
      info: {
        workflowId: 'golden-fanOut',
        runId,
        workflowType: 'fanOut',
        taskQueue: 'default',
        namespace: 'default',
        firstExecutionRunId: runId,
        attempt: 1,
        startTime: new Date(0),
        runStartTime: new Date(0),
      },
      workflowFn: registry.fanOut!,
      randomnessSeed: 1,
      workflowTypeOf: (fn) => types.get(fn),
    });
    const commands = await rt.activate({
      timestamp: 0,
      isReplaying: false,
      historyLength: 3,
      continueAsNewSuggested: false,
      jobs: [{ type: 'StartWorkflow', input: [3] }],
    });
    const child = (seq: number): Command => ({
      type: 'StartChildWorkflowExecution',
      seq,
      workflowId: `golden-fanOut/${runId.slice(0, 8)}/child-${seq}`,
      workflowType: 'double',
      taskQueue: 'default',
      input: [seq - 1],
      parentClosePolicy: 'TERMINATE',
      cancellationType: 'WAIT_CANCELLATION_COMPLETED',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      workflowIdConflictPolicy: 'FAIL',
    });
    expect(commands).toEqual([child(1), child(2), child(3)]);
    const firstTask = events
      .slice(4)
      .filter((e, i, all) => isCommandEvent(e) && all.slice(0, i).every(isCommandEvent));
    expect(firstTask.map((e) => [e.eventType, (e.attributes as { workflowId: string }).workflowId])).toEqual(
      commands.map((c) => ['StartChildWorkflowExecutionInitiated', (c as { workflowId: string }).workflowId]),
    );
  });

  it('changing a child type is a determinism violation', async () => {
    const { events, runId } = await recordedCommands('child-sync');
    const changed: WorkflowFunction = (x) => executeChild(children.sleepsThenDone, { args: [x] });
    const error = await WorkflowMachine.replay(init({ sync: changed }, 'golden-sync', runId), events).catch(
      (e) => e,
    );
    expect(error).toBeInstanceOf(DeterminismViolationError);
    expect((error as Error).message).toMatch(/workflowType: code has sleepsThenDone, history has double/);
  });

  it('changing the order of children is a determinism violation', async () => {
    const { events, runId } = await recordedCommands('child-closePolicies');
    const reordered: WorkflowFunction = async () => {
      for (const policy of ['ABANDON', 'REQUEST_CANCEL', 'TERMINATE'] as const) {
        await startChild(children.cancellableChild, {
          workflowId: `policy-${policy}`,
          parentClosePolicy: policy,
        });
      }
      return 'parent done';
    };
    const error = await WorkflowMachine.replay(
      init({ closePolicies: reordered }, 'golden-closePolicies', runId),
      events,
    ).catch((e) => e);
    expect(error).toBeInstanceOf(DeterminismViolationError);
    expect((error as Error).message).toMatch(
      /workflowId: code has policy-ABANDON, history has policy-TERMINATE/,
    );
  });

  it('dropping a child is a determinism violation', async () => {
    const { events, runId } = await recordedCommands('child-order');
    const noChild: WorkflowFunction = async () => 'no payment';
    const error = await WorkflowMachine.replay(init({ order: noChild }, 'golden-order', runId), events).catch(
      (e) => e,
    );
    expect(error).toBeInstanceOf(DeterminismViolationError);
  });
});
