/**
 * An engine worker whose wall clock the test can set, as a user or NTP sets the machine's: its
 * `Date.now` is the real one plus an offset that a message on the BroadcastChannel
 * `weft-e2e-clock` changes (`{ shift: ms }`). Timers (setTimeout) keep their monotonic pace, as
 * they do when a machine's clock is set. weft reads `Date.now` of the original `Date` at each
 * call, so it sees the patch.
 */
import { startWorker } from '../../../src/worker/index.ts';
import * as workflows from './clock-workflows.ts';

const realDateNow = Date.now.bind(Date);
let offset = 0;
Date.now = () => realDateNow() + offset;
const control = new BroadcastChannel('weft-e2e-clock');
control.onmessage = (event: MessageEvent<{ shift: number }>) => {
  offset += event.data.shift;
  control.postMessage({ offset });
};

const params = new URL(globalThis.location.href).searchParams;
startWorker({ workflows, databaseName: params.get('db') ?? 'clock' }).catch((error: unknown) =>
  console.error('clock worker failed to start', error),
);
