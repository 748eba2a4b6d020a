import { InvalidArgumentError } from '../engine/index.ts';

/*
 * Temporal's JSON history: the protobuf JSON mapping of `temporal.api.history.v1.History`,
 * as `temporal workflow show --output json` writes it and `historyFromJSON` of
 * `@temporalio/common` reads it. int64s are strings, bytes base64, enums their full names
 * (`EVENT_TYPE_TIMER_FIRED`), Durations `'1.500s'`, Timestamps RFC 3339.
 */

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** A Temporal `Payload`: metadata values and data are base64. */
export interface Payload {
  metadata?: Record<string, string>;
  data?: string;
}

export interface Payloads {
  payloads?: Payload[];
}

/** A Temporal `Failure` (temporal.api.failure.v1), with its cause chain. */
export interface TemporalFailure {
  message?: string;
  source?: string;
  stackTrace?: string;
  cause?: TemporalFailure;
  applicationFailureInfo?: { type?: string; nonRetryable?: boolean; details?: Payloads };
  timeoutFailureInfo?: { timeoutType?: string; lastHeartbeatDetails?: Payloads };
  canceledFailureInfo?: { details?: Payloads; identity?: string };
  terminatedFailureInfo?: { identity?: string };
  serverFailureInfo?: { nonRetryable?: boolean };
  activityFailureInfo?: {
    scheduledEventId?: string;
    startedEventId?: string;
    identity?: string;
    activityType?: { name?: string };
    activityId?: string;
    retryState?: string;
  };
  childWorkflowExecutionFailureInfo?: {
    namespace?: string;
    workflowExecution?: { workflowId?: string; runId?: string };
    workflowType?: { name?: string };
    initiatedEventId?: string;
    startedEventId?: string;
    retryState?: string;
  };
}

export interface TemporalRetryPolicy {
  initialInterval?: string;
  backoffCoefficient?: number;
  maximumInterval?: string;
  maximumAttempts?: number;
  nonRetryableErrorTypes?: string[];
}

/** One event: its ID, time and type, and one `<eventType>EventAttributes` object. */
export interface TemporalHistoryEvent {
  eventId: string;
  eventTime: string;
  eventType: string;
  [field: string]: unknown;
}

/** A whole history, as `temporal workflow show --output json` writes it. */
export interface TemporalHistory {
  events: TemporalHistoryEvent[];
}

/** `WorkflowExecutionStarted` -> `EVENT_TYPE_WORKFLOW_EXECUTION_STARTED`. */
export const toEventTypeName = (type: string): string => `EVENT_TYPE_${constantCase(type)}`;

/**
 * The short, PascalCase name of an event type, from either spelling Temporal's tools write:
 * `EVENT_TYPE_WORKFLOW_EXECUTION_STARTED` or `WorkflowExecutionStarted`.
 */
export function fromEventTypeName(name: string): string {
  if (!name.startsWith('EVENT_TYPE_')) return name;
  return name
    .slice('EVENT_TYPE_'.length)
    .toLowerCase()
    .split('_')
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('');
}

/** `WorkflowExecutionStarted` -> `workflowExecutionStartedEventAttributes`. */
export const attributesKey = (type: string): string =>
  `${type.charAt(0).toLowerCase()}${type.slice(1)}EventAttributes`;

const constantCase = (pascal: string) => pascal.replace(/(?<=[a-z0-9])(?=[A-Z])/g, '_').toUpperCase();

/** A weft enum value as Temporal's full enum name: `('RETRY_STATE', 'TIMEOUT')` is `RETRY_STATE_TIMEOUT`. */
export const toEnum = (prefix: string, value: string): string =>
  value.startsWith(`${prefix}_`) ? value : `${prefix}_${value}`;

/**
 * A Temporal enum value without its prefix, from the full name or the PascalCase short form
 * older tools wrote (`Terminate`).
 * @throws InvalidArgumentError for `UNSPECIFIED` or a value not among `allowed`.
 */
export function fromEnum<T extends string>(prefix: string, value: string, allowed: readonly T[]): T {
  const bare = value.startsWith(`${prefix}_`) ? value.slice(prefix.length + 1) : constantCase(value);
  if (!(allowed as readonly string[]).includes(bare)) {
    throw new InvalidArgumentError(`${prefix} '${value}' is not one weft knows (${allowed.join(', ')})`);
  }
  return bare as T;
}

/**
 * Typed reads of an attributes object from outside: each says which event and field is
 * missing or of the wrong type instead of letting `undefined` through.
 */
export class Fields {
  readonly #object: Record<string, unknown>;
  readonly #where: string;

  constructor(object: unknown, where: string) {
    if (typeof object !== 'object' || object === null || Array.isArray(object)) {
      throw new InvalidArgumentError(`${where}: expected an object`);
    }
    this.#object = object as Record<string, unknown>;
    this.#where = where;
  }

  has(name: string): boolean {
    const value = this.#object[name];
    return value !== undefined && value !== null;
  }

  #fail(name: string, expected: string): never {
    throw new InvalidArgumentError(`${this.#where}: field '${name}' must be ${expected}`);
  }

  str(name: string, fallback?: string): string {
    const value = this.#object[name];
    if (typeof value === 'string') return value;
    if ((value === undefined || value === null) && fallback !== undefined) return fallback;
    return this.#fail(name, 'a string');
  }

  optStr(name: string): string | undefined {
    return this.has(name) && this.str(name) !== '' ? this.str(name) : undefined;
  }

  /** An int64 (a string in JSON) or int32. */
  int(name: string, fallback?: number): number {
    const value = this.#object[name];
    if (typeof value === 'number' && Number.isInteger(value)) return value;
    if (typeof value === 'string' && /^-?\d+$/.test(value)) return Number(value);
    if ((value === undefined || value === null) && fallback !== undefined) return fallback;
    return this.#fail(name, 'an integer');
  }

  optInt(name: string): number | undefined {
    return this.has(name) ? this.int(name) : undefined;
  }

  bool(name: string): boolean {
    const value = this.#object[name];
    if (value === undefined || value === null) return false;
    if (typeof value === 'boolean') return value;
    return this.#fail(name, 'a boolean');
  }

  obj(name: string): Fields {
    return new Fields(this.#object[name], `${this.#where}.${name}`);
  }

  optObj(name: string): Fields | undefined {
    return this.has(name) ? this.obj(name) : undefined;
  }

  /** A message field as it stands (payloads, failures, policies), checked to be an object. */
  message<T>(name: string): T | undefined {
    if (!this.has(name)) return undefined;
    this.obj(name);
    return this.#object[name] as T;
  }

  /** `{ name }` messages: WorkflowType, ActivityType, TaskQueue. */
  named(name: string): string {
    return this.obj(name).str('name');
  }
}
