/**
 * Signal and query definitions of the sample workflows, apart from workflows.ts so the page
 * can import them without the workflow code.
 */
import { defineQuery, defineSignal } from 'weft/workflow';

export type OrderStage = 'reserving' | 'waiting' | 'awaiting-approval' | 'shipping' | 'done' | 'cancelled';

export interface OrderStatus {
  stage: OrderStage;
  item: string;
  reservation?: string;
  approvedBy?: string;
}

/** Approves an order that was started with `requireApproval`. */
export const approve = defineSignal<[string]>('approve');
/** The order's current stage and what it has done so far. */
export const status = defineQuery<OrderStatus>('status');
