import { msOptional } from './duration.ts';
import type { RetryPolicy } from './events.ts';
import type { FailureRecord, RetryState } from './failure.ts';

/** Temporal's defaults for activities: 1 s, doubling, capped at 100x the initial interval, unlimited attempts. */
export interface NormalisedRetryPolicy {
  initialInterval: number;
  backoffCoefficient: number;
  maximumInterval: number;
  maximumAttempts: number;
  nonRetryableErrorTypes: string[];
}

export function normaliseRetryPolicy(policy: RetryPolicy | undefined): NormalisedRetryPolicy {
  const initialInterval = msOptional(policy?.initialInterval) ?? 1_000;
  return {
    initialInterval,
    backoffCoefficient: policy?.backoffCoefficient ?? 2,
    maximumInterval: msOptional(policy?.maximumInterval) ?? initialInterval * 100,
    maximumAttempts: policy?.maximumAttempts ?? 0,
    nonRetryableErrorTypes: policy?.nonRetryableErrorTypes ?? [],
  };
}

/**
 * Decides whether a failed attempt is retried and after how long.
 * `deadline` is the absolute schedule-to-close (or execution) deadline, if any.
 * @example nextRetry({ maximumAttempts: 3 }, 1, failure, now) // { retry: true, delay: 1000 }
 */
export function nextRetry(
  policy: RetryPolicy | undefined,
  attempt: number,
  failure: FailureRecord,
  now: number,
  deadline?: number,
): { retry: true; delay: number } | { retry: false; retryState: RetryState } {
  const p = normaliseRetryPolicy(policy);
  if (
    failure.nonRetryable === true ||
    (failure.type !== undefined && p.nonRetryableErrorTypes.includes(failure.type))
  ) {
    return { retry: false, retryState: 'RETRY_STATE_NON_RETRYABLE_FAILURE' };
  }
  if (p.maximumAttempts > 0 && attempt >= p.maximumAttempts) {
    return { retry: false, retryState: 'RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED' };
  }
  const delay = Math.min(p.initialInterval * p.backoffCoefficient ** (attempt - 1), p.maximumInterval);
  if (deadline !== undefined && now + delay >= deadline)
    return { retry: false, retryState: 'RETRY_STATE_TIMEOUT' };
  return { retry: true, delay };
}
