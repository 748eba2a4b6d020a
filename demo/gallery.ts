/**
 * The pattern gallery: every child-workflow pattern of SPEC section 6 as a sample, with a
 * one-line explanation and the arguments it starts with (editable, as JSON).
 */
export interface Sample {
  /** Used in workflow IDs and `data-sample`. */
  id: string;
  title: string;
  explain: string;
  workflowType: string;
  args: unknown[];
}

export const SAMPLES: Sample[] = [
  {
    id: 'sync-child',
    title: 'Synchronous child',
    explain: 'executeChild starts a child and waits for its result (the child doubles a number).',
    workflowType: 'syncChild',
    args: [21],
  },
  {
    id: 'async-child',
    title: 'Asynchronous child',
    explain: 'startChild returns a handle once the child has started; the result comes later.',
    workflowType: 'asyncChild',
    args: [5],
  },
  {
    id: 'fan-out',
    title: 'Parallel fan-out',
    explain: 'n children at once, one activity each; the parent gets every result, in order.',
    workflowType: 'fanOut',
    args: [10],
  },
  {
    id: 'fire-and-forget',
    title: 'Fire-and-forget (ABANDON)',
    explain: 'The parent completes at once; its ABANDON child keeps running (signal it `confirm`).',
    workflowType: 'fireAndForget',
    args: ['see you later'],
  },
  {
    id: 'conditional',
    title: 'Conditional children',
    explain: 'A fraud-check child first; the fulfilment child runs only if it approves (up to 1,000).',
    workflowType: 'conditionalChild',
    args: [50],
  },
  {
    id: 'order-payment',
    title: 'Child signals its parent',
    explain: 'Order/payment: the payment child signals its parent, which waits for it with condition.',
    workflowType: 'checkout',
    args: ['order-7', 40],
  },
  {
    id: 'signal-child',
    title: 'Parent signals its child',
    explain: 'Through the child’s handle and through getExternalWorkflowHandle.',
    workflowType: 'signalChild',
    args: [],
  },
  ...(['TRY_CANCEL', 'WAIT_CANCELLATION_REQUESTED', 'WAIT_CANCELLATION_COMPLETED', 'ABANDON'] as const).map(
    (type): Sample => ({
      id: `cancel-${type.toLowerCase().replaceAll('_', '-')}`,
      title: `Cancel a child: ${type}`,
      explain: 'Cancels the scope holding a running child; the parent reports what it observed.',
      workflowType: 'cancelChild',
      args: [type, 300],
    }),
  ),
  {
    id: 'close-policies',
    title: 'Close policies side by side',
    explain:
      'Three running children; when the parent completes: TERMINATE ends, REQUEST_CANCEL cancels, ABANDON goes on.',
    workflowType: 'closePolicies',
    args: [],
  },
  {
    id: 'failing-child',
    title: 'A failing child',
    explain:
      'The parent catches ChildWorkflowFailure; its cause keeps the child’s message, type and details.',
    workflowType: 'childFailure',
    args: ['order-9'],
  },
  {
    id: 'child-timeout',
    title: 'A child timeout',
    explain: 'workflowExecutionTimeout ends the child; the parent sees a TimeoutFailure cause.',
    workflowType: 'childTimeout',
    args: [500],
  },
  {
    id: 'retried-child',
    title: 'A retried child',
    explain:
      'The child fails twice and succeeds on its third run, under the same ID; the parent sees the end.',
    workflowType: 'retryChild',
    args: [100],
  },
];

/** The arguments typed in a sample's field: a JSON array, or a clear reason why not. */
export function parseArgs(text: string): unknown[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new SyntaxError(`Arguments are not valid JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(value)) throw new TypeError('Arguments must be a JSON array, e.g. [10]');
  return value;
}
