/**
 * The playground's child-workflow samples: one small parent for every pattern (synchronous,
 * asynchronous, fan-out, fire-and-forget, conditional, signals both ways, cancellation types,
 * close policies, failures, timeouts, retries) and the children they start. Every export that
 * is a function is a workflow type, registered under its export name (see engine.worker.ts).
 */
import {
  ApplicationFailure,
  CancellationScope,
  type ChildWorkflowCancellationType,
  ChildWorkflowFailure,
  condition,
  defineSignal,
  executeChild,
  getExternalWorkflowHandle,
  isCancellation,
  ParentClosePolicy,
  proxyActivities,
  sendToParent,
  setHandler,
  sleep,
  startChild,
  TimeoutFailure,
  workflowInfo,
} from 'weft/workflow';
import type * as activities from './activities.ts';
import { approve } from './defs.ts';

const { multiply, scoreRisk, charge, notify, cleanUp, fetchPart, storePart } = proxyActivities<
  typeof activities
>({
  startToCloseTimeout: '10s',
  retry: { maximumAttempts: 3, initialInterval: '200ms' },
});

/** The child's signal to its parent in the order/payment sample. */
export const paymentReceived = defineSignal<[string]>('paymentReceived');
/** The parent's signal to its child in the packing sample. */
export const addParcel = defineSignal<[string]>('addParcel');
/** Tells an abandoned follow-up child that it may finish. */
export const confirm = defineSignal<[string]>('confirm');

/** What a parent saw when a child did not complete: the ChildWorkflowFailure and its cause. */
export interface ChildFailureReport {
  name: string;
  workflowId: string;
  workflowType: string;
  // (`null` where Temporal's failures say so: the same code type-checks against both.)
  cause: {
    name: string;
    message: string;
    type?: string | null;
    details?: unknown[] | null;
    timeoutType?: string;
  };
}

function report(error: unknown): ChildFailureReport {
  if (!(error instanceof ChildWorkflowFailure)) throw error;
  const cause = error.cause;
  return {
    name: error.name,
    workflowId: error.execution.workflowId ?? '',
    workflowType: error.workflowType,
    cause: {
      name: cause?.name ?? 'none',
      message: cause?.message ?? '',
      ...(cause instanceof ApplicationFailure && {
        ...(cause.type !== undefined && { type: cause.type }),
        ...(cause.details !== undefined && { details: cause.details }),
      }),
      ...(cause instanceof TimeoutFailure &&
        cause.timeoutType !== undefined && { timeoutType: cause.timeoutType }),
    },
  };
}

// ---- children ------------------------------------------------------------------------------

/** Child: doubles a number with one activity. */
export async function doubler(n: number): Promise<number> {
  return multiply(n, 2);
}

/** Child: checks an amount for fraud (one activity). */
export async function fraudCheck(amount: number): Promise<'ok' | 'review'> {
  return scoreRisk(amount);
}

/** Child: charges the order, then tells its parent with sendToParent before it returns. */
export async function payment(orderId: string, amount: number): Promise<string> {
  const receipt = await charge(orderId, amount);
  await sendToParent(paymentReceived, receipt);
  return `paid ${amount}`;
}

/** Child: collects the parcels its parent signals to it until it has `count`. */
export async function packer(count: number): Promise<string[]> {
  const parcels: string[] = [];
  setHandler(addParcel, (parcel) => {
    parcels.push(parcel);
  });
  await condition(() => parcels.length >= count);
  await notify(`packed ${parcels.join(', ')}`);
  return parcels;
}

/** Child: waits `delayMs` (a durable timer), then sends a reminder; it may outlive its parent. */
export async function reminder(message: string, delayMs: number): Promise<string> {
  await sleep(delayMs);
  await notify(message);
  return `reminded: ${message}`;
}

/** Child: runs until cancelled, then cleans up in a non-cancellable scope and ends CANCELED. */
export async function longRunningJob(cleanupMs = 0): Promise<string> {
  try {
    await sleep('1 day');
    return 'finished';
  } catch (error) {
    if (!isCancellation(error)) throw error;
    await CancellationScope.nonCancellable(async () => {
      if (cleanupMs > 0) await sleep(cleanupMs);
      await cleanUp(workflowInfo().workflowId);
    });
    throw error;
  }
}

/** Child: always fails, with an ApplicationFailure that carries a type and details. */
export async function declinedPayment(orderId: string): Promise<never> {
  throw ApplicationFailure.create({
    message: `card declined for ${orderId}`,
    type: 'CardDeclined',
    details: [{ orderId, code: 51 }],
    nonRetryable: true,
  });
}

/** Child: waits for an approval that never comes (only its timeout ends it). */
export async function awaitApproval(): Promise<string> {
  let approvedBy: string | undefined;
  setHandler(approve, (by) => {
    approvedBy = by;
  });
  await condition(() => approvedBy !== undefined);
  return `approved by ${approvedBy}`;
}

/** Child: fails on its first two attempts (workflowInfo().attempt), succeeds on the third. */
export async function flakyChild(): Promise<string> {
  const { attempt } = workflowInfo();
  await notify(`attempt ${attempt}`);
  if (attempt < 3) throw ApplicationFailure.create({ message: `attempt ${attempt} failed`, type: 'Flaky' });
  return `succeeded on attempt ${attempt}`;
}

/** Child: one part of a batch job: fetch, pause (a durable timer), store. */
export async function batchPart(part: number, pauseMs: number): Promise<string> {
  const data = await fetchPart(part);
  await sleep(pauseMs);
  return storePart(part, data);
}

// ---- parents -------------------------------------------------------------------------------

/** Synchronous child: executeChild starts the child and waits for its result. */
export async function syncChild(n: number): Promise<number> {
  return executeChild(doubler, { args: [n] });
}

/** Asynchronous child: startChild resolves once the child has started; its result comes later. */
export async function asyncChild(n: number): Promise<{ workflowId: string; runId: string; result: number }> {
  const child = await startChild(doubler, { args: [n] });
  const result = await child.result();
  return { workflowId: child.workflowId, runId: child.firstExecutionRunId, result };
}

/** Parallel fan-out: `n` children at once (one activity each), results in input order. */
export async function fanOut(n: number): Promise<number[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => executeChild(doubler, { args: [i] })));
}

/** Fire-and-forget: an ABANDON child keeps running after its parent has completed. */
export async function fireAndForget(message: string): Promise<string> {
  const child = await startChild(followUp, {
    workflowId: `${workflowInfo().workflowId}-follow-up`,
    args: [message],
    parentClosePolicy: ParentClosePolicy.ABANDON,
  });
  return child.workflowId;
}

/** Child: waits for a `confirm` signal (which may come long after its parent closed), then notifies. */
export async function followUp(message: string): Promise<string> {
  let confirmedBy: string | undefined;
  setHandler(confirm, (by) => {
    confirmedBy = by;
  });
  await condition(() => confirmedBy !== undefined);
  await notify(`${message} (confirmed by ${confirmedBy})`);
  return `followed up: ${message}, confirmed by ${confirmedBy}`;
}

/** Conditional children: an approval child first; a fulfilment child only if it approves. */
export async function conditionalChild(amount: number): Promise<string> {
  const verdict = await executeChild(fraudCheck, { args: [amount] });
  if (verdict !== 'ok') return `not approved (${verdict}): no fulfilment`;
  return `approved, then ${await executeChild(fulfilment, { args: [amount] })}`;
}

/** Child: fulfils an approved order. */
export async function fulfilment(amount: number): Promise<string> {
  await notify(`ship order of ${amount}`);
  return `fulfilled ${amount}`;
}

/** Order/payment: the payment child signals its parent, which waits for it with condition. */
export async function checkout(
  orderId: string,
  amount: number,
): Promise<{ receipt: string; payment: string }> {
  let receipt: string | undefined;
  setHandler(paymentReceived, (r) => {
    receipt = r;
  });
  const child = await startChild(payment, { workflowId: `${orderId}-payment`, args: [orderId, amount] });
  await condition(() => receipt !== undefined);
  return { receipt: receipt as string, payment: await child.result() };
}

/** Parent signalling its child: through the child's handle and through getExternalWorkflowHandle. */
export async function signalChild(): Promise<string[]> {
  const child = await startChild(packer, { workflowId: `${workflowInfo().workflowId}-packer`, args: [2] });
  await child.signal(addParcel, 'parcel-1');
  await getExternalWorkflowHandle(child.workflowId).signal(addParcel, 'parcel-2');
  return child.result();
}

/** Cancellation types: cancel a scope holding a child and report what the parent observed. */
export async function cancelChild(
  cancellationType: ChildWorkflowCancellationType,
  cleanupMs: number,
): Promise<ChildFailureReport | string> {
  const scope = new CancellationScope();
  const child = await scope.run(() =>
    startChild(longRunningJob, {
      workflowId: `${workflowInfo().workflowId}-job`,
      args: [cleanupMs],
      cancellationType,
    }),
  );
  scope.cancel();
  try {
    return await child.result();
  } catch (error) {
    return report(error);
  }
}

/** Cancellation with wait: cancelling this parent cancels its child and waits for the child's cleanup. */
export async function supervisor(cleanupMs: number): Promise<string> {
  try {
    return await executeChild(longRunningJob, {
      workflowId: `${workflowInfo().workflowId}-job`,
      args: [cleanupMs],
    });
  } catch (error) {
    if (isCancellation(error)) await CancellationScope.nonCancellable(() => notify('supervisor cancelled'));
    throw error;
  }
}

/** Close policies side by side: three long-running children, then the parent completes. */
export async function closePolicies(): Promise<string[]> {
  const ids: string[] = [];
  for (const policy of [
    ParentClosePolicy.TERMINATE,
    ParentClosePolicy.REQUEST_CANCEL,
    ParentClosePolicy.ABANDON,
  ]) {
    const child = await startChild(longRunningJob, {
      workflowId: `${workflowInfo().workflowId}-${policy}`,
      parentClosePolicy: policy,
    });
    ids.push(child.workflowId);
  }
  return ids;
}

/** A failing child: the parent catches ChildWorkflowFailure, whose cause is the child's failure. */
export async function childFailure(orderId: string): Promise<ChildFailureReport | string> {
  try {
    await executeChild(declinedPayment, { workflowId: `${orderId}-payment`, args: [orderId] });
    return 'paid';
  } catch (error) {
    return report(error);
  }
}

/** A child timeout: workflowExecutionTimeout ends the child; the parent sees a TimeoutFailure cause. */
export async function childTimeout(timeoutMs: number): Promise<ChildFailureReport | string> {
  try {
    return await executeChild(awaitApproval, {
      workflowId: `${workflowInfo().workflowId}-approval`,
      workflowExecutionTimeout: timeoutMs,
    });
  } catch (error) {
    return report(error);
  }
}

/** A child retried to success: its retry policy reruns it under the same ID; the parent sees the end. */
export async function retryChild(retryIntervalMs = 100): Promise<string> {
  return executeChild(flakyChild, {
    workflowId: `${workflowInfo().workflowId}-flaky`,
    retry: { initialInterval: retryIntervalMs, backoffCoefficient: 1, maximumAttempts: 5 },
  });
}

/** A batch job: `parts` children in parallel, each fetching, pausing durably, then storing. */
export async function batchJob(parts: number, pauseMs: number): Promise<string[]> {
  return Promise.all(
    Array.from({ length: parts }, (_, i) => executeChild(batchPart, { args: [i, pauseMs] })),
  );
}

/** Starts a child without awaiting it and completes in the same task: the child still starts. */
export async function startAndReturn(policy: ParentClosePolicy, delayMs: number): Promise<string> {
  void startChild(reminder, {
    workflowId: `${workflowInfo().workflowId}-child`,
    args: [`from ${workflowInfo().workflowId}`, delayMs],
    parentClosePolicy: policy,
  });
  return 'parent done';
}
