/**
 * A changed deployment ("v2", `?variant=v2`): `order` now calls `audit` before anything
 * else, so its first command differs from what v1 recorded. Runs started by v1 cannot replay
 * on it: their workflow task fails with a DeterminismViolationError and they wait, blocked,
 * for a fixed deployment. (The fix in real code would be `patched('audit')`.)
 */
import { proxyActivities } from 'weft/workflow';
import type * as activities from './activities.ts';
import { type OrderInput, type OrderSummary, order as orderV1 } from './workflows.ts';

const { audit } = proxyActivities<typeof activities>({ startToCloseTimeout: '10s' });

export async function order(input: OrderInput): Promise<OrderSummary> {
  await audit(input.item);
  return orderV1(input);
}
