import { proxy, type Remote, releaseProxy, wrap } from 'comlink';
import { EngineGoneError } from '../engine/failure.ts';
import { ENGINE_API_METHODS, type EngineApi } from '../protocol/api.ts';
import { batchingEndpoint, type MessageEndpoint } from '../protocol/endpoint.ts';
import { WorkflowClient } from './client.ts';

/**
 * A connection to an engine. It is an `EventTarget`: `versionchange` (a `CustomEvent` whose
 * `detail` is `{ newVersion }`, null when the database was deleted) says that another tab
 * upgraded the database and this engine stopped; calls then fail with `SchemaMismatchError`.
 * Reload the page (or reconnect) to go on with the new version.
 */
export interface Client extends EventTarget {
  workflow: WorkflowClient;
  /** Closes the connection (the worker keeps running). */
  close(): void;
}

/** An engine's flat API, already at hand (in process) or a Comlink endpoint. */
type Endpoint =
  | Worker
  | MessagePort
  | ServiceWorker
  | { postMessage(message: unknown, transfer?: Transferable[]): void };

/**
 * Connects the page to an engine running in a worker (`startWorker`), or in a service worker.
 * Given a pool (several workers on one database, each serving its task queues), calls go to
 * the first; the workers elect a leader among themselves and share the work.
 * @example
 * const client = await connect(new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module' }));
 * const result = await client.workflow.execute('order', { workflowId: 'order-1', args: [cart] });
 */
export async function connect(endpoint: Endpoint | Endpoint[]): Promise<Client> {
  let port = [endpoint].flat()[0] as Endpoint;
  if (typeof ServiceWorker !== 'undefined' && port instanceof ServiceWorker) {
    const channel = new MessageChannel();
    port.postMessage({ weftConnect: true }, [channel.port2]);
    port = channel.port1;
  }
  const remote = wrap<EngineApi>(batchingEndpoint(port as MessageEndpoint)) as unknown as Remote<EngineApi>;
  // The worker holds a Web Lock while it lives, and names it when greeted: granted here, the
  // lock says the worker is gone (terminated, crashed, stopped by the browser), and the calls
  // in flight and every later one fail, rather than wait for an answer that cannot come.
  let gone: EngineGoneError | undefined;
  const inFlight = new Set<(error: Error) => void>();
  const watching = new AbortController();
  let watched = false;
  // Each property read on a Comlink proxy makes (and registers) a new proxy: read each method
  // once, here, rather than on every call.
  const api = Object.fromEntries(
    ENGINE_API_METHODS.map((method) => {
      const call = (remote as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>)[method]!;
      const guarded = (...args: unknown[]) =>
        new Promise((resolve, reject) => {
          if (gone) return reject(gone);
          inFlight.add(reject);
          call(...args)
            .then(resolve, reject)
            .finally(() => inFlight.delete(reject));
        });
      return [method, guarded];
    }),
  ) as unknown as EngineApi;
  const client = Object.assign(new EventTarget(), {
    workflow: new WorkflowClient(api, (fn) => proxy(fn)),
    close: () => {
      watching.abort();
      // Tells the engine this client is gone (it frees what it kept for it), then closes a port.
      void remote[releaseProxy]();
      if ('close' in port && typeof port.close === 'function') (port as MessagePort).close();
    },
  });
  (port as MessageEndpoint).addEventListener('message', (event) => {
    const data = (event as MessageEvent).data as
      | { weftVersionChange?: number | null; weftAlive?: string }
      | undefined;
    if (data && 'weftVersionChange' in data) {
      client.dispatchEvent(
        new CustomEvent('versionchange', { detail: { newVersion: data.weftVersionChange } }),
      );
    }
    const locks = globalThis.navigator?.locks;
    if (typeof data?.weftAlive === 'string' && !watched && locks) {
      watched = true;
      locks
        .request(data.weftAlive, { signal: watching.signal }, () => {
          gone = new EngineGoneError(
            "The engine's worker is gone (terminated, crashed or stopped by the browser): connect to a new one",
          );
          for (const reject of inFlight) reject(gone);
          inFlight.clear();
        })
        // Aborted by `close`.
        .catch(() => undefined);
    }
  });
  (port as MessagePort).start?.();
  (port as MessagePort).postMessage({ weftHello: true });
  return client;
}
