/**
 * Observable side effects for the playground and the e2e tests: every activity appends a
 * record to its own IndexedDB database (`weft-test-effects-<db>`), separate from the engine's,
 * so a test can count how many times each activity really ran, across reloads.
 */
import { openDB } from 'idb';

export interface EffectRecord {
  activity: string;
  workflowId: string;
  attempt: number;
  detail: string;
  at: number;
}

const STORE = 'effects';

export function effectsDbName(db: string): string {
  return `weft-test-effects-${db}`;
}

function open(db: string) {
  return openDB(effectsDbName(db), 1, {
    upgrade(database) {
      database.createObjectStore(STORE, { autoIncrement: true });
    },
  });
}

export async function recordEffect(db: string, record: EffectRecord): Promise<void> {
  const database = await open(db);
  try {
    await database.add(STORE, record);
  } finally {
    database.close();
  }
}

export async function readEffects(db: string): Promise<EffectRecord[]> {
  const database = await open(db);
  try {
    return (await database.getAll(STORE)) as EffectRecord[];
  } finally {
    database.close();
  }
}
