import type { MessageEndpoint } from '../protocol/endpoint.ts';

type Listener = EventListenerOrEventListenerObject;

/** The message types of Comlink's wire protocol; anything else Comlink ignores. */
const COMLINK_MESSAGES = new Set(['GET', 'SET', 'APPLY', 'CONSTRUCT', 'ENDPOINT', 'RELEASE']);
/** Names that lead from any object to the built-ins every object shares. */
const FORBIDDEN_NAMES = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * The endpoint `expose` listens on, letting through only the Comlink messages weft's client
 * sends: an APPLY of one of `methods` (the API is flat: nothing lies below a method), with its
 * arguments as Comlink encodes them (plain values, or a listener passed as a proxy), and a
 * RELEASE. Comlink follows a message's path from the exposed object one property at a time and
 * reads, sets or calls whatever it reaches: a path through `__proto__`, `constructor` or
 * `prototype` reaches `Object.prototype` and the worker's other built-ins, and a SET there
 * would change every object in the worker. A refused message goes no further; it is answered
 * as a call that threw `InvalidArgumentError`, saying why, so its sender hears of it.
 */
export function guardedEndpoint(endpoint: MessageEndpoint, methods: readonly string[]): MessageEndpoint {
  const wrapped = new Map<Listener, Listener>();
  return {
    postMessage: (message, transfer) => endpoint.postMessage(message, transfer),
    addEventListener(type, listener) {
      const guard = (event: Event): void => {
        const data = (event as MessageEvent).data as { id?: unknown } | null | undefined;
        const why = refusal(data, methods);
        if (why === undefined) {
          if (typeof listener === 'function') listener(event);
          else listener.handleEvent(event);
          return;
        }
        endpoint.postMessage({
          id: data?.id,
          type: 'HANDLER',
          name: 'throw',
          value: { isError: true, value: { name: 'InvalidArgumentError', message: why } },
        });
      };
      wrapped.set(listener, guard);
      endpoint.addEventListener(type, guard);
    },
    removeEventListener(type, listener) {
      const guard = wrapped.get(listener);
      if (guard === undefined) return;
      wrapped.delete(listener);
      endpoint.removeEventListener(type, guard);
    },
    ...(endpoint.start && { start: () => endpoint.start?.() }),
  };
}

/** Why a message may not reach Comlink's `expose`; undefined when it may (or is not Comlink's). */
function refusal(data: unknown, methods: readonly string[]): string | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const { type, path = [], argumentList = [] } = data as Record<string, unknown>;
  if (typeof type !== 'string' || !COMLINK_MESSAGES.has(type)) return undefined;
  const names = Array.isArray(path) && path.every((name) => typeof name === 'string') ? path : undefined;
  const what = `weft refused a Comlink ${type} of '${names ? names.join('.') : String(path)}'`;
  if (!names) return `${what}: its path is not a list of names`;
  const forbidden = names.find((name) => FORBIDDEN_NAMES.has(name));
  if (forbidden !== undefined) return `${what}: its path names '${forbidden}'`;
  if (type === 'RELEASE' && names.length === 0) return undefined;
  if (type !== 'APPLY' || names.length !== 1 || !methods.includes(names[0]!))
    return `${what}: the engine takes calls of its API's methods only (${methods.join(', ')})`;
  if (!Array.isArray(argumentList) || !argumentList.every(isWireArgument))
    return `${what}: an argument is not a value as Comlink sends it`;
  return undefined;
}

/** A plain value, or a function the page exposes on a port of its own (a `watch` listener). */
function isWireArgument(value: unknown): boolean {
  const wire = value as { type?: unknown; name?: unknown } | null;
  return wire?.type === 'RAW' || (wire?.type === 'HANDLER' && wire.name === 'proxy');
}
