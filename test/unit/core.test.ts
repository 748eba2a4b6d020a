import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ActivityFailure,
  ApplicationFailure,
  CancelledFailure,
  ChildWorkflowFailure,
  fromFailureRecord,
  InvalidArgumentError,
  isCancellation,
  msToNumber,
  TemporalFailure,
  TimeoutFailure,
  toFailureRecord,
} from '../../src/engine/index.ts';
import { realTimeClock } from '../../src/worker/clock.ts';
import { TimerQueue } from '../../src/worker/timers.ts';

describe('durations', () => {
  it.each([
    [1500, 1500],
    ['30s', 30_000],
    ['5 minutes', 300_000],
    ['1h', 3_600_000],
    ['2 days', 172_800_000],
    ['250ms', 250],
    ['1.5s', 1500],
    ['42', 42],
  ])('%s is %d ms', (input, ms) => expect(msToNumber(input)).toBe(ms));

  it.each(['soon', '5 parsecs', '-1s', '', Number.NaN, -5, Number.POSITIVE_INFINITY])(
    '%s is refused',
    (input) => {
      expect(() => msToNumber(input as string)).toThrow(InvalidArgumentError);
    },
  );
});

describe('failures as plain records', () => {
  it('round-trips a cause chain with types, details and instanceof', () => {
    const original = new ActivityFailure(
      'Activity task failed',
      'charge',
      '3',
      'RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED',
      ApplicationFailure.create({
        message: 'declined',
        type: 'CardDeclined',
        details: [{ code: 51 }],
        nonRetryable: true,
      }),
    );
    const record = structuredClone(toFailureRecord(original));
    const rebuilt = fromFailureRecord(record);
    expect(rebuilt).toBeInstanceOf(ActivityFailure);
    expect(rebuilt).toBeInstanceOf(TemporalFailure);
    expect(rebuilt).toMatchObject({
      activityType: 'charge',
      activityId: '3',
      retryState: 'RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED',
    });
    const cause = rebuilt.cause as ApplicationFailure;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect(cause).toMatchObject({
      message: 'declined',
      type: 'CardDeclined',
      details: [{ code: 51 }],
      nonRetryable: true,
    });
  });

  it('keeps child workflow failures and timeouts', () => {
    const child = new ChildWorkflowFailure(
      undefined,
      { workflowId: 'c', runId: 'r' },
      'payment',
      'RETRY_STATE_TIMEOUT',
      new TimeoutFailure('timed out', undefined, 'START_TO_CLOSE'),
    );
    const rebuilt = fromFailureRecord(toFailureRecord(child)) as ChildWorkflowFailure;
    expect(rebuilt).toBeInstanceOf(ChildWorkflowFailure);
    expect(rebuilt.workflowExecution).toEqual({ workflowId: 'c', runId: 'r' });
    expect(rebuilt.cause).toBeInstanceOf(TimeoutFailure);
    expect((rebuilt.cause as TimeoutFailure).timeoutType).toBe('START_TO_CLOSE');
  });

  it('turns a plain error into an ApplicationFailure of its name', () => {
    const record = toFailureRecord(new RangeError('too big'));
    expect(record).toMatchObject({ name: 'ApplicationFailure', type: 'RangeError', message: 'too big' });
  });

  it('recognises failures from another copy of the module (another realm or bundle)', () => {
    // A failure built by a different class with the same marker and prototype name.
    const marker = Symbol.for('weft.failure');
    class CancelledFailureCopy extends Error {
      readonly [marker] = true;
    }
    Object.defineProperty(CancelledFailureCopy.prototype, 'name', { value: 'CancelledFailure' });
    const foreign = new CancelledFailureCopy('cancelled elsewhere');
    expect(foreign).toBeInstanceOf(CancelledFailure);
    expect(isCancellation(foreign)).toBe(true);
    expect(foreign).not.toBeInstanceOf(ApplicationFailure);
  });
});

describe('the real clock, when the wall clock is set', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  // Fake timers move performance.now() with the timers, and vi.setSystemTime moves Date.now()
  // alone: a wall clock set by the user or by NTP.
  const clock = () => realTimeClock(() => Date.now());

  it('never goes back: set back an hour, it goes on from where it was', () => {
    vi.useFakeTimers({ now: 10_000_000 });
    const c = clock();
    vi.advanceTimersByTime(500);
    expect(c.now()).toBe(10_000_500);
    vi.setSystemTime(Date.now() - 3_600_000);
    vi.advanceTimersByTime(250);
    expect(c.now()).toBe(10_000_750);
    vi.setSystemTime(Date.now() + 2 * 3_600_000);
    expect(c.now()).toBe(10_000_750 + 3_600_000);
  });

  it('back: a timer is not held up by the hour taken away, and fires once', () => {
    vi.useFakeTimers({ now: 10_000_000 });
    const fired: number[] = [];
    clock().setTimer(() => fired.push(Date.now()), 1_000);
    vi.advanceTimersByTime(400);
    vi.setSystemTime(Date.now() - 3_600_000);
    vi.advanceTimersByTime(599);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toHaveLength(1);
    vi.advanceTimersByTime(3_600_000);
    expect(fired).toHaveLength(1);
  });

  it('forward: a timer due by the new time fires within a second, once', () => {
    vi.useFakeTimers({ now: 10_000_000 });
    const fired: number[] = [];
    clock().setTimer(() => fired.push(Date.now()), 2 * 3_600_000);
    vi.setSystemTime(Date.now() + 3 * 3_600_000);
    vi.advanceTimersByTime(1_000);
    expect(fired).toHaveLength(1);
    vi.advanceTimersByTime(3 * 3_600_000);
    expect(fired).toHaveLength(1);
  });

  it('back, with a queue of timers: each fires once, in order, when its wait has passed', () => {
    vi.useFakeTimers({ now: 10_000_000 });
    const fired: string[] = [];
    const start = Date.now();
    const queue = new TimerQueue<string>(
      (v) => v,
      (due) => fired.push(...due),
      clock(),
    );
    for (const [key, after] of [
      ['c', 3_000],
      ['a', 1_000],
      ['b', 2_000],
    ] as const)
      queue.add(key, start + after);
    vi.advanceTimersByTime(1_000);
    expect(fired).toEqual(['a']);
    vi.setSystemTime(Date.now() - 3_600_000);
    vi.advanceTimersByTime(1_000);
    expect(fired).toEqual(['a', 'b']);
    vi.advanceTimersByTime(1_000);
    expect(fired).toEqual(['a', 'b', 'c']);
    vi.advanceTimersByTime(2 * 3_600_000);
    expect(fired).toEqual(['a', 'b', 'c']);
  });
});

describe('TimerQueue', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires in order, a removed entry never, and one past setTimeout’s 2^31-1 ms when the clock gets there', () => {
    vi.useFakeTimers({ now: 0 });
    const fired: string[] = [];
    const queue = new TimerQueue<string>(
      (v) => v,
      (due) => fired.push(...due),
      realTimeClock(() => Date.now()),
    );
    const far = 2 ** 31 + 5_000;
    queue.add('far', far);
    queue.add('soon', 100);
    queue.add('removed', 50);
    queue.remove('removed');
    vi.advanceTimersByTime(100);
    expect(fired).toEqual(['soon']);
    // Weeks pass while the machine sleeps: the wall clock is there, the timers find out.
    vi.setSystemTime(far - 2_000);
    vi.advanceTimersByTime(1_000);
    expect(fired).toEqual(['soon']);
    vi.advanceTimersByTime(1_000);
    expect(fired).toEqual(['soon', 'far']);
  });
});
