/**
 * `weft/temporal`: weft's histories in Temporal's JSON format and back, and replay of either
 * against workflow code. A history exported here replays in Temporal's own
 * `Worker.runReplayHistory` with the same workflow source, which is how a workflow that moves
 * to a Temporal cluster is shown to be unchanged in its logic. Not imported by the page's
 * client or by the engine core: only code that asks for it pays for it.
 */
export { fromTemporalHistory } from './from-temporal.ts';
export type { Payload, Payloads, TemporalFailure, TemporalHistory, TemporalHistoryEvent } from './json.ts';
export { type AnyHistory, type ReplayOptions, replayHistory } from './replay.ts';
export { toTemporalHistory } from './to-temporal.ts';
