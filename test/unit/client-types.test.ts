/**
 * The typed client (issue 15): `start`, `execute`, `signalWithStart`, `signal`, `query` and
 * `executeUpdate` check arguments and results against the workflow function or the definition,
 * as Temporal's client does; a name stays allowed, with `unknown` arguments. Each `@ts-expect-error` line below makes
 * `npm run typecheck` fail if that wrong call ever type-checks; the right calls run on an engine.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { createEngine, memoryStore } from '../../src/index.ts';
import { condition, defineQuery, defineSignal, defineUpdate, setHandler } from '../../src/workflow/index.ts';

const greetedBy = defineSignal<[string]>('greetedBy');
const greeting = defineQuery<string, [prefix: string]>('greeting');
const rename = defineUpdate<number, [name: string]>('rename');
const finish = defineSignal('finish');

async function hello(name: string): Promise<string> {
  return `hello ${name}`;
}

async function host(name: string, times?: number): Promise<{ name: string; times: number }> {
  let by = '';
  let done = false;
  setHandler(greetedBy, (who) => {
    by = who;
  });
  setHandler(greeting, (prefix) => `${prefix} ${name} ${by}`);
  setHandler(rename, (next) => {
    name = next;
    return next.length;
  });
  setHandler(finish, () => {
    done = true;
  });
  await condition(() => done);
  return { name, times: times ?? 1 };
}

type Workflows = Awaited<ReturnType<typeof createEngine>>['client']['workflow'];
const startHost = (wf: Workflows) => wf.start(host, { workflowId: 'host', args: ['eve'] });

describe('the typed client', () => {
  it('takes what the workflow function and the definitions take, and gives their results', async () => {
    const engine = await createEngine({ workflows: { hello, host }, store: memoryStore() });
    const wf = engine.client.workflow;
    const result = await wf.execute(hello, { workflowId: 'h1', args: ['ada'] });
    expectTypeOf(result).toEqualTypeOf<string>();
    expect(result).toBe('hello ada');
    // A name: any arguments, an unknown result unless one is given.
    const byName = await wf.execute('hello', { workflowId: 'h2', args: ['bob'] });
    expectTypeOf(byName).toEqualTypeOf<unknown>();
    expect(byName).toBe('hello bob');
    expectTypeOf(
      wf.execute<string>('hello', { workflowId: 'h3', args: ['cy'] }),
    ).resolves.toEqualTypeOf<string>();

    const handle = await startHost(wf);
    expectTypeOf(handle.result()).resolves.toEqualTypeOf<{ name: string; times: number }>();
    await handle.signal(greetedBy, 'alice');
    const said = await handle.query(greeting, 'hi');
    expectTypeOf(said).toEqualTypeOf<string>();
    // (A query answers from what the run has processed: the signal's task may still be to come.)
    await expect.poll(() => handle.query(greeting, 'hi')).toBe('hi eve alice');
    const length = await handle.executeUpdate(rename, { args: ['mallory'] });
    expectTypeOf(length).toEqualTypeOf<number>();
    expect(length).toBe(7);
    expectTypeOf(await handle.query('greeting', 'yo')).toEqualTypeOf<unknown>();
    await handle.signal(finish);
    expect(await handle.result()).toEqual({ name: 'mallory', times: 1 });

    // signalWithStart: `args` as start's, `signalArgs` as the signal definition's.
    const started = await wf.signalWithStart(host, {
      workflowId: 'sws',
      args: ['zoe', 2],
      signal: greetedBy,
      signalArgs: ['carol'],
    });
    expectTypeOf(started.result()).resolves.toEqualTypeOf<{ name: string; times: number }>();
    expectTypeOf(started.signaledRunId).toEqualTypeOf<string>();
    await expect.poll(() => started.query(greeting, 'hi')).toBe('hi zoe carol');
    // A signal that takes nothing needs no `signalArgs`; by name, anything goes and the result is unknown.
    await wf.signalWithStart(host, { workflowId: 'sws', args: ['zoe'], signal: finish });
    const byNames = await wf.signalWithStart('host', {
      workflowId: 'sws',
      signal: 'greetedBy',
      signalArgs: [1, 2],
    });
    expectTypeOf(byNames.result()).resolves.toEqualTypeOf<unknown>();
    expect(byNames.signaledRunId).toBe(started.signaledRunId);
    expect(await started.result()).toEqual({ name: 'zoe', times: 2 });
    await engine.shutdown();
  });

  it('refuses, at compile time, what the workflow or the definition does not take', () => {
    // Never called: it only has to type-check, each marked call failing to.
    const wrong = async (wf: Workflows, handle: Awaited<ReturnType<typeof startHost>>) => {
      // @ts-expect-error hello takes a string
      await wf.execute(hello, { workflowId: 'w1', args: [42] });
      // @ts-expect-error hello's argument is required
      await wf.start(hello, { workflowId: 'w2' });
      // @ts-expect-error one argument, not two
      await wf.start(hello, { workflowId: 'w3', args: ['a', 'b'] });
      // @ts-expect-error greetedBy takes a string
      await handle.signal(greetedBy, 1);
      // @ts-expect-error greetedBy takes one argument
      await handle.signal(greetedBy);
      // @ts-expect-error greeting takes a prefix
      await handle.query(greeting);
      // @ts-expect-error rename takes a string
      await handle.executeUpdate(rename, { args: [3] });
      // @ts-expect-error rename's arguments are required
      await handle.executeUpdate(rename);
      // @ts-expect-error hello takes a string
      await wf.signalWithStart(hello, { workflowId: 'w4', args: [42], signal: finish });
      // @ts-expect-error hello's argument is required
      await wf.signalWithStart(hello, { workflowId: 'w5', signal: finish });
      // @ts-expect-error greetedBy takes a string
      await wf.signalWithStart(host, { workflowId: 'w6', args: ['a'], signal: greetedBy, signalArgs: [1] });
      // @ts-expect-error greetedBy's arguments are required
      await wf.signalWithStart(host, { workflowId: 'w7', args: ['a'], signal: greetedBy });
      // @ts-expect-error greetedBy takes one argument, not two
      await wf.signalWithStart(host, {
        workflowId: 'w8',
        args: ['a'],
        signal: greetedBy,
        signalArgs: ['a', 'b'],
      });
      // @ts-expect-error a definition is checked with a workflow type name too
      await wf.signalWithStart('host', { workflowId: 'w9', signal: greetedBy, signalArgs: [1] });
      // @ts-expect-error the signal is required
      await wf.signalWithStart(host, { workflowId: 'w10', args: ['a'] });
    };
    expectTypeOf(wrong).toBeFunction();
  });
});
