/**
 * Adapted from temporalio/sdk-typescript, packages/test/src/test-integration-update.ts
 * (`canCompleteUpdateAfterWorkflowReturns`), which produced
 * complete_update_after_workflow_returns_pre1488.json.
 * Copyright (c) 2021-2025 Temporal Technologies Inc. MIT License: see ./LICENSE.md.
 * Changes: imports from 'weft/workflow'.
 */
import * as wf from 'weft/workflow';

export async function canCompleteUpdateAfterWorkflowReturns(fail: boolean = false): Promise<void> {
  let gotUpdate = false;
  let mainReturned = false;

  wf.setHandler(wf.defineUpdate<string>('doneUpdate'), async () => {
    gotUpdate = true;
    await wf.condition(() => mainReturned);
    return 'completed';
  });

  await wf.condition(() => gotUpdate);
  mainReturned = true;
  if (fail) throw wf.ApplicationFailure.nonRetryable('Intentional failure');
}
