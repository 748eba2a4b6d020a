import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/index.ts';
import { batchingEndpoint } from '../../src/protocol/endpoint.ts';
import { condition, defineQuery, setHandler } from '../../src/workflow/index.ts';

describe('batchingEndpoint', () => {
  it('sends what is posted in one turn as one message, and hands it out in order', async () => {
    const { port1, port2 } = new MessageChannel();
    const raw: unknown[] = [];
    port2.addEventListener('message', (event) => raw.push(event.data));
    const receiving = batchingEndpoint(port2);
    const received: unknown[] = [];
    const all = new Promise<void>((resolve) => {
      receiving.addEventListener('message', (event) => {
        received.push((event as MessageEvent).data);
        if (received.length === 4) resolve();
      });
    });
    receiving.start?.();
    const sending = batchingEndpoint(port1);
    sending.postMessage({ n: 1 });
    sending.postMessage({ n: 2 });
    sending.postMessage({ n: 3 });
    await new Promise((resolve) => setTimeout(resolve, 0));
    sending.postMessage({ n: 4 });
    await all;
    expect(received).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
    expect(raw).toHaveLength(2);
    port1.close();
    port2.close();
  });

  it('carries transferred ports inside a batch', async () => {
    const { port1, port2 } = new MessageChannel();
    const receiving = batchingEndpoint(port2);
    const got = new Promise<MessagePort>((resolve) => {
      receiving.addEventListener('message', (event) => {
        const data = (event as MessageEvent).data as { port?: MessagePort };
        if (data.port) resolve(data.port);
      });
    });
    receiving.start?.();
    const inner = new MessageChannel();
    const sending = batchingEndpoint(port1);
    sending.postMessage({ hello: true });
    sending.postMessage({ port: inner.port2 }, [inner.port2]);
    const port = await got;
    const echoed = new Promise((resolve) => port.addEventListener('message', (e) => resolve(e.data)));
    port.start();
    inner.port1.postMessage('through');
    expect(await echoed).toBe('through');
    for (const p of [port1, port2, port, inner.port1]) p.close();
  });
});

describe('a query whose answer cannot travel', () => {
  it('is refused with InvalidArgumentError, not lost', async () => {
    const answer = defineQuery<unknown>('answer');
    const workflows = {
      async holds(): Promise<void> {
        setHandler(answer, () => ({ call: () => 1 }));
        await condition(() => false);
      },
    };
    const engine = await createEngine({ workflows });
    const handle = await engine.client.workflow.start('holds', { workflowId: 'q' });
    await expect(handle.query(answer)).rejects.toMatchObject({ name: 'InvalidArgumentError' });
    await handle.terminate();
    await engine.shutdown();
  });
});
