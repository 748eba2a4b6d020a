/**
 * The order in which an activation's jobs reach workflow code, as Temporal's SDK applies them:
 * signals first in every activation. Found by the crash fuzzer (seed 7726): a signal that came
 * in the same workflow task as a timer or activity resolution reached its handler after the code
 * that the resolution resumed had continued as new, and the new run never saw it.
 */
import { describe, expect, it } from 'vitest';
import type { WorkflowFunction } from '../../src/engine/index.ts';
import { installDeterminism } from '../../src/worker/determinism.ts';
import { CancellationScope, defineSignal, setHandler, sleep } from '../../src/workflow/index.ts';
import {
  activationOf,
  completeWorkflow,
  makeFireTimer,
  makeSignal,
  makeStart,
  runtimeFor,
  startTimer,
} from './builders.ts';

installDeterminism();

const got = defineSignal<[string]>('got');

/** Sleeps in a scope of its own (so the timer's job resumes code apart from the signal's), then says what it saw. */
const sleeper: WorkflowFunction = async () => {
  const seen: string[] = [];
  setHandler(got, (value: string) => {
    seen.push(value);
  });
  await CancellationScope.nonCancellable(() => sleep(10));
  return seen.join(',');
};

describe('jobs of one activation', () => {
  it('a signal that came with a timer reaches its handler before the code the timer resumes', async () => {
    const rt = runtimeFor(sleeper);
    expect(await rt.activate(activationOf([makeStart()]))).toEqual([startTimer(1, 10)]);
    // The timer fired first and the signal came after it, in one task: the signal still counts.
    expect(
      await rt.activate(activationOf([makeFireTimer(1), makeSignal('got', 'a'), makeSignal('got', 'b')])),
    ).toEqual([completeWorkflow('a,b')]);
  });

  it("in a run's first task, signals come before the start and are buffered for a handler set at the top", async () => {
    const rt = runtimeFor(sleeper);
    await rt.activate(activationOf([makeStart(), makeSignal('got', 'early')]));
    expect(await rt.activate(activationOf([makeFireTimer(1)]))).toEqual([completeWorkflow('early')]);
  });
});
