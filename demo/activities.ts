/**
 * The playground's activities. They run in the engine's worker; each one records that it ran
 * (see effects.ts) so the page and the e2e tests can see real side effects.
 */
import { Context } from '../src/worker/index.ts';
import { recordEffect } from './effects.ts';

/** The database this worker serves (`?db=` on the worker URL), which names the effects database. */
function databaseName(): string {
  return new URL(globalThis.location.href).searchParams.get('db') ?? 'weft-demo';
}

async function effect(activity: string, detail: string): Promise<void> {
  // Context.current() is only available before the first await.
  const { info } = Context.current();
  await recordEffect(databaseName(), {
    activity,
    workflowId: info.workflowExecution.workflowId,
    attempt: info.attempt,
    detail,
    at: Date.now(),
  });
}

/** Reserves stock for an item; returns a reservation ID. */
export async function reserve(item: string): Promise<string> {
  const reservation = `res-${item}-${crypto.randomUUID().slice(0, 8)}`;
  await effect('reserve', reservation);
  return reservation;
}

/**
 * Ships a reserved item; returns a tracking number. It records its effect first, then takes
 * `durationMs` (a real, cancellable wait) to finish, so a test can act while it is in flight.
 */
export async function ship(item: string, reservation: string, durationMs = 0): Promise<string> {
  const context = Context.current();
  const tracking = `trk-${crypto.randomUUID().slice(0, 8)}`;
  await effect('ship', `${item} ${reservation} ${tracking}`);
  if (durationMs > 0) await context.sleep(durationMs);
  return tracking;
}

/** Gives a reservation back (compensation after a cancellation). */
export async function release(reservation: string): Promise<void> {
  await effect('release', reservation);
}

/** Only called by the "v2" deployment of `order`: its first command differs from v1's. */
export async function audit(item: string): Promise<void> {
  await effect('audit', item);
}

// ---- activities of the child-workflow samples (demo/children.ts) ------------------------------

/** Multiplies two numbers (the fan-out's unit of work). */
export async function multiply(a: number, b: number): Promise<number> {
  await effect('multiply', `${a}*${b}`);
  return a * b;
}

/** Scores an amount for fraud: large amounts go to review. */
export async function scoreRisk(amount: number): Promise<'ok' | 'review'> {
  await effect('scoreRisk', String(amount));
  return amount > 1000 ? 'review' : 'ok';
}

/** Charges a payment; returns a receipt. */
export async function charge(orderId: string, amount: number): Promise<string> {
  await effect('charge', `${orderId} ${amount}`);
  return `rcpt-${orderId}-${amount}`;
}

/** Sends a notification. */
export async function notify(message: string): Promise<void> {
  await effect('notify', message);
}

/** Undoes what a cancelled workflow had started (its compensation). */
export async function cleanUp(what: string): Promise<void> {
  await effect('cleanUp', what);
}

/** Fetches one part of a batch job. */
export async function fetchPart(part: number): Promise<string> {
  await effect('fetchPart', String(part));
  return `part-${part}`;
}

/** Stores one fetched part of a batch job; returns where it went. */
export async function storePart(part: number, data: string): Promise<string> {
  await effect('storePart', String(part));
  return `stored:${data}`;
}
