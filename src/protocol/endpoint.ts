import type { Endpoint } from 'comlink';

/** What Comlink talks through: a worker, a worker's global scope, a MessagePort. */
export type MessageEndpoint = Endpoint;

type Listener = EventListenerOrEventListenerObject;

function call(listener: Listener, event: Event): void {
  if (typeof listener === 'function') listener(event);
  else listener.handleEvent(event);
}

const BATCH = 'weftBatch';

/**
 * The same endpoint, sending every message posted in one turn of the event loop as a single
 * message: with a hundred calls in flight, the per-message cost of postMessage and of the
 * message events it raises is paid once per turn rather than once per call. Both sides must
 * wrap their end (`connect` and `startWorker` do); order is kept.
 */
export function batchingEndpoint(endpoint: MessageEndpoint): MessageEndpoint {
  let queue: { message: unknown; transfer: Transferable[] }[] | undefined;
  const wrapped = new Map<Listener, Listener>();
  const send = (message: unknown, transfer: Transferable[]): void => {
    try {
      endpoint.postMessage(message, transfer);
    } catch (error) {
      // Callers check their data first (the client, the host's replies); should one slip
      // through, the others still go, and the failure is not silent.
      console.error('weft: a message could not be sent', error);
    }
  };
  return {
    postMessage(message, transfer = []) {
      if (queue === undefined) {
        const sending: { message: unknown; transfer: Transferable[] }[] = [];
        queue = sending;
        queueMicrotask(() => {
          queue = undefined;
          if (sending.length > 1) {
            try {
              endpoint.postMessage(
                { [BATCH]: sending.map((item) => item.message) },
                sending.flatMap((item) => item.transfer),
              );
              return;
            } catch {
              // One message of the batch does not clone: the others still go, one by one.
            }
          }
          for (const item of sending) send(item.message, item.transfer);
        });
      }
      queue.push({ message, transfer });
    },
    addEventListener(type, listener) {
      const unpack = (event: Event): void => {
        // Any data but a batch (a primitive, null, another object) has no BATCH field.
        const data = (event as MessageEvent<{ [BATCH]?: unknown[] } | null | undefined>).data;
        const batch = data?.[BATCH];
        if (!batch) {
          call(listener, event);
          return;
        }
        const { origin, ports } = event as MessageEvent;
        for (const message of batch) call(listener, { data: message, origin, ports } as unknown as Event);
      };
      wrapped.set(listener, unpack);
      endpoint.addEventListener(type, unpack);
    },
    removeEventListener(type, listener) {
      const unpack = wrapped.get(listener);
      if (unpack === undefined) return;
      wrapped.delete(listener);
      endpoint.removeEventListener(type, unpack);
    },
    ...(endpoint.start && { start: () => endpoint.start?.() }),
  };
}
