/**
 * The platform baseline's worker: a module worker with idb and Comlink, exposing a trivial
 * function (Comlink round trips) and a database open (worker start to first useful answer).
 */
import { expose } from 'comlink';
import { openDB } from 'idb';

expose({
  ping: (): number => 1,
  async open(name: string): Promise<number> {
    const db = await openDB(name, 1, {
      upgrade(database) {
        database.createObjectStore('kv');
      },
    });
    db.close();
    return 1;
  },
});
