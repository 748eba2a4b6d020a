/**
 * The wire protocol between the page and the engine's workers, and between the workers that
 * share a database: plain, structured-cloneable data only. Both sides import it; it owns no
 * behaviour but the batching endpoint, and depends on the engine for types alone.
 *
 * - `api.ts`: the flat {@link EngineApi} a worker exposes over Comlink, its options, replies
 *   (errors as records) and change notifications;
 * - `endpoint.ts`: the batching endpoint both ends wrap Comlink's messages in;
 * - `notes.ts`: what hosts tell each other over the bus (leases, offers, calls, wake notes).
 */
export type * from './api.ts';
export { batchingEndpoint, type MessageEndpoint } from './endpoint.ts';
export type * from './notes.ts';
