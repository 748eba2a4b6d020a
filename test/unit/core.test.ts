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

describe('TimerQueue', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires in order and re-arms delays past 2^31-1 ms in chunks', () => {
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
    vi.advanceTimersByTime(2 ** 31 - 1 - 100);
    expect(fired).toEqual(['soon']);
    vi.advanceTimersByTime(far - (2 ** 31 - 1));
    expect(fired).toEqual(['soon', 'far']);
  });
});
