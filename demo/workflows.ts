/**
 * The playground's sample workflows (deployment "v1"). Every export is a workflow type,
 * registered under its export name.
 */
import {
  CancellationScope,
  condition,
  isCancellation,
  proxyActivities,
  setHandler,
  sleep,
} from 'weft/workflow';
import type * as activities from './activities.ts';
import { approve, type OrderStatus, status } from './defs.ts';

const { reserve, ship, release } = proxyActivities<typeof activities>({
  startToCloseTimeout: '10s',
  retry: { maximumAttempts: 3, initialInterval: '200ms' },
});

export interface OrderInput {
  item: string;
  /** How long the durable timer between reserving and shipping lasts (default 3 s). */
  delayMs?: number;
  /** Wait for the `approve` signal before shipping. */
  requireApproval?: boolean;
  /** How long the `ship` activity takes once started (default 0). */
  shipDurationMs?: number;
}

export interface OrderSummary {
  item: string;
  reservation: string;
  tracking: string;
  approvedBy?: string;
}

/**
 * Reserve, wait (a durable timer), optionally wait for approval, ship. Cancelling it releases
 * the reservation (in a non-cancellable scope) and ends the run as CANCELED.
 */
export async function order(input: OrderInput): Promise<OrderSummary> {
  const state: OrderStatus = { stage: 'reserving', item: input.item };
  setHandler(status, () => state);
  setHandler(approve, (by) => {
    state.approvedBy = by;
  });
  try {
    const reservation = await reserve(input.item);
    state.reservation = reservation;
    state.stage = 'waiting';
    await sleep(input.delayMs ?? 3000);
    if (input.requireApproval) {
      state.stage = 'awaiting-approval';
      await condition(() => state.approvedBy !== undefined);
    }
    state.stage = 'shipping';
    const tracking = await ship(input.item, reservation, input.shipDurationMs ?? 0);
    state.stage = 'done';
    return {
      item: input.item,
      reservation,
      tracking,
      ...(state.approvedBy !== undefined && { approvedBy: state.approvedBy }),
    };
  } catch (error) {
    if (isCancellation(error)) {
      state.stage = 'cancelled';
      const { reservation } = state;
      if (reservation !== undefined) await CancellationScope.nonCancellable(() => release(reservation));
    }
    throw error;
  }
}
