/**
 * Payload sizes as Temporal counts them (issue 16): the 2 MiB limit applies to a payload
 * encoded as its default data converter encodes it, UTF-8 JSON, so 1 MiB of ASCII text is
 * 1 MiB and a little, not twice that; above 256 KiB a payload is taken with a warning, as
 * Temporal's server warns. Counted without building the JSON, stopping past the limit.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createEngine, type Engine } from '../../src/index.ts';
import {
  DEFAULT_PAYLOAD_LIMIT,
  PAYLOAD_WARN_SIZE,
  payloadSize,
  stringBytes,
} from '../../src/worker/payload.ts';
import { proxyActivities } from '../../src/workflow/index.ts';

const utf8Json = (value: unknown): number => new TextEncoder().encode(JSON.stringify(value)).length;
const sizeOf = (value: unknown, limit = Number.POSITIVE_INFINITY) =>
  payloadSize(value, limit, { exotic: false });

/** Strings at the edges of JSON's escapes and of UTF-8's widths. */
const strings = [
  '',
  'plain',
  'é', // 2 bytes
  '€', // 3 bytes
  '\u07ff', // the last of 2 bytes
  '\u0800', // the first of 3
  '\uffff',
  '😀', // a surrogate pair: 4 bytes
  'a😀b😀',
  '\ud800', // lone surrogates: escaped, 6 bytes each
  '\udc00',
  'x\ud800',
  '\ud800x',
  '\udc00\ud800', // low then high: two lone ones
  '\ud83d\ud83d\ude00', // a lone high, then a pair
  '"',
  '\\',
  '\n\r\t\b\f', // short escapes
  '\u0000\u0001\u001f', // \u00XX escapes
  '\u007f', // DEL is not escaped
  '\u2028\u2029', // nor are these
  '/',
  '</script>',
  `${'x'.repeat(100)}"`, // long strings, escapes, multi-byte, at each end
  `é${'x'.repeat(100)}`,
  `${'x'.repeat(100)}\ud800`,
  'x'.repeat(1000),
  '😀'.repeat(100),
];

describe('payloadSize', () => {
  it.each(strings.map((s) => [JSON.stringify(s).slice(0, 40), s]))(
    'counts the string %s as its UTF-8 JSON bytes',
    (_, s) => {
      expect(stringBytes(s)).toBe(utf8Json(s));
      expect(sizeOf(s)).toBe(utf8Json(s));
      expect(sizeOf({ [s]: s })).toBe(utf8Json({ [s]: s }));
    },
  );

  it('counts JSON data exactly as JSON.stringify would encode it', () => {
    const values: unknown[] = [
      null,
      true,
      false,
      0,
      -0,
      7,
      -7,
      10,
      99,
      100,
      123_456_789,
      -(2 ** 53),
      2 ** 53,
      1e21,
      123e300,
      0.1,
      -1.5,
      1e-7,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      [],
      {},
      [[]],
      [{}],
      { a: {} },
      [1, 'two', null, true, { three: [3] }],
      [undefined, 1, undefined],
      // Holes are null, as undefined.
      new Array(3),
      { a: undefined, b: 1, c: undefined },
      { a: undefined },
      { nested: { deeper: { deepest: ['é', '😀', '"\\'] } }, n: -12.5 },
      new Date(0),
      { when: new Date(Date.UTC(2026, 11, 6, 1, 2, 3, 4)) },
      new Date(Number.NaN),
      Array.from({ length: 100 }, (_, i) => ({ i, name: `item ${i}`, done: i % 3 === 0 })),
    ];
    for (const value of values) expect(sizeOf(value), JSON.stringify(value)).toBe(utf8Json(value));
  });

  it('agrees with JSON.stringify on a thousand random values', () => {
    // A seeded generator, so a failure names a value that can be made again.
    let seed = 16;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const chars = ['a', ' ', '"', '\\', '\n', '\u0001', 'é', '€', '😀', '\ud800', '\udc00', '\u2028'];
    const string = () => Array.from({ length: Math.floor(random() * 80) }, () => pick(chars)).join('');
    const value = (depth: number): unknown => {
      const kind = Math.floor(random() * (depth > 3 ? 5 : 8));
      if (kind === 0) return string();
      if (kind === 1) return Math.floor(random() * 2e6) - 1e6;
      if (kind === 2) return (random() - 0.5) * 10 ** Math.floor(random() * 40 - 20);
      if (kind === 3) return pick([true, false, null, undefined]);
      if (kind === 4) return new Date(Math.floor(random() * 4e12));
      if (kind === 5) return Array.from({ length: Math.floor(random() * 6) }, () => value(depth + 1));
      return Object.fromEntries(
        Array.from({ length: Math.floor(random() * 6) }, () => [string(), value(depth + 1)]),
      );
    };
    for (let i = 0; i < 1000; i++) {
      const v = [value(0)];
      expect(sizeOf(v), `value ${i}: ${JSON.stringify(v)}`).toBe(utf8Json(v));
    }
  });

  it('counts binary data at its length, Maps and Sets as arrays, a shared object once', () => {
    expect(sizeOf(new Uint8Array(1000))).toBe(1000);
    expect(sizeOf(new ArrayBuffer(12))).toBe(12);
    expect(sizeOf(new Float64Array(4))).toBe(32);
    expect(sizeOf(new DataView(new ArrayBuffer(5)))).toBe(5);
    expect(sizeOf(new Blob(['héllo']))).toBe(6);
    expect(sizeOf([new Uint8Array(10)])).toBe(2 + 10);
    const map = new Map<unknown, unknown>([
      ['a', 1],
      [2, { b: 'é' }],
      ['u', undefined],
    ]);
    expect(sizeOf(map)).toBe(utf8Json([...map]));
    expect(sizeOf(new Set(['x', 1, null]))).toBe(utf8Json(['x', 1, null]));
    expect(sizeOf(new Map())).toBe(2);
    expect(sizeOf(12n)).toBe(2);
    const shared = { big: 'x'.repeat(100) };
    expect(sizeOf([shared, shared])).toBe(utf8Json([shared]) + 1);
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    expect(sizeOf(cyclic)).toBe(utf8Json({ name: 'loop', self: null }) - 4);
    // Nothing at all (Temporal's binary/null payload has no data).
    expect(sizeOf(undefined)).toBe(0);
  });

  it('stops counting past the limit, and never reads further', () => {
    const megabyte = 'x'.repeat(1 << 20);
    let reads = 0;
    const items = Array.from({ length: 100 }, () => ({
      get big() {
        reads++;
        return megabyte;
      },
    }));
    expect(sizeOf(items, DEFAULT_PAYLOAD_LIMIT)).toBeGreaterThan(DEFAULT_PAYLOAD_LIMIT);
    // Two megabytes and a little are past the limit: 98 items are never looked into.
    expect(reads).toBe(2);
    // A string longer than what is left counts at its length, unread.
    expect(sizeOf(['x'.repeat(10 << 20)], DEFAULT_PAYLOAD_LIMIT)).toBe((10 << 20) + 4);
  });

  it('refuses what cannot be stored', () => {
    expect(() => sizeOf([() => 1])).toThrow(/function cannot be stored/);
    expect(() => sizeOf({ s: Symbol('s') })).toThrow(/symbol cannot be stored/);
    expect(() => sizeOf([Promise.resolve()])).toThrow(/Promise cannot be stored/);
  });
});

describe('the payload limit, through the engine', () => {
  let engine: Engine | undefined;
  afterEach(async () => {
    await engine?.shutdown();
    engine = undefined;
    vi.restoreAllMocks();
  });

  const workflows = {
    async echo(x: unknown): Promise<unknown> {
      return x;
    },
    async fetches(n: number): Promise<string> {
      const { blob } = proxyActivities<{ blob(n: number): Promise<string> }>({ startToCloseTimeout: '10s' });
      return (await blob(n)).slice(0, 3);
    },
  };
  const activities = { blob: async (n: number) => 'a'.repeat(n) };
  const LIMIT = DEFAULT_PAYLOAD_LIMIT;
  // `["…"]`: the arguments' brackets and the string's quotes.
  const ARGS = 4;

  async function start(args: unknown[], workflowId: string) {
    engine ??= await createEngine({ workflows, activities });
    return engine.client.workflow.start('echo', { workflowId, args });
  }
  const tooLarge = (counted: number) => ({
    name: 'InvalidArgumentError',
    message: expect.stringContaining(`over ${LIMIT} bytes (${counted} counted)`),
  });

  it('takes 1 MiB of ASCII text (it was refused, counted as 2,097,154 bytes)', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const handle = await start(['x'.repeat(1 << 20)], 'one-mib');
    expect(((await handle.result()) as string).length).toBe(1 << 20);
  });

  it.each([
    ['ASCII', 'x', 1],
    ['two-byte characters', 'é', 2],
    ['three-byte characters', '€', 3],
    ['surrogate pairs', '😀', 4],
    ['escaped quotes', '"', 2],
  ])('takes exactly the limit of %s, and refuses a byte more', async (_, char, bytes) => {
    vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const room = LIMIT - ARGS;
    const fill = 'x'.repeat(room % bytes) + char.repeat(Math.floor(room / bytes));
    expect(utf8Json([fill])).toBe(LIMIT);
    await expect(start([fill], `exact-${bytes}-${char.charCodeAt(0)}`)).resolves.toBeDefined();
    await expect(start([`${fill}x`], `over-${bytes}-${char.charCodeAt(0)}`)).rejects.toMatchObject(
      tooLarge(LIMIT + 1),
    );
    // Nothing was written for the refused one.
    expect(
      await engine!.client.workflow.count({ workflowId: `over-${bytes}-${char.charCodeAt(0)}` }),
    ).toEqual({
      count: 0,
    });
  });

  it('warns once of a payload over 256 KiB, naming it and its size; not of one at 256 KiB', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    engine = await createEngine({ workflows, activities });
    const wf = engine.client.workflow;
    const warned = () => warn.mock.calls.map(([message]) => String(message).replace(/, over.*/, ''));
    // An activity's result of exactly 256 KiB (a string and its quotes), then one byte more.
    expect(await wf.execute('fetches', { workflowId: 'at', args: [PAYLOAD_WARN_SIZE - 2] })).toBe('aaa');
    expect(warned()).toEqual([]);
    expect(await wf.execute('fetches', { workflowId: 'over', args: [PAYLOAD_WARN_SIZE - 1] })).toBe('aaa');
    expect(warned()).toEqual([`weft: Activity blob result is ${PAYLOAD_WARN_SIZE + 1} bytes`]);
    expect(warn.mock.calls[0]?.[0]).toContain(`over the ${PAYLOAD_WARN_SIZE} bytes at which Temporal warns`);

    // A client's arguments, and the workflow's result that echoes them.
    warn.mockClear();
    const echoed = 'x'.repeat(PAYLOAD_WARN_SIZE - ARGS + 1);
    await (await wf.start('echo', { workflowId: 'echo', args: [echoed] })).result();
    expect(warned()).toEqual([
      `weft: Workflow arguments is ${PAYLOAD_WARN_SIZE + 1} bytes`,
      `weft: CompleteWorkflowExecution payload is ${utf8Json({ type: 'CompleteWorkflowExecution', result: echoed })} bytes`,
    ]);
  });
});
