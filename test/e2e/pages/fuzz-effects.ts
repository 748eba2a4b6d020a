/**
 * The crash fuzzer's side tables in the browser, in an IndexedDB database of their own apart from
 * the engine's, so they survive a page reload or a worker terminated: `effects`, written by an
 * activity before it goes on; `resolutions`, when activity outcomes became durable (fuzz/outcomes.ts);
 * `reloads`, when a host's store dropped its unflushed writes (another connection wrote first, the
 * late commit of a host that crashed, say).
 */
import { openDB } from 'idb';
import type { Effect } from '../../../fuzz/activities.ts';
import type { Resolution } from '../../../fuzz/outcomes.ts';

export const effectsDbName = (db: string): string => `weft-fuzz-effects-${db}`;

export function openEffects(db: string) {
  return openDB(effectsDbName(db), 1, {
    upgrade(database) {
      database.createObjectStore('effects', { autoIncrement: true }).createIndex('key', 'key');
      database.createObjectStore('reloads', { autoIncrement: true });
      database.createObjectStore('resolutions', { autoIncrement: true });
    },
  });
}

type EffectsDb = Awaited<ReturnType<typeof openEffects>>;

/** Adds `effect`; resolves, once committed, with how many effects its key has, this one included. */
export async function addEffect(database: EffectsDb, effect: Effect): Promise<number> {
  const tx = database.transaction('effects', 'readwrite');
  const before = await tx.store.index('key').count(effect.key);
  await tx.store.add(effect);
  await tx.done;
  return before + 1;
}

export async function addReload(database: EffectsDb, reload: { host: string; time: number }): Promise<void> {
  await database.add('reloads', reload);
}

export async function addResolutions(database: EffectsDb, resolutions: Resolution[]): Promise<void> {
  const tx = database.transaction('resolutions', 'readwrite');
  for (const r of resolutions) void tx.store.add(r);
  await tx.done;
}

export interface Side {
  effects: Effect[];
  reloads: { host: string; time: number }[];
  resolutions: Resolution[];
}

export async function readSide(db: string): Promise<Side> {
  const database = await openEffects(db);
  try {
    const tx = database.transaction(['effects', 'reloads', 'resolutions']);
    const [effects, reloads, resolutions] = await Promise.all([
      tx.objectStore('effects').getAll() as Promise<Effect[]>,
      tx.objectStore('reloads').getAll() as Promise<Side['reloads']>,
      tx.objectStore('resolutions').getAll() as Promise<Resolution[]>,
    ]);
    return { effects, reloads, resolutions };
  } finally {
    database.close();
  }
}
