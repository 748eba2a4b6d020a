import { proxy, type Remote, releaseProxy, wrap } from 'comlink';
import { EngineGoneError } from '../engine/failure.ts';
import { ENGINE_API_METHODS, type EngineApi, type StorageStatus } from '../protocol/api.ts';
import { batchingEndpoint, type MessageEndpoint } from '../protocol/endpoint.ts';
import { WorkflowClient } from './client.ts';

/**
 * A connection to an engine. It is an `EventTarget` of two `CustomEvent`s:
 * - `versionchange` (`detail`: `{ newVersion }`, null when the database was deleted): another
 *   tab upgraded the database and this engine stopped; calls then fail with
 *   `SchemaMismatchError`. Reload the page (or reconnect) to go on with the new version.
 * - `storage` (`detail`: a {@link StorageStatus}): `full` when the database runs out of space
 *   (the engine holds its writes, and the calls that wait on them, until it takes them), `ok`
 *   when it took them, `lost` when the database was deleted or cleared under the engine (it
 *   stopped; calls fail with `StorageLostError`; it never recreates an empty database).
 */
export interface Client extends EventTarget {
  workflow: WorkflowClient;
  /**
   * Whether the browser keeps this origin's data under storage pressure. `connect` asks for it
   * (`navigator.storage.persist()`, unless `persist: false`); false where it is refused or
   * unavailable, and in a private window, whose data goes when it closes. Without it, IndexedDB
   * is "best effort": the browser may evict the database when the disk fills up.
   */
  durable: Promise<boolean>;
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
 * the first; the workers elect a leader among themselves and share the work. It asks the browser
 * to keep the origin's data (`navigator.storage.persist()`, which only a page may ask; Firefox
 * asks the user) unless `persist` is false; `client.durable` says how that went.
 * @example
 * const client = await connect(new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module' }));
 * const result = await client.workflow.execute('order', { workflowId: 'order-1', args: [cart] });
 * if (!(await client.durable)) console.warn('the browser may evict this data');
 */
export async function connect(
  endpoint: Endpoint | Endpoint[],
  { persist = true }: { persist?: boolean } = {},
): Promise<Client> {
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
  const storage = (globalThis.navigator as Navigator | undefined)?.storage;
  const client = Object.assign(new EventTarget(), {
    workflow: new WorkflowClient(api, (fn) => proxy(fn)),
    // Not awaited by `connect`: a browser may ask the user first.
    durable: Promise.resolve()
      .then(() => (persist && storage?.persist ? storage.persist() : (storage?.persisted?.() ?? false)))
      .catch(() => false),
    close: () => {
      watching.abort();
      // Tells the engine this client is gone (it frees what it kept for it), then closes a port.
      void remote[releaseProxy]();
      if ('close' in port && typeof port.close === 'function') (port as MessagePort).close();
    },
  });
  (port as MessageEndpoint).addEventListener('message', (event) => {
    const data = (event as MessageEvent).data as
      | { weftVersionChange?: number | null; weftAlive?: string; weftStorage?: StorageStatus }
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
    if (data?.weftStorage) client.dispatchEvent(new CustomEvent('storage', { detail: data.weftStorage }));
  });
  (port as MessagePort).start?.();
  (port as MessagePort).postMessage({ weftHello: true });
  return client;
}
