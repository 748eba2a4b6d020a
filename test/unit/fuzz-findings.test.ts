import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/index.ts';
import {
  CancellationScope,
  type ChildWorkflowCancellationType,
  condition,
  defineSignal,
  ParentClosePolicy,
  setHandler,
  sleep,
  startChild,
} from '../../src/workflow/index.ts';

const release = defineSignal('release');

const scopeWorkflows = {
  async blocker(): Promise<string> {
    let released = false;
    setHandler(release, () => {
      released = true;
    });
    await condition(() => released);
    return 'released';
  },
  /** Cancels a child's scope, waits for the child's result, then goes on in its own scope. */
  async cancelsThenSleeps(type: ChildWorkflowCancellationType): Promise<string> {
    const scope = new CancellationScope();
    const child = await scope.run(() =>
      startChild<() => Promise<string>>('blocker', {
        workflowId: `blocker-${type}`,
        cancellationType: type,
        parentClosePolicy: ParentClosePolicy.ABANDON,
      }),
    );
    scope.cancel();
    const outcome = await child.result().then(
      () => 'completed',
      (error: Error & { cause?: Error }) => `${error.name}/${error.cause?.name}`,
    );
    // Code after the await runs in the workflow's scope, which nobody cancelled.
    await sleep(1);
    return `${outcome}, then slept`;
  },
};

describe('a child cancelled through its scope', () => {
  it.each(['TRY_CANCEL', 'WAIT_CANCELLATION_REQUESTED', 'WAIT_CANCELLATION_COMPLETED', 'ABANDON'] as const)(
    '%s: code after awaiting its result is not in the cancelled scope',
    async (type) => {
      const engine = await createEngine({ workflows: scopeWorkflows });
      expect(
        await engine.client.workflow.execute('cancelsThenSleeps', { workflowId: 'p', args: [type] }),
      ).toBe('ChildWorkflowFailure/CancelledFailure, then slept');
      await engine.shutdown();
    },
  );
});
