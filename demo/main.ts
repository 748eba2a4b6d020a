/**
 * The playground page: start any child-workflow pattern from the gallery (or the sample
 * `order`), watch every execution live in the list and the parent/child tree, open one's
 * timeline, and signal, query, cancel or terminate it. Plain DOM. Everything lives in the
 * worker's IndexedDB, so a reload (or killing the worker) loses nothing.
 */
import {
  ApplicationFailure,
  CancelledFailure,
  ChildWorkflowFailure,
  type Client,
  connect,
  type HistoryEvent,
  InvalidArgumentError,
  type StorageStatus,
  TerminatedFailure,
  TimeoutFailure,
  type WorkflowDescription,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
} from '../src/client/index.ts';
import type { OrderStatus } from './defs.ts';
import { effectsDbName, readEffects } from './effects.ts';
import workerUrl from './engine.worker.ts?worker&url';
import { parseArgs, SAMPLES } from './gallery.ts';
import type { WeftPage } from './page-api.ts';
import { downloadTemporalJson, replayFile } from './temporal-tools.ts';

const params = new URL(location.href).searchParams;
const db = params.get('db') ?? 'weft-demo';
const variant = params.get('variant') ?? 'v1';

/** The worker's URL carries the page's `db` and `variant` (appended as is: Vite's own query must stay intact). */
function spawnWorker(): Worker {
  // `?lease=` (ms) shortens the lease for the e2e tests of takeovers; `?retention=` sets how long
  // closed executions are kept; `?faults=1` lets the e2e tests make the database refuse writes.
  const lease = params.get('lease');
  const retention = params.get('retention');
  const faults = params.get('faults') === '1';
  const query = `db=${encodeURIComponent(db)}&variant=${encodeURIComponent(variant)}${lease ? `&lease=${lease}` : ''}${retention ? `&retention=${encodeURIComponent(retention)}` : ''}${faults ? '&faults=1' : ''}`;
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
/**
 * Another tab upgraded the database, it ran out of space (and back), or it is gone: say so
 * rather than leave the page to hang.
 */
function onVersionChange(c: Client): Client {
  c.addEventListener('versionchange', (event) => {
    if ((event as CustomEvent<{ newVersion: number | null }>).detail.newVersion !== null)
      log("The database was upgraded by another tab: this page's engine stopped. Reload the page to go on.");
  });
  c.addEventListener('storage', (event) => {
    const status = (event as CustomEvent<StorageStatus>).detail;
    $('storage').textContent =
      status.state === 'full'
        ? 'Storage is full: the engine waits for space (nothing is lost).'
        : status.state === 'lost'
          ? `The database is gone: this page's engine stopped (${status.message}). Reload the page to start afresh.`
          : '';
  });
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

/** Executions per page of the table. */
const PAGE_SIZE = 50;
/** Tokens of the pages before the one shown: the table pages through the engine's indexes. */
let pageTokens: (string | undefined)[] = [];
let pageToken: string | undefined;
let nextToken: string | undefined;
/** Workflow types seen so far, for the type filter (the database may hold too many to scan). */
const knownTypes = new Set(SAMPLES.map((sample) => sample.workflowType));

async function refresh(): Promise<void> {
  try {
    while (dirty) {
      dirty = false;
      const status = $<HTMLSelectElement>('filter-status').value;
      const type = $<HTMLSelectElement>('filter-type').value;
      const filter = {
        ...(status !== '' && { status: status as WorkflowDescription['status'] }),
        ...(type !== '' && { workflowType: type }),
      };
      // One page from the indexes, and the total they count: quick whatever the database holds.
      const [page, { count }, recent] = await Promise.all([
        client.workflow.listPage({
          ...filter,
          pageSize: PAGE_SIZE,
          ...(pageToken && { nextPageToken: pageToken }),
        }),
        client.workflow.count(filter),
        client.workflow.listPage({ pageSize: PAGE_SIZE }),
      ]);
      nextToken = page.nextPageToken;
      renderList(page.executions, count);
      await renderTree(recent.executions);
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

const STATUSES = [
  'RUNNING',
  'COMPLETED',
  'FAILED',
  'CANCELED',
  'TERMINATED',
  'TIMED_OUT',
  'CONTINUED_AS_NEW',
];
for (const status of STATUSES) $('filter-status').append(h('option', { value: status }, status));
for (const id of ['filter-status', 'filter-type'])
  $(id).addEventListener('change', () => {
    // Another filter: its first page.
    pageTokens = [];
    pageToken = undefined;
    void scheduleRefresh();
  });
$('page-newer').addEventListener('click', () => {
  pageToken = pageTokens.pop();
  void scheduleRefresh();
});
$('page-older').addEventListener('click', () => {
  if (nextToken === undefined) return;
  pageTokens.push(pageToken);
  pageToken = nextToken;
  void scheduleRefresh();
});

const time = (date: Date | undefined): string => (date ? date.toLocaleTimeString() : '');

function renderList(executions: WorkflowDescription[], count: number): void {
  const typeSelect = $<HTMLSelectElement>('filter-type');
  const type = typeSelect.value;
  for (const wf of executions) knownTypes.add(wf.type);
  typeSelect.replaceChildren(
    h('option', { value: '' }, 'all'),
    ...[...knownTypes].sort().map((t) => h('option', { value: t, ...(t === type && { selected: '' }) }, t)),
  );
  const first = pageTokens.length * PAGE_SIZE;
  $('page-info').textContent =
    count === 0
      ? ''
      : `${first + 1}–${first + executions.length} of ${count.toLocaleString('en')}, newest first`;
  $<HTMLButtonElement>('page-newer').disabled = pageTokens.length === 0 && pageToken === undefined;
  $<HTMLButtonElement>('page-older').disabled = nextToken === undefined;
  const rows = executions.map((wf) => {
    const row = h(
      'tr',
      {
        'data-workflow-id': wf.workflowId,
        'data-status': wf.status,
        class: wf.workflowId === selected ? 'selected' : '',
        tabindex: '0',
      },
      h('td', {}, wf.workflowId),
      h('td', {}, wf.type),
      h('td', {}, statusBadge(wf.status, wf.blocked !== undefined)),
      h('td', {}, String(wf.historyLength)),
      h('td', {}, time(wf.startTime)),
      h('td', {}, time(wf.closeTime)),
    );
    row.addEventListener('click', () => void select(wf.workflowId));
    row.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') void select(wf.workflowId);
    });
    return row;
  });
  $('executions').replaceChildren(...rows);
  $('empty').hidden = executions.length > 0;
}

/** Child pages read per refresh at most: the tree stays quick however many runs there are. */
const TREE_READS = 30;

/**
 * The recent roots' descendants, a level at a time from the parent index, within a budget of
 * reads; each run with the children of its own run (an ID's other runs have theirs).
 */
async function descendants(roots: WorkflowDescription[]): Promise<Map<string, WorkflowDescription[]>> {
  const byParent = new Map<string, WorkflowDescription[]>();
  let level = roots;
  let reads = 0;
  while (level.length > 0 && reads < TREE_READS) {
    const batch = level.slice(0, TREE_READS - reads);
    reads += batch.length;
    const pages = await Promise.all(
      batch.map((wf) => client.workflow.listPage({ parentWorkflowId: wf.workflowId, pageSize: 200 })),
    );
    level = [];
    batch.forEach((wf, i) => {
      const children = pages[i]!.executions.filter((c) => c.parent?.runId === wf.runId);
      if (children.length === 0) return;
      byParent.set(wf.runId, children);
      level.push(...children);
    });
  }
  return byParent;
}

/**
 * Each recent root with its children and grandchildren, closed ones included; the close policy
 * on each edge.
 */
async function renderTree(recent: WorkflowDescription[]): Promise<void> {
  const byParent = await descendants(recent.filter((wf) => wf.parent === undefined));
  byParent.set(
    '',
    recent.filter((wf) => wf.parent === undefined),
  );
  // Children in the order of their IDs (child-1, child-2 ... child-10), not of their run IDs.
  for (const [parent, list] of byParent) {
    if (parent !== '') list.sort((a, b) => a.workflowId.localeCompare(b.workflowId, 'en', { numeric: true }));
  }
  const node = (wf: WorkflowDescription): HTMLElement => {
    const open = h(
      'button',
      {
        type: 'button',
        'data-tree-node': wf.workflowId,
        'data-status': wf.status,
        'aria-current': String(wf.workflowId === selected),
      },
      wf.workflowId,
    );
    open.addEventListener('click', () => void select(wf.workflowId));
    const children = byParent.get(wf.runId) ?? [];
    return h(
      'li',
      { role: 'treeitem', 'aria-expanded': children.length > 0 ? 'true' : undefined },
      ...(wf.parentClosePolicy
        ? [h('span', { class: 'edge', title: 'parent close policy' }, wf.parentClosePolicy)]
        : []),
      open,
      ' ',
      statusBadge(wf.status, wf.blocked !== undefined),
      ...(children.length > 0 ? [h('ul', { role: 'group' }, ...children.map(node))] : []),
    );
  };
  const roots = (byParent.get('') ?? []).filter((wf) => (byParent.get(wf.runId) ?? []).length > 0);
  $('tree').replaceChildren(
    roots.length > 0
      ? h('ul', { class: 'tree', role: 'tree', 'aria-label': 'Parents and children' }, ...roots.map(node))
      : h('p', { class: 'muted' }, 'No parent with children yet: start a pattern.'),
  );
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

interface FailureLike {
  message?: string;
  name?: string;
  type?: string;
  cause?: FailureLike;
}

/** A failure and its causes, outermost first: "message (type) ← cause ← cause". */
function causeChain(failure: FailureLike | undefined): string {
  const parts: string[] = [];
  for (let f = failure; f; f = f.cause)
    parts.push(`${f.message ?? f.name ?? '?'}${f.type ? ` (${f.type})` : ''}`);
  return parts.join(' ← ');
}

/** The child execution an event is about, if any (initiated, started, closed, signalled...). */
function childOf(event: HistoryEvent): string | undefined {
  const a = event.attributes as { workflowId?: string; workflowExecution?: { workflowId?: string } };
  if (event.eventType === 'WorkflowExecutionStarted') return undefined;
  return (
    a.workflowExecution?.workflowId ?? (event.eventType.includes('ChildWorkflow') ? a.workflowId : undefined)
  );
}

/** The timeline: every event in order with its time and type; attributes expand on demand. */
function renderHistory(events: HistoryEvent[]): HTMLElement {
  const start = events[0]?.eventTime ?? 0;
  return h(
    'ol',
    { class: 'history', 'data-testid': 'history' },
    ...events.map((event) => {
      const failure = (event.attributes as { failure?: FailureLike }).failure;
      const child = childOf(event);
      const link = child
        ? h('button', { type: 'button', class: 'link', 'data-child': child }, `→ ${child}`)
        : '';
      if (child && link) link.addEventListener('click', () => void select(child));
      return h(
        'li',
        {
          class: event.eventType.endsWith('Failed') || failure ? 'failed' : '',
          'data-event-type': event.eventType,
        },
        h('span', { class: 'muted' }, String(event.eventId)),
        h('span', { class: 'type' }, event.eventType),
        h('span', { class: 'muted' }, `+${event.eventTime - start}ms`),
        h(
          'span',
          { class: 'attrs' },
          link,
          ...(failure ? [h('div', { class: 'cause', 'data-testid': 'cause' }, causeChain(failure))] : []),
          h(
            'details',
            {},
            h('summary', { title: summarise(event) }, summarise(event)),
            h('pre', {}, JSON.stringify(event.attributes, null, 2)),
          ),
        ),
      );
    }),
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

/** The JSON array typed in `field`; or, if it is not one, says why in `error` and gives nothing. */
function argsOrSay(field: HTMLInputElement, error: HTMLElement): unknown[] | undefined {
  error.textContent = '';
  try {
    return parseArgs(field.value);
  } catch (e) {
    error.textContent = (e as Error).message;
    return undefined;
  }
}

/**
 * A form that sends a named signal (or runs a named query) with JSON arguments. Bad JSON, an
 * unknown name or a closed execution get a message next to the form, and nothing is sent.
 */
function callForm(
  kind: 'signal' | 'query',
  defaultName: string,
  run: (name: string, args: unknown[]) => Promise<unknown>,
): HTMLElement {
  const name = h('input', {
    type: 'text',
    value: defaultName,
    placeholder: `${kind} name`,
    'aria-label': `${kind} name`,
    size: '10',
  });
  const args = h('input', {
    type: 'text',
    value: '[]',
    placeholder: 'arguments, JSON array',
    'aria-label': `${kind} arguments (JSON array)`,
  });
  const error = h('div', { class: 'form-error', role: 'alert', 'data-testid': `${kind}-error` });
  const answer = h('pre', { 'data-testid': `${kind}-answer`, hidden: '' });
  const form = h(
    'form',
    { 'data-form': kind, 'aria-label': kind === 'signal' ? 'Send a signal' : 'Run a query' },
    name,
    args,
    h('button', { type: 'submit' }, kind === 'signal' ? 'Send signal' : 'Run query'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const parsed = argsOrSay(args, error);
    if (!parsed) return;
    run(name.value, parsed).then(
      (value) => {
        if (kind === 'query') {
          answer.hidden = false;
          answer.textContent = JSON.stringify(value, null, 1);
        } else void scheduleRefresh();
      },
      (e: unknown) => {
        error.textContent = describeError(e);
      },
    );
  });
  return h('div', {}, form, error, answer);
}

const detailsHead = h('div');
const detailsForms = h('div', { class: 'forms' });
const detailsBody = h('div');
/** The execution whose forms are shown: they are kept across refreshes, not to lose typing. */
let formsFor: string | undefined;

async function renderDetails(): Promise<void> {
  const panel = $('details');
  if (selected === undefined) return;
  const handle = client.workflow.getHandle(selected);
  let description: WorkflowDescription;
  let events: HistoryEvent[];
  /** Why the history is not shown (a quarantined run's is refused as corrupt). */
  let unreadable = '';
  try {
    description = await handle.describe();
    events = await handle.fetchHistory().then(
      (history) => history.events,
      (error: unknown) => {
        unreadable = describeError(error);
        return [];
      },
    );
  } catch (error) {
    formsFor = undefined;
    panel.replaceChildren(h('p', { class: 'muted' }, describeError(error)));
    return;
  }
  const queryName = description.type === 'order' ? 'status' : '';
  let state = '';
  if (queryName) {
    try {
      state = JSON.stringify(await handle.query<OrderStatus>(queryName), null, 1);
    } catch (error) {
      state = describeError(error);
    }
  }
  let outcome = '';
  if (description.status !== 'RUNNING') {
    try {
      outcome = `result: ${JSON.stringify(await handle.result())}`;
    } catch (error) {
      outcome = describeError(error);
      const cause = (error as { cause?: FailureLike }).cause;
      if (cause) outcome += `\ncause: ${causeChain(cause)}`;
    }
  }
  const approver = h('input', { type: 'text', value: 'alice', 'aria-label': 'Approver', size: '8' });
  if (panel.firstChild !== detailsHead) panel.replaceChildren(detailsHead, detailsForms, detailsBody);
  detailsHead.replaceChildren(
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
      ...(description.parent
        ? [' · parent ', linkTo(description.parent.workflowId), ` (${description.parentClosePolicy ?? ''})`]
        : []),
    ),
    ...(description.blocked
      ? [h('pre', { class: 'blocked', 'data-testid': 'blocked' }, `blocked: ${description.blocked.reason}`)]
      : []),
    h(
      'div',
      { class: 'actions' },
      button('Download as Temporal JSON', () => downloadTemporalJson(handle, description.workflowId)),
    ),
    description.status === 'RUNNING'
      ? h(
          'div',
          { class: 'actions' },
          ...(description.type === 'order'
            ? [
                approver,
                button('Approve', () => handle.signal('approve', approver.value)),
                button('Query', async () => undefined),
              ]
            : []),
          button('Cancel', () => handle.cancel()),
          button('Terminate', () => handle.terminate('Terminated from the playground')),
        )
      : '',
  );
  if (formsFor !== selected) {
    formsFor = selected;
    const id = selected;
    detailsForms.replaceChildren(
      callForm('signal', description.type === 'order' ? 'approve' : '', async (name, args) => {
        const target = client.workflow.getHandle(id);
        // Temporal would buffer a signal nobody handles; the playground says so instead.
        const known = await signalsOf(target);
        if (known && !known.includes(name)) {
          throw new InvalidArgumentError(
            `Unknown signal '${name}': ${description.type} handles ${known.map((n) => `'${n}'`).join(', ') || 'no signals'}`,
          );
        }
        await target.signal(name, ...args);
      }),
      callForm('query', queryName, (name, args) => client.workflow.getHandle(id).query(name, ...args)),
    );
  }
  detailsBody.replaceChildren(
    ...(state ? [h('pre', { 'data-testid': 'query' }, `${queryName} query: ${state}`)] : []),
    ...(outcome ? [h('pre', { 'data-testid': 'outcome' }, outcome)] : []),
    ...(unreadable
      ? [h('h2', {}, 'History'), h('pre', { class: 'blocked', 'data-testid': 'history-error' }, unreadable)]
      : [h('h2', {}, `History (${events.length} events)`), renderHistory(events)]),
  );
}

/** The signals a run handles (Temporal's built-in metadata query), if it can answer. */
async function signalsOf(target: ReturnType<Client['workflow']['getHandle']>): Promise<string[] | undefined> {
  try {
    const metadata = await target.query<{ definition: { signalDefinitions: { name: string }[] } }>(
      '__temporal_workflow_metadata',
    );
    return metadata.definition.signalDefinitions.map((d) => d.name);
  } catch {
    return undefined;
  }
}

function linkTo(workflowId: string): HTMLElement {
  const link = h('button', { type: 'button', class: 'link' }, workflowId);
  link.addEventListener('click', () => void select(workflowId));
  return link;
}

async function select(workflowId: string | undefined): Promise<void> {
  selected = workflowId;
  // The forms of the run shown before go at once: until the new run's details are read, they
  // would signal or query the old one.
  if (formsFor !== workflowId) {
    formsFor = undefined;
    detailsForms.replaceChildren();
  }
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

// ---- the pattern gallery -----------------------------------------------------------------

function renderGallery(): void {
  $('gallery').replaceChildren(
    ...SAMPLES.map((sample) => {
      const input = h('input', {
        type: 'text',
        value: JSON.stringify(sample.args),
        'aria-label': `${sample.title}: arguments (JSON array)`,
      });
      const error = h('div', { class: 'error', role: 'alert' });
      const start = h('button', { type: 'button', 'data-start': sample.id }, 'Start');
      start.addEventListener('click', () => {
        const args = argsOrSay(input, error);
        if (!args) return;
        const workflowId = `${sample.id}-${Date.now().toString(36)}`;
        client.workflow.start(sample.workflowType, { workflowId, args }).then(
          () => void select(workflowId),
          (e: unknown) => {
            error.textContent = describeError(e);
          },
        );
      });
      return h(
        'article',
        { class: 'sample', 'data-sample': sample.id },
        h('h3', {}, sample.title),
        h('p', {}, sample.explain),
        h('div', { class: 'row' }, input, start),
        error,
      );
    }),
  );
}
renderGallery();

/** Kills the worker; `meanwhile` runs before a fresh one starts on the same database. */
async function restartWorker(meanwhile?: () => Promise<void>): Promise<void> {
  stopWatching();
  client.close();
  worker.terminate();
  // A refresh in flight on the killed worker will never be answered: forget it.
  inflight = undefined;
  await meanwhile?.();
  worker = spawnWorker();
  client = onVersionChange(await connect(worker));
  page.client = client;
  stopWatching = client.workflow.watch(() => void scheduleRefresh());
  await scheduleRefresh();
}

function deleteDatabase(name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.deleteDatabase(name);
    request.onsuccess = () => resolve();
    request.onerror = () => reject(request.error);
    request.onblocked = () => log('Clearing waits for the other tabs of this database to let go of it…');
  });
}

/** Deletes the engine's database (and the demo's effects) and starts afresh. */
async function clearDatabase(): Promise<void> {
  await restartWorker(async () => {
    await deleteDatabase(db);
    await deleteDatabase(effectsDbName(db));
    selected = undefined;
    formsFor = undefined;
    $('details').replaceChildren(h('p', { class: 'muted' }, 'Select an execution to see its history.'));
  });
  log('Database cleared.');
}

$('restart-worker').addEventListener('click', () => void restartWorker());
$('replay-file').addEventListener('change', (event) => {
  const input = event.target as HTMLInputElement;
  const file = input.files?.[0];
  if (!file) return;
  const result = $('replay-result');
  result.textContent = `Replaying ${file.name}…`;
  void replayFile(file, variant).then(({ ok, message }) => {
    result.textContent = message;
    result.dataset.ok = String(ok);
    // The same file may be chosen again (after an edit): a change event each time.
    input.value = '';
  });
});
$('clear-db').addEventListener('click', () => {
  if (confirm(`Delete every execution in database "${db}"?`)) void clearDatabase();
});
$('reload-page').addEventListener('click', () => location.reload());
$('meta').textContent = `db ${db} · code ${variant}`;

const page: WeftPage = {
  client,
  db,
  variant,
  effects: () => readEffects(db),
  restartWorker: (meanwhile) => restartWorker(meanwhile),
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
