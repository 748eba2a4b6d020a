/**
 * Adapted from temporalio/sdk-typescript, packages/test/src/integration-workflows-common.ts
 * (`langFlagsReplayCorrectly`), which produced lang_flags_replay_correctly_1_11_2.json (and the
 * _1_9_3 and _1_11_1 histories, not kept here).
 * Copyright (c) 2021-2025 Temporal Technologies Inc. MIT License: see ./LICENSE.md.
 * Changes: imports from 'weft/workflow'; the activity's type is given, as weft's
 * `proxyActivities` needs it under `noUncheckedIndexedAccess`.
 */
import * as workflow from 'weft/workflow';

export async function langFlagsReplayCorrectly(): Promise<void> {
  const { noopActivity } = workflow.proxyActivities<{ noopActivity(): void }>({
    scheduleToCloseTimeout: '10s',
  });
  await workflow.CancellationScope.withTimeout('10s', async () => {
    await noopActivity();
  });
}
