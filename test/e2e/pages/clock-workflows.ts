/** Workflows for the clock page: timers whose times the test compares with their histories. */
import { condition, defineSignal, setHandler, sleep } from '../../../src/workflow/index.ts';

/** Sleeps `ms`; returns the workflow's time before and after, as its history recorded them. */
export async function napper(ms: number): Promise<[before: number, after: number]> {
  const before = Date.now();
  await sleep(ms);
  return [before, Date.now()];
}

export const note = defineSignal<[string]>('note');

/** Keeps the notes it is sent until it has `expected` of them. */
export async function notebook(expected: number): Promise<string[]> {
  const notes: string[] = [];
  setHandler(note, (n) => {
    notes.push(n);
  });
  await condition(() => notes.length >= expected);
  return notes;
}
