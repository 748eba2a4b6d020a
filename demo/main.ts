/**
 * The playground page: start the sample `order` workflow, watch every execution live, and
 * signal, query, cancel or terminate one. Plain DOM. Everything lives in the worker's
 * IndexedDB, so a reload (or killing the worker) loses nothing: the page lists what is there.
 */
import {
  ApplicationFailure,
  CancelledFailure,
  ChildWorkflowFailure,
  type Client,
  connect,
  type HistoryEvent,
  InvalidArgumentError,
  TerminatedFailure,
  TimeoutFailure,
  type WorkflowDescription,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
} from '../src/client/index.ts';
import type { OrderStatus } from './defs.ts';
import { readEffects } from './effects.ts';
import workerUrl from './engine.worker.ts?worker&url';
import type { WeftPage } from './page-api.ts';

const params = new URL(location.href).searchParams;
const db = params.get('db') ?? 'weft-demo';
const variant = params.get('variant') ?? 'v1';

/** The worker's URL carries the page's `db` and `variant` (appended as is: Vite's own query must stay intact). */
function spawnWorker(): Worker {
  // `?lease=` (ms) shortens the lease for the e2e tests of takeovers.
  const lease = params.get('lease');
  const query = `db=${encodeURIComponent(db)}&variant=${encodeURIComponent(variant)}${lease ? `&lease=${lease}` : ''}`;
  const url = `${workerUrl}${workerUrl.includes('?') ? '&' : '?'}${query}`;
  return new Worker(new URL(url, import.meta.url), { type: 'module', name: `weft-${db}` });
}

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<Record<string, string>> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) if (value !== undefined) el.setAttribute(key, value);
  el.append(...children);
  return el;
}

function log(message: string): void {
  $('log').textContent = message;
}

function describeError(error: unknown): string {
  if (error instanceof WorkflowFailedError && error.cause) return `${error.name}: ${error.cause.message}`;
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

let worker = spawnWorker();
/** Another tab upgraded the database: this page's engine stopped; say so rather than hang. */
function onVersionChange(c: Client): Client {
  c.addEventListener('versionchange', () =>
    log("The database was upgraded by another tab: this page's engine stopped. Reload the page to go on."),
  );
  return c;
}

let client: Client = onVersionChange(await connect(worker));
let stopWatching = client.workflow.watch(() => void scheduleRefresh());
let selected: string | undefined = params.get('select') ?? undefined;

// ---- rendering ------------------------------------------------------------------------------

let inflight: Promise<void> | undefined;
let dirty = false;

/** Re-renders soon; changes that arrive meanwhile are folded into one more pass. */
function scheduleRefresh(): Promise<void> {
  dirty = true;
  if (inflight === undefined) {
    const current = refresh().finally(() => {
      if (inflight !== current) return; // abandoned by restartWorker
      inflight = undefined;
      if (dirty) void scheduleRefresh();
    });
    inflight = current;
  }
  return inflight;
}

async function refresh(): Promise<void> {
  try {
    while (dirty) {
      dirty = false;
      const executions = await client.workflow.list();
      renderList(executions);
      await renderDetails();
    }
  } catch (error) {
    log(describeError(error));
  }
}

function statusBadge(status: string, blocked: boolean): HTMLElement {
  return h(
    'span',
    { class: `status ${blocked ? 'blocked' : status}` },
    blocked ? `${status} (blocked)` : status,
  );
}

function renderList(executions: WorkflowDescription[]): void {
  const rows = executions.map((wf) => {
    const row = h(
      'tr',
      {
        'data-workflow-id': wf.workflowId,
        'data-status': wf.status,
        class: wf.workflowId === selected ? 'selected' : '',
      },
      h('td', {}, wf.workflowId),
      h('td', {}, wf.type),
      h('td', {}, statusBadge(wf.status, wf.blocked !== undefined)),
      h('td', {}, String(wf.historyLength)),
    );
    row.addEventListener('click', () => void select(wf.workflowId));
    return row;
  });
  $('executions').replaceChildren(...rows);
  $('empty').hidden = executions.length > 0;
}

function summarise(event: HistoryEvent): string {
  const a = event.attributes as Record<string, unknown>;
  switch (event.eventType) {
    case 'WorkflowExecutionStarted':
      return `${event.attributes.workflowType}(${JSON.stringify(event.attributes.input)})`;
    case 'ActivityTaskScheduled':
      return `${event.attributes.activityType}(${JSON.stringify(event.attributes.input)})`;
    case 'TimerStarted':
    case 'WorkflowExecutionSignaled':
    case 'WorkflowExecutionCompleted':
    case 'WorkflowExecutionTerminated':
    case 'ActivityTaskCompleted':
      return JSON.stringify(a);
    case 'WorkflowTaskFailed':
      return `${event.attributes.cause}: ${event.attributes.failure.message}`;
    default:
      return JSON.stringify(a);
  }
}

function renderHistory(events: HistoryEvent[]): HTMLElement {
  const start = events[0]?.eventTime ?? 0;
  return h(
    'ol',
    { class: 'history', 'data-testid': 'history' },
    ...events.map((event) =>
      h(
        'li',
        {
          class: event.eventType.endsWith('Failed') ? 'failed' : '',
          'data-event-type': event.eventType,
        },
        h('span', { class: 'muted' }, String(event.eventId)),
        h('span', { class: 'type' }, event.eventType),
        h('span', { class: 'muted' }, `+${event.eventTime - start}ms`),
        h('span', { class: 'attrs', title: summarise(event) }, summarise(event)),
      ),
    ),
  );
}

function button(label: string, action: () => Promise<unknown>): HTMLButtonElement {
  const el = h('button', { type: 'button', 'data-action': label.toLowerCase() }, label);
  el.addEventListener('click', () => {
    log('');
    action().then(
      () => void scheduleRefresh(),
      (error: unknown) => log(describeError(error)),
    );
  });
  return el;
}

async function renderDetails(): Promise<void> {
  const panel = $('details');
  if (selected === undefined) return;
  const handle = client.workflow.getHandle(selected);
  let description: WorkflowDescription;
  let events: HistoryEvent[];
  try {
    description = await handle.describe();
    events = (await handle.fetchHistory()).events;
  } catch (error) {
    panel.replaceChildren(h('p', { class: 'muted' }, describeError(error)));
    return;
  }
  let state: string;
  try {
    state = JSON.stringify(await handle.query<OrderStatus>('status'), null, 1);
  } catch (error) {
    state = describeError(error);
  }
  let outcome = '';
  if (description.status !== 'RUNNING') {
    try {
      outcome = `result: ${JSON.stringify(await handle.result())}`;
    } catch (error) {
      outcome = describeError(error);
    }
  }
  const approver = h('input', { type: 'text', value: 'alice', 'aria-label': 'Approver', size: '8' });
  panel.replaceChildren(
    h(
      'h2',
      {},
      `${description.workflowId} `,
      statusBadge(description.status, description.blocked !== undefined),
    ),
    h(
      'p',
      { class: 'muted' },
      `${description.type} · run ${description.runId.slice(0, 8)} · started ${description.startTime.toLocaleTimeString()}` +
        (description.closeTime ? ` · closed ${description.closeTime.toLocaleTimeString()}` : ''),
    ),
    ...(description.blocked
      ? [h('pre', { class: 'blocked' }, `blocked: ${description.blocked.reason}`)]
      : []),
    description.status === 'RUNNING'
      ? h(
          'div',
          { class: 'actions' },
          approver,
          button('Approve', () => handle.signal('approve', approver.value)),
          button('Query', async () => undefined),
          button('Cancel', () => handle.cancel()),
          button('Terminate', () => handle.terminate('Terminated from the playground')),
        )
      : '',
    h('pre', { 'data-testid': 'query' }, `status query: ${state}`),
    ...(outcome ? [h('pre', { 'data-testid': 'outcome' }, outcome)] : []),
    h('h2', {}, `History (${events.length} events)`),
    renderHistory(events),
  );
}

async function select(workflowId: string | undefined): Promise<void> {
  selected = workflowId;
  const url = new URL(location.href);
  if (workflowId === undefined) url.searchParams.delete('select');
  else url.searchParams.set('select', workflowId);
  history.replaceState(null, '', url);
  await scheduleRefresh();
}

// ---- controls -------------------------------------------------------------------------------

let counter = 1;
function nextWorkflowId(): string {
  return `order-${Date.now().toString(36)}-${counter++}`;
}
$<HTMLInputElement>('wf-id').value = nextWorkflowId();

$('start-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = new FormData(event.target as HTMLFormElement);
  const workflowId = String(form.get('workflowId'));
  const input = {
    item: String(form.get('item')),
    delayMs: Number(form.get('delayMs')),
    requireApproval: form.get('requireApproval') !== null,
  };
  log('');
  client.workflow.start('order', { workflowId, args: [input] }).then(
    (handle) => {
      $<HTMLInputElement>('wf-id').value = nextWorkflowId();
      void select(handle.workflowId);
    },
    (error: unknown) => log(describeError(error)),
  );
});

async function restartWorker(): Promise<void> {
  stopWatching();
  client.close();
  worker.terminate();
  // A refresh in flight on the killed worker will never be answered: forget it.
  inflight = undefined;
  worker = spawnWorker();
  client = onVersionChange(await connect(worker));
  page.client = client;
  stopWatching = client.workflow.watch(() => void scheduleRefresh());
  await scheduleRefresh();
}

$('restart-worker').addEventListener('click', () => void restartWorker());
$('reload-page').addEventListener('click', () => location.reload());
$('meta').textContent = `db ${db} · code ${variant}`;

const page: WeftPage = {
  client,
  db,
  variant,
  effects: () => readEffects(db),
  restartWorker,
  select,
  errors: {
    WorkflowFailedError,
    CancelledFailure,
    TerminatedFailure,
    InvalidArgumentError,
    WorkflowNotFoundError,
    WorkflowExecutionAlreadyStartedError,
    ApplicationFailure,
    ChildWorkflowFailure,
    TimeoutFailure,
  },
};
window.weft = page;
void scheduleRefresh();
