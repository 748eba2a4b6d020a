import { InvalidArgumentError, msToNumber, type RetryPolicy } from '../engine/index.ts';
import type { Payload, Payloads, TemporalRetryPolicy } from './json.ts';

/*
 * The values inside Temporal's JSON history: payloads as the default data converter writes
 * them, protobuf Durations and Timestamps, retry policies. Runtime-neutral: `btoa`/`atob` and
 * `TextEncoder` exist in browsers, workers, Node and Deno alike.
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Bytes as base64, in chunks (a 1 MB payload would overflow `String.fromCharCode(...all)`). */
export function bytesToBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

export function base64ToBytes(base64: string): Uint8Array {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

const utf8Base64 = (text: string) => bytesToBase64(encoder.encode(text));
const base64Utf8 = (base64: string) => decoder.decode(base64ToBytes(base64));

const JSON_PLAIN = utf8Base64('json/plain');
const BINARY_NULL = utf8Base64('binary/null');

/**
 * One value as Temporal's default payload converter encodes it: `binary/null` for
 * `undefined`, `binary/plain` for bytes, `json/plain` for everything else.
 */
export function toPayload(value: unknown): Payload {
  if (value === undefined) return { metadata: { encoding: BINARY_NULL } };
  if (value instanceof Uint8Array) {
    return { metadata: { encoding: utf8Base64('binary/plain') }, data: bytesToBase64(value) };
  }
  return { metadata: { encoding: JSON_PLAIN }, data: utf8Base64(JSON.stringify(value)) };
}

/**
 * The value a payload holds.
 * @throws InvalidArgumentError for an encoding the default converter does not write
 *   (an encrypted or compressed payload needs its codec first).
 */
export function fromPayload(payload: Payload): unknown {
  const encoding = payload.metadata?.encoding === undefined ? '' : base64Utf8(payload.metadata.encoding);
  const data = payload.data ?? '';
  switch (encoding) {
    case 'binary/null':
      return undefined;
    case 'binary/plain':
      return base64ToBytes(data);
    case 'json/plain':
    case 'json/protobuf':
      return JSON.parse(base64Utf8(data)) as unknown;
    default:
      throw new InvalidArgumentError(
        `Payload encoding '${encoding}' is not one Temporal's default data converter writes; decode it with its codec first`,
      );
  }
}

export const toPayloads = (values: readonly unknown[]): Payloads => ({ payloads: values.map(toPayload) });
export const fromPayloads = (payloads: Payloads | undefined): unknown[] =>
  (payloads?.payloads ?? []).map(fromPayload);

/** The first value of a `Payloads` (a result), `undefined` when there is none. */
export const fromSinglePayload = (payloads: Payloads | undefined): unknown => {
  const first = payloads?.payloads?.[0];
  return first === undefined ? undefined : fromPayload(first);
};

/** A record of values as a Temporal `Memo` or header (`{ fields: { key: Payload } }`). */
export function toFields(record: Record<string, unknown>): { fields: Record<string, Payload> } {
  const fields: Record<string, Payload> = {};
  for (const [key, value] of Object.entries(record)) fields[key] = toPayload(value);
  return { fields };
}

export function fromFields(fields: Record<string, Payload> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, payload] of Object.entries(fields ?? {})) out[key] = fromPayload(payload);
  return out;
}

/**
 * Milliseconds as a protobuf Duration string: `10s`, `0.5s`, `0.010s`.
 * @example toDuration(1500) // '1.500s'
 */
export function toDuration(ms: number | string): string {
  const nanos = Math.round(msToNumber(ms) * 1e6);
  const seconds = Math.floor(nanos / 1e9);
  const fraction = nanos - seconds * 1e9;
  if (fraction === 0) return `${seconds}s`;
  const digits = String(fraction).padStart(9, '0');
  // Protobuf writes 3, 6 or 9 fractional digits.
  const kept = digits.endsWith('000000')
    ? digits.slice(0, 3)
    : digits.endsWith('000')
      ? digits.slice(0, 6)
      : digits;
  return `${seconds}.${kept}s`;
}

/** A protobuf Duration string as milliseconds. */
export function fromDuration(duration: string): number {
  const match = /^(-?)(\d+)(?:\.(\d{1,9}))?s$/.exec(duration);
  if (!match)
    throw new InvalidArgumentError(`Invalid protobuf Duration '${duration}': expected e.g. '10s' or '0.5s'`);
  const nanos = Number(match[2]) * 1e9 + Number((match[3] ?? '').padEnd(9, '0'));
  return ((match[1] === '-' ? -1 : 1) * nanos) / 1e6;
}

/** Milliseconds since the epoch as an RFC 3339 timestamp, e.g. `2026-05-15T16:42:32.120Z`. */
export const toTimestamp = (ms: number): string => new Date(ms).toISOString();

/** An RFC 3339 timestamp (any number of fractional digits) as milliseconds since the epoch. */
export function fromTimestamp(timestamp: string): number {
  const match = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/i.exec(timestamp);
  const ms = match
    ? Date.parse(`${match[1]}${match[3]}`) + Number(`0.${match[2] ?? '0'}`) * 1000
    : Number.NaN;
  if (!Number.isFinite(ms)) throw new InvalidArgumentError(`Invalid RFC 3339 timestamp '${timestamp}'`);
  return Math.round(ms * 1000) / 1000;
}

export function toRetryPolicy(policy: RetryPolicy): TemporalRetryPolicy {
  const out: TemporalRetryPolicy = {};
  if (policy.initialInterval !== undefined) out.initialInterval = toDuration(policy.initialInterval);
  if (policy.backoffCoefficient !== undefined) out.backoffCoefficient = policy.backoffCoefficient;
  if (policy.maximumInterval !== undefined) out.maximumInterval = toDuration(policy.maximumInterval);
  if (policy.maximumAttempts !== undefined) out.maximumAttempts = policy.maximumAttempts;
  if (policy.nonRetryableErrorTypes !== undefined)
    out.nonRetryableErrorTypes = [...policy.nonRetryableErrorTypes];
  return out;
}

export function fromRetryPolicy(policy: TemporalRetryPolicy): RetryPolicy {
  const out: RetryPolicy = {};
  if (policy.initialInterval !== undefined) out.initialInterval = fromDuration(policy.initialInterval);
  if (policy.backoffCoefficient !== undefined) out.backoffCoefficient = policy.backoffCoefficient;
  if (policy.maximumInterval !== undefined) out.maximumInterval = fromDuration(policy.maximumInterval);
  // 0 means unlimited in both; weft leaves it out.
  if (policy.maximumAttempts !== undefined && policy.maximumAttempts !== 0) {
    out.maximumAttempts = policy.maximumAttempts;
  }
  if (policy.nonRetryableErrorTypes !== undefined && policy.nonRetryableErrorTypes.length > 0) {
    out.nonRetryableErrorTypes = [...policy.nonRetryableErrorTypes];
  }
  return out;
}
