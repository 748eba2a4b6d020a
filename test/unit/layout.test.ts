/**
 * The house rules of `src/` (docs/architecture.md), checked over its files and import graph:
 * the page's client never reaches the worker's rooms, the wire protocol needs no engine at run
 * time, the engine core imports nothing outside itself, and no file outgrows one sitting.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const src = path.join(root, 'src');
const MAX_LINES = 600;

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return filesUnder(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

interface Import {
  /** The imported file, or the package name for a bare specifier. */
  target: string;
  /** `import type` / `export type`: gone from the built code. */
  typeOnly: boolean;
}

/** The static imports and re-exports of a file (dynamic `import()` is not used in `src/`). */
function importsOf(file: string): Import[] {
  const code = readFileSync(file, 'utf8');
  const out: Import[] = [];
  const pattern = /^(import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/gm;
  for (const match of code.matchAll(pattern)) {
    const [, , type, specifier] = match as unknown as [string, string, string | undefined, string];
    const target = specifier.startsWith('.') ? path.resolve(path.dirname(file), specifier) : specifier;
    out.push({ target, typeOnly: type !== undefined });
  }
  return out;
}

/** Every file `entry` reaches through its imports (type-only ones too, with `types`). */
function reachable(entry: string, types: boolean): Set<string> {
  const seen = new Set<string>([entry]);
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop()!;
    for (const { target, typeOnly } of importsOf(file)) {
      if ((typeOnly && !types) || !target.startsWith(src) || seen.has(target)) continue;
      seen.add(target);
      queue.push(target);
    }
  }
  return seen;
}

const relative = (file: string) => path.relative(root, file);
const inFolder = (file: string, folder: string) => file.startsWith(path.join(src, folder) + path.sep);

describe('the layout of src/', () => {
  const files = filesUnder(src);

  it('reads its imports (the check itself can see an import)', () => {
    const client = importsOf(path.join(src, 'client/connect.ts'));
    expect(client.some((i) => i.target === path.join(src, 'protocol/endpoint.ts') && !i.typeOnly)).toBe(true);
    expect(client.some((i) => i.target === 'comlink')).toBe(true);
  });

  it(`keeps every file under ${MAX_LINES} lines`, () => {
    const long = files
      .map((file) => ({ file: relative(file), lines: readFileSync(file, 'utf8').split('\n').length }))
      .filter(({ lines }) => lines > MAX_LINES);
    expect(long).toEqual([]);
  });

  it('the page’s client reaches nothing under src/worker/, src/store/ or src/temporal/, not even a type', () => {
    const reached = [...reachable(path.join(src, 'client/index.ts'), true)];
    expect(
      reached
        .filter((f) => inFolder(f, 'worker') || inFolder(f, 'store') || inFolder(f, 'temporal'))
        .map(relative),
    ).toEqual([]);
  });

  it('the wire protocol needs nothing at run time but itself', () => {
    const runtime = files
      .filter((f) => inFolder(f, 'protocol'))
      .flatMap((file) =>
        importsOf(file)
          .filter((i) => !i.typeOnly && !inFolder(i.target, 'protocol'))
          .map((i) => `${relative(file)} -> ${i.target.startsWith(src) ? relative(i.target) : i.target}`),
      );
    expect(runtime).toEqual([]);
  });

  it('the engine core imports nothing outside src/engine/', () => {
    const outside = files
      .filter((f) => inFolder(f, 'engine'))
      .flatMap((file) =>
        importsOf(file)
          .filter((i) => !inFolder(i.target, 'engine'))
          .map((i) => `${relative(file)} -> ${i.target.startsWith(src) ? relative(i.target) : i.target}`),
      );
    expect(outside).toEqual([]);
  });
});
