/**
 * The checks of a seed, against the expectation computed from its programs: every execution
 * closes as its program says, once; histories are whole (event IDs 1, 2, 3..., one terminal
 * event, last), no timer fires twice and no outcome is recorded twice; every activity ran at
 * least as often as its program needs and more only where a crash was in its way; signals
 * arrived, each once unless a crash made the client send it again; every history replays with
 * the current code.
 *
 * Each problem is one of three kinds: `lost` (something that should be there is not),
 * `duplicated` (something is there more often than it may be), `diverged` (something is other
 * than the program implies).
 */
import { closingStatus, type HistoryEvent } from '../src/engine/events.ts';
import type { ExecutionRecord } from '../src/store/types.ts';
import type { Effect } from './activities.ts';
import { type DriverRecord, isTracePrefix, type Send } from './driver.ts';
import type { Resolution } from './outcomes.ts';
import type { Expectation, ExpectedExecution } from './program.ts';

export type ProblemKind = 'lost' | 'duplicated' | 'diverged';

export interface Problem {
  kind: ProblemKind;
  what: string;
}

/** What a seed left: the database's executions and histories, the side table, the crashes. */
export interface SeedData {
  executions: ExecutionRecord[];
  histories: Map<string, HistoryEvent[]>;
  effects: Effect[];
  /** When each crash happened (wall-clock ms). */
  crashTimes: number[];
  /** Which host each crash took, and when. */
  crashes: { host: string; time: number }[];
  /** Activity outcomes, as they became durable. */
  resolutions: Resolution[];
  /**
   * When a host's store dropped the writes it had not flushed, as another connection wrote
   * first (the late commit of a host that crashed, say): what it had claimed since is taken back.
   */
  reloads: { host: string; time: number }[];
  driver: DriverRecord;
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
const short = (value: unknown): string => {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 300 ? `${text.slice(0, 300)}...` : text;
};

/** Crashes within [from, to] (wall-clock ms; `to` absent: until now). */
function crashesBetween(times: number[], from: number, to: number | undefined): number {
  return times.filter((t) => t >= from && (to === undefined || t <= to)).length;
}

/** How many more times than once the sends may have taken effect: one per crash during one of them. */
function resendAllowance(times: number[], sends: Send[]): number {
  return sends.reduce((n, s) => n + crashesBetween(times, s.start, s.end), 0);
}

/** The runs of a workflow ID in the order they ran (each continues the one before). */
function chainOf(runs: ExecutionRecord[]): ExecutionRecord[] {
  const byId = new Map(runs.map((r) => [r.runId, r]));
  const first = runs.filter((r) => !r.continuedFromRunId || !byId.has(r.continuedFromRunId));
  const chain: ExecutionRecord[] = [];
  let next = [...first].sort((a, b) => a.startTime - b.startTime)[0];
  while (next && !chain.includes(next)) {
    chain.push(next);
    next = next.nextRunId ? byId.get(next.nextRunId) : undefined;
  }
  return chain;
}

const failureName: Record<string, string> = {
  FAILED: 'ApplicationFailure',
  CANCELED: 'CancelledFailure',
  TERMINATED: 'TerminatedFailure',
  TIMED_OUT: 'TimeoutFailure',
};

function checkExecution(
  e: ExpectedExecution,
  data: SeedData,
  add: (kind: ProblemKind, what: string) => void,
): void {
  const id = e.workflowId;
  const runs = data.executions.filter((r) => r.workflowId === id);
  if (runs.length === 0) {
    add(
      'lost',
      `${id}: never started (expected ${e.status}; the client last saw ${data.driver.open.get(id) ?? '?'})`,
    );
    return;
  }
  const chain = chainOf(runs);
  if (chain.length !== runs.length)
    add('duplicated', `${id}: ${runs.length} runs, only ${chain.length} in one chain`);
  if (chain.length > e.runs) add('duplicated', `${id}: ${chain.length} runs, the program makes ${e.runs}`);
  const last = chain.at(-1)!;
  chain.slice(0, -1).forEach((run, i) => {
    if (run.status !== 'CONTINUED_AS_NEW')
      add('diverged', `${id}: run ${i + 1} is ${run.status}, not CONTINUED_AS_NEW`);
  });
  if (last.status === 'RUNNING' || last.status === 'CONTINUED_AS_NEW') {
    add(
      'lost',
      `${id}: run ${chain.length} of ${e.runs} never closed (${last.status}${last.blocked ? `, blocked: ${last.blocked.reason}` : ''})`,
    );
    return;
  }
  if (chain.length < e.runs) add('lost', `${id}: ${chain.length} runs, the program makes ${e.runs}`);
  if (last.status !== e.status) {
    const why = last.failure ? ` (${last.failure.name}: ${last.failure.message})` : '';
    add('diverged', `${id}: ${last.status}${why}, expected ${e.status}`);
  } else if (e.status === 'COMPLETED' && e.result !== undefined && !same(last.result, e.result)) {
    add('diverged', `${id}: result ${short(last.result)}, expected ${short(e.result)}`);
  } else if (e.failure !== undefined && last.failure?.message !== e.failure) {
    add('diverged', `${id}: failed with "${last.failure?.message}", expected "${e.failure}"`);
  }
  // What the client was told.
  const told = data.driver.results.get(id);
  if (e.program && told) {
    if (e.status === 'COMPLETED') {
      if (!told.ok || !same(told.value, e.result)) add('diverged', `${id}: the client got ${short(told)}`);
    } else if (told.ok || told.cause !== failureName[e.status]) {
      add('diverged', `${id}: the client got ${short(told)}, expected a ${failureName[e.status]}`);
    }
  }
  // Signals, counted over every run of the ID.
  const events = chain.flatMap((run) => data.histories.get(run.runId) ?? []);
  const signaled = (name: string, arg?: string) =>
    events.filter(
      (ev) =>
        ev.eventType === 'WorkflowExecutionSignaled' &&
        ev.attributes.signalName === name &&
        (arg === undefined || ev.attributes.input[0] === arg),
    ).length;
  for (const sid of e.clientSignals) {
    const n = signaled('sig', sid);
    const sends = data.driver.sends.filter((s) => s.kind === 'signal' && s.workflowId === id && s.id === sid);
    const acknowledged = sends.some((s) => s.end !== undefined && s.error === undefined);
    if (n === 0 && acknowledged) add('lost', `${id}: signal ${sid} was acknowledged and never arrived`);
    else if (n === 0) add('lost', `${id}: signal ${sid} never arrived`);
    const allowed = 1 + resendAllowance(data.crashTimes, sends);
    if (n > allowed) add('duplicated', `${id}: signal ${sid} arrived ${n} times (at most ${allowed})`);
  }
  for (const sid of e.childSignals) {
    const n = signaled('childSig', sid);
    if (n === 0) add('lost', `${id}: its child's signal ${sid} never arrived`);
    if (n > 1) add('duplicated', `${id}: its child's signal ${sid} arrived ${n} times`);
  }
  if (e.releasedByClient) {
    const sends = data.driver.sends.filter((s) => s.kind === 'release' && s.workflowId === id);
    const n = signaled('release');
    const allowed = 1 + resendAllowance(data.crashTimes, sends);
    if (n > allowed) add('duplicated', `${id}: released ${n} times (at most ${allowed})`);
  }
  const cancels = events.filter((ev) => ev.eventType === 'WorkflowExecutionCancelRequested').length;
  const cancelSends = data.driver.sends.filter((s) => s.kind === 'cancel' && s.workflowId === id);
  const allowedCancels = e.endedByClient === 'cancel' ? 1 + resendAllowance(data.crashTimes, cancelSends) : 1;
  if (cancels > allowedCancels)
    add('duplicated', `${id}: ${cancels} cancel requests (at most ${allowedCancels})`);
}

/** One run's history on its own: whole, one end, each timer and outcome once. */
function checkHistory(
  run: ExecutionRecord,
  events: HistoryEvent[],
  add: (kind: ProblemKind, what: string) => void,
): void {
  const name = `${run.workflowId} (run ${run.runId.slice(0, 8)})`;
  const ids = events.map((ev) => ev.eventId);
  if (new Set(ids).size !== ids.length) add('duplicated', `${name}: event IDs repeat: ${short(ids)}`);
  else if (!ids.every((eventId, i) => eventId === i + 1))
    add('lost', `${name}: event IDs not contiguous: ${short(ids)}`);
  if (events.length !== run.nextEventId - 1)
    add('lost', `${name}: ${events.length} events, the execution says ${run.nextEventId - 1}`);
  const terminal = events.filter((ev) => closingStatus(ev.eventType) !== undefined);
  if (terminal.length > 1)
    add('duplicated', `${name}: ${terminal.length} terminal events (${terminal.map((t) => t.eventType)})`);
  if (run.status !== 'RUNNING') {
    if (terminal.length === 0) add('lost', `${name}: ${run.status} without a terminal event`);
    else if (events.at(-1) !== terminal[0])
      add('diverged', `${name}: events after ${terminal[0]!.eventType}`);
    else if (closingStatus(terminal[0]!.eventType) !== run.status)
      add('diverged', `${name}: ${run.status} but its history ends with ${terminal[0]!.eventType}`);
  }
  const count = (key: string, map: Map<string, number>) => map.set(key, (map.get(key) ?? 0) + 1);
  const timers = new Map<string, number>();
  const outcomes = new Map<string, number>();
  const childStarts = new Map<string, number>();
  const childEnds = new Map<string, number>();
  for (const ev of events) {
    if (ev.eventType === 'WorkflowTaskFailed')
      add(
        'diverged',
        `${name}: WorkflowTaskFailed (${ev.attributes.cause}: ${ev.attributes.failure.message})`,
      );
    if (ev.eventType === 'TimerFired') count(ev.attributes.timerId, timers);
    if (
      ev.eventType === 'ActivityTaskCompleted' ||
      ev.eventType === 'ActivityTaskFailed' ||
      ev.eventType === 'ActivityTaskTimedOut' ||
      ev.eventType === 'ActivityTaskCanceled'
    )
      count(String(ev.attributes.scheduledEventId), outcomes);
    if (ev.eventType === 'StartChildWorkflowExecutionInitiated') count(ev.attributes.workflowId, childStarts);
    if (ev.eventType === 'ChildWorkflowExecutionStarted')
      count(String(ev.attributes.initiatedEventId), childStarts);
    if (ev.eventType.startsWith('ChildWorkflowExecution') && ev.eventType !== 'ChildWorkflowExecutionStarted')
      count(String((ev.attributes as { initiatedEventId: number }).initiatedEventId), childEnds);
  }
  for (const [timerId, n] of timers)
    if (n > 1) add('duplicated', `${name}: timer ${timerId} fired ${n} times`);
  for (const [scheduled, n] of outcomes)
    if (n > 1) add('duplicated', `${name}: activity scheduled as event ${scheduled} has ${n} outcomes`);
  for (const [child, n] of childStarts)
    if (n > 1) add('duplicated', `${name}: child ${child} started ${n} times`);
  for (const [child, n] of childEnds)
    if (n > 1) add('duplicated', `${name}: child of event ${child} ended ${n} times`);
}

const isLostMessage = (message: string | undefined): boolean =>
  /^Activity attempt \d+ was lost: /.test(message ?? '');

/**
 * The activities. Each ran at least as often as its program needs. Each execution's outcome
 * became durable, or a crash took it back: an attempt runs again only after a crash that came
 * after it ran and before its outcome was durable, and nothing runs once the activity is over
 * for good. No attempt's outcome is recorded twice, and no more attempts than the program's.
 */
function checkActivities(
  expectation: Expectation,
  data: SeedData,
  add: (kind: ProblemKind, what: string) => void,
): void {
  const byKey = new Map<string, Effect[]>();
  for (const effect of data.effects) byKey.set(effect.key, [...(byKey.get(effect.key) ?? []), effect]);
  for (const key of byKey.keys())
    if (!expectation.activities.has(key)) add('duplicated', `activity ${key} ran, no program has it`);
  // Attempts lost with their host (recorded as timed out by the next), by activity key: the
  // key is the activity's first argument, as its ActivityTaskScheduled event has it.
  const keyOf = new Map<string, string>();
  for (const [runId, events] of data.histories)
    for (const e of events)
      if (e.eventType === 'ActivityTaskScheduled') {
        const { activityId, input } = e.attributes as { activityId: string; input: unknown[] };
        if (typeof input?.[0] === 'string') keyOf.set(`${runId}/${activityId}`, input[0]);
      }
  const lostAttempts = new Map<string, Set<string>>();
  const lose = (key: string | undefined, attempt: string): void => {
    if (key !== undefined) lostAttempts.set(key, (lostAttempts.get(key) ?? new Set()).add(attempt));
  };
  for (const r of data.resolutions)
    if (r.lost) lose(keyOf.get(`${r.runId}/${r.seq}`), `${r.runId}/${r.seq}/${r.attempt}`);
  // A last attempt lost is in its history too: its resolution may never have been seen (the
  // host that recorded it died as the commit landed).
  for (const [runId, events] of data.histories) {
    const byId = new Map(events.map((e) => [e.eventId, e]));
    for (const e of events) {
      if (e.eventType !== 'ActivityTaskTimedOut') continue;
      const { scheduledEventId, startedEventId, failure } = e.attributes as {
        scheduledEventId: number;
        startedEventId: number;
        failure?: { message?: string; cause?: { message?: string } };
      };
      if (!isLostMessage(failure?.message) && !isLostMessage(failure?.cause?.message)) continue;
      const scheduled = byId.get(scheduledEventId)?.attributes as { activityId?: string } | undefined;
      const started = byId.get(startedEventId)?.attributes as { attempt?: number } | undefined;
      if (scheduled?.activityId === undefined) continue;
      lose(
        keyOf.get(`${runId}/${scheduled.activityId}`),
        `${runId}/${scheduled.activityId}/${started?.attempt}`,
      );
    }
  }
  const lostOf = (key: string): number => lostAttempts.get(key)?.size ?? 0;
  for (const expected of expectation.activities.values()) {
    const n = byKey.get(expected.key)?.length ?? 0;
    const min = expected.bounded ? Math.max(0, expected.min - lostOf(expected.key)) : expected.min;
    if (n < min)
      add(
        'lost',
        `activity ${expected.key} ran ${n} times, its program needs ${min}` +
          (min < expected.min
            ? ` (${expected.min}, less ${expected.min - min} attempts lost with their host)`
            : ''),
      );
  }
  // Outcomes by attempt, and when each activity was over for good.
  const recorded = new Map<string, number[]>();
  const over = new Map<string, number>();
  for (const r of data.resolutions) {
    const activity = `${r.runId}/${r.seq}`;
    if (r.attempt === undefined) over.set(activity, Math.min(over.get(activity) ?? Infinity, r.time));
    else
      recorded.set(`${activity}/${r.attempt}`, [...(recorded.get(`${activity}/${r.attempt}`) ?? []), r.time]);
  }
  const attempts = new Map<string, Effect[]>();
  for (const e of data.effects) {
    const id = `${e.runId}/${e.seq}/${e.attempt}`;
    attempts.set(id, [...(attempts.get(id) ?? []), e]);
  }
  const durableBy = (id: string, activity: string, time: number): boolean =>
    (recorded.get(id) ?? []).some((t) => t <= time) || (over.get(activity) ?? Infinity) <= time;
  const at = (e: Effect) => `${e.key} attempt ${e.attempt} (run ${e.runId.slice(0, 8)})`;
  for (const [id, runs] of attempts) {
    runs.sort((a, b) => a.time - b.time);
    const activity = id.slice(0, id.lastIndexOf('/'));
    runs.forEach((e, i) => {
      const until = runs[i + 1]?.time;
      // A crash after it ran, before its outcome was durable, and (if it ran again) before that;
      // or its host's store dropping its unflushed writes (its claim among them).
      // On an executor, the leader that claimed it and sent it there may have crashed first,
      // with the claim: any time before it ran again (a host crashes once, and it had claimed).
      const takenBack = (c: number, from = e.time) =>
        c >= from && (until === undefined || c <= until) && !durableBy(id, activity, c);
      const explained =
        data.crashTimes.some((c) => takenBack(c)) ||
        data.crashes.some(
          (c) => c.host === e.leader && e.leader !== e.host && takenBack(c.time, -Infinity),
        ) ||
        // A reload proves the claim it ran under void, whenever it came: two hosts that both
        // believed they led for a moment each ran it, and the one whose flush lost reloads.
        data.reloads.some((r) => r.host === e.host && r.time >= e.time && !durableBy(id, activity, r.time));
      if (until !== undefined && !explained)
        add(
          'duplicated',
          `activity ${at(e)} ran again ${(until - e.time).toFixed(1)} ms later, and no crash took its outcome back ` +
            `(ran on ${e.host}, then on ${runs[i + 1]!.host}; crashes at ${
              data.crashTimes.map((c) => `${(c - e.time).toFixed(1)}`).join(', ') || 'none'
            } ms from its first run; outcomes recorded at ${
              (recorded.get(id) ?? []).map((t) => (t - e.time).toFixed(1)).join(', ') || 'none'
            })`,
        );
      if (until === undefined && !explained && !durableBy(id, activity, Infinity))
        add('lost', `activity ${at(e)}: its outcome was never recorded, and no crash took it back`);
      const end = over.get(activity);
      if (end !== undefined && e.time > end)
        add(
          'duplicated',
          `activity ${at(e)} ran after it was over (on ${e.host}, leader ${e.leader}, ${(e.time - end).toFixed(1)} ms after; ` +
            `crashes ${data.crashes.map((c) => `${c.host}@${(c.time - end).toFixed(1)}`).join(', ') || 'none'}; ` +
            `runs ${data.effects
              .filter((x) => x.runId === e.runId && x.seq === e.seq)
              .map((x) => `${x.host}#${x.attempt}@${(x.time - end).toFixed(1)}`)
              .join(', ')}; outcomes ${data.resolutions
              .filter((r) => r.runId === e.runId && r.seq === e.seq)
              .map((r) => `#${r.attempt ?? 'over'}${r.lost ? ' lost' : ''}@${(r.time - end).toFixed(1)}`)
              .join(', ')})`,
        );
    });
    if ((recorded.get(id)?.length ?? 0) > 1)
      add(
        'duplicated',
        `activity ${at(runs[0]!)}: its outcome was recorded ${recorded.get(id)!.length} times`,
      );
  }
  for (const expected of expectation.activities.values()) {
    const runs = byKey.get(expected.key) ?? [];
    const done = new Set(
      runs
        .filter((e) => recorded.has(`${e.runId}/${e.seq}/${e.attempt}`))
        .map((e) => `${e.runId}/${e.attempt}`),
    );
    // An attempt lost with its host is recorded (as timed out) and the next one runs.
    const max = expected.max + lostOf(expected.key);
    if (done.size > max)
      add(
        'duplicated',
        `activity ${expected.key}: ${done.size} attempts recorded, its program allows ${max}` +
          (max > expected.max ? ` (${expected.max}, and ${max - expected.max} lost with their host)` : ''),
      );
  }
  for (const e of expectation.executions.values()) {
    if (!e.report) continue;
    for (const effect of byKey.get(e.report.key) ?? []) {
      if (!same(effect.trace, e.report.trace))
        add(
          'diverged',
          `${e.workflowId}: reported ${short(effect.trace)}, expected ${short(e.report.trace)}`,
        );
    }
  }
}

/** Every problem the seed's data shows. `replay` replays one history with the current code. */
export async function checkSeed(
  expectation: Expectation,
  data: SeedData,
  replay: (run: ExecutionRecord, events: HistoryEvent[]) => Promise<void>,
): Promise<Problem[]> {
  const problems: Problem[] = [];
  const add = (kind: ProblemKind, what: string): void => {
    problems.push({ kind, what });
  };
  for (const e of expectation.executions.values()) checkExecution(e, data, add);
  for (const run of data.executions) {
    if (!expectation.executions.has(run.workflowId))
      add('duplicated', `${run.workflowId}: an execution no program makes`);
    const events = data.histories.get(run.runId) ?? [];
    checkHistory(run, events, add);
    if (run.status === 'RUNNING') continue;
    try {
      await replay(run, events);
    } catch (error) {
      add(
        'diverged',
        `${run.workflowId} (run ${run.runId.slice(0, 8)}): replay failed: ${(error as Error)?.message}`,
      );
    }
  }
  checkActivities(expectation, data, add);
  for (const refusal of data.driver.refusals) add('diverged', `a client call was refused: ${refusal}`);
  for (const { workflowId, answer } of data.driver.queries) {
    const trace = expectation.executions.get(workflowId)?.report?.trace ?? [];
    if (!isTracePrefix(answer, trace))
      add('diverged', `${workflowId}: a query answered ${short(answer)}, not a prefix of ${short(trace)}`);
  }
  return problems;
}
