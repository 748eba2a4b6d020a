import { named, WeftError } from '../engine/failure.ts';

/**
 * Writes made in memory were lost before they became durable: another connection wrote to the
 * database first, or the database refused them. The store has reloaded what is durable.
 */
export class StoreConflictError extends WeftError {}
named(StoreConflictError, 'StoreConflictError');

/**
 * A fenced write found its lease held by another host, or at another epoch, or gone: the
 * writer is no longer the one allowed to advance executions, and nothing was written.
 */
export class LeaseLostError extends WeftError {}
named(LeaseLostError, 'LeaseLostError');
