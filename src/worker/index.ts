/**
 * The host side: runs the engine in a dedicated Web Worker or a service worker, owns real
 * time, activity execution and task claiming, and exposes a flat API over Comlink.
 */
import { expose } from 'comlink';
import { defined } from '../engine/defined.ts';
import { ENGINE_API_METHODS, type StorageStatus } from '../protocol/api.ts';
import { batchingEndpoint, type MessageEndpoint } from '../protocol/endpoint.ts';
import { indexedDbStore } from '../store/indexeddb.ts';
import type { Store, StoreStatus } from '../store/types.ts';
import { broadcastBus } from './bus.ts';
import { guardedEndpoint } from './guard.ts';
import { Host, type HostOptions } from './host.ts';

export type * from '../protocol/api.ts';
export type { WakeNote } from '../protocol/notes.ts';
export { type ActivityInfo, Context } from './activity.ts';
export { broadcastBus, localBus, type WakeBus } from './bus.ts';
export { Host, type HostOptions } from './host.ts';

export interface StartWorkerOptions extends Omit<HostOptions, 'store'> {
  /** IndexedDB database name (default `weft`). */
  databaseName?: string;
  /** A single task queue; shorthand for `taskQueues: [taskQueue]`. */
  taskQueue?: string;
  /**
   * Use another store instead of IndexedDB: the store, or a promise of it. Pass the promise
   * rather than await it before calling `startWorker`: a module worker that is still in a
   * top-level `await` misses the messages its pages send meanwhile (they are dispatched with
   * no listener), and their calls would never be answered.
   */
  store?: Store | Promise<Store>;
  /** The IndexedDB factory the store opens its database with (default: the global `indexedDB`). */
  indexedDB?: IDBFactory;
}

/**
 * Starts the engine in this worker and exposes it to pages that `connect()` to it.
 * @example
 * import { startWorker } from 'weft/worker';
 * import * as workflows from './workflows';
 * import * as activities from './activities';
 * startWorker({ workflows, activities });
 */
export function startWorker(options: StartWorkerOptions): Promise<Host> {
  const scope = globalThis as unknown as {
    addEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
    postMessage?(message: unknown): void;
  };
  /** The pages' ends of their connections, to tell them when the engine stops. */
  const pages: { postMessage(message: unknown): void }[] = [];
  const tell = (message: unknown): void => {
    for (const page of pages) page.postMessage(message);
  };
  /** The store's last trouble, if it has not passed: a page that connects later hears of it too. */
  let trouble: StoreStatus | undefined;
  let host: Host | undefined;
  // Each host holds a Web Lock while it lives: when a tab closes or a worker is killed, the
  // lock is released at once, and other hosts take over its claimed work without waiting. It is
  // taken first of all, so that a page connected to this worker learns of its end (see
  // `connect`) even while the database opens.
  const identity = options.identity ?? `host-${crypto.randomUUID().slice(0, 8)}`;
  const lockName = `weft-host:${identity}`;
  const locks = (globalThis.navigator as Navigator | undefined)?.locks;
  const locked =
    locks &&
    new Promise<void>((held) => {
      void locks.request(lockName, () => {
        held();
        return new Promise<never>(() => undefined);
      });
    });
  /** A page says hello when it connects: it is told the lock's name, once the lock is held. */
  const greet = (event: MessageEvent, page: { postMessage(message: unknown): void }): void => {
    if ((event.data as { weftHello?: unknown } | null)?.weftHello)
      void locked?.then(() => page.postMessage({ weftAlive: lockName }));
  };
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void host?.shutdown();
  };
  // Messages that arrive before the store is open are answered once it is.
  const ready = (async () => {
    const databaseName = options.databaseName ?? 'weft';
    const store =
      (await options.store) ??
      (await indexedDbStore({
        name: databaseName,
        ...(options.indexedDB && { indexedDB: options.indexedDB }),
        // Another tab upgrades the database: this engine stops, and says so to its pages.
        onVersionChange: (newVersion) => {
          stop();
          tell({ weftVersionChange: newVersion });
        },
      }));
    // Workers, tabs and service workers on one database wake each other through a BroadcastChannel.
    const bus =
      options.bus ?? (typeof BroadcastChannel === 'undefined' ? undefined : broadcastBus(databaseName));
    await locked;
    host = new Host({
      ...options,
      identity,
      ...(locks && {
        isHostAlive: async (hostId: string) =>
          ((await locks.query()).held ?? []).some((lock) => lock.name === `weft-host:${hostId}`),
        // Granted once the host's lock is released: it is gone.
        whenHostGone: (hostId: string) => locks.request(`weft-host:${hostId}`, () => undefined),
      }),
      store,
      ...defined({
        taskQueues: options.taskQueues ?? (options.taskQueue === undefined ? undefined : [options.taskQueue]),
        bus,
      }),
    });
    // Out of space, back, or gone (here, or at the leader's): the pages hear of it; gone, the
    // engine stops.
    host.onStorage((status) => {
      trouble = status.state === 'ok' ? undefined : status;
      if (status.state === 'lost') stop();
      tell({ weftStorage: status satisfies StorageStatus });
    });
    await host.start();
    return host;
  })();
  const apiReady = ready.then(
    (host) => host.api() as unknown as Record<string, (...a: unknown[]) => unknown>,
  );
  // Swallowed here, reported to every caller: a store that cannot open fails each call clearly.
  apiReady.catch(() => undefined);
  const api = new Proxy(
    {},
    {
      get(_, method: string) {
        if (method === 'then') return undefined;
        return async (...args: unknown[]) => {
          const api = await apiReady;
          // Its own methods only: not what every object inherits.
          const fn = Object.hasOwn(api, method) ? api[method] : undefined;
          if (!fn) throw new Error(`Unknown weft API method ${method}`);
          return fn(...args);
        };
      },
    },
  );
  if ('ServiceWorkerGlobalScope' in globalThis && typeof scope.postMessage !== 'function') {
    // A service worker: each page connects by sending a MessagePort.
    scope.addEventListener('message', (event: MessageEvent) => {
      const data = event.data as { weftConnect?: boolean } | undefined;
      const port = event.ports[0];
      if (data?.weftConnect && port) {
        pages.push(port);
        port.addEventListener('message', (event) => greet(event, port));
        expose(api, guardedEndpoint(batchingEndpoint(port), ENGINE_API_METHODS));
        if (trouble) port.postMessage({ weftStorage: trouble });
      }
    });
  } else {
    const page = scope as { postMessage(message: unknown): void };
    pages.push(page);
    scope.addEventListener('message', (event) => greet(event, page));
    // Every client of this worker shares its scope: one that is released (closed, or collected)
    // must not stop the engine answering the others, so Comlink's RELEASE leaves it listening.
    const shared = guardedEndpoint(
      batchingEndpoint(globalThis as unknown as MessageEndpoint),
      ENGINE_API_METHODS,
    );
    expose(api, { ...shared, removeEventListener: () => undefined });
  }
  return ready;
}
