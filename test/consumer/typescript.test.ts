/**
 * A TypeScript app type-checks against weft's declarations from the tarball, with
 * `skipLibCheck: false` and `strict`, under Node's resolution (`nodenext`) and a bundler's.
 * The fixtures import every subpath and make typed calls; their `@ts-expect-error` lines make
 * the check fail if a wrong call ever type-checks.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tsc, workspace } from './helpers.ts';

const withoutComments = (code: string) => code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');

let dir: string;
beforeAll(() => {
  dir = workspace('typescript', 'typescript');
});

describe('weft in TypeScript, from the tarball', () => {
  it('ships declarations whose imports name .js files, as the JavaScript beside them', () => {
    const dist = path.join(dir, '../node_modules/weft/dist');
    const declarations = readdirSync(dist, { recursive: true, encoding: 'utf8' }).filter((f) =>
      f.endsWith('.d.ts'),
    );
    expect(declarations).toContain('index.d.ts');
    const tsImports = declarations.flatMap((file) =>
      // Comments aside: JSDoc examples show an app's own imports.
      [
        ...withoutComments(readFileSync(path.join(dist, file), 'utf8')).matchAll(
          /\b(?:from|import)\s*\(?\s*['"](\.[^'"]*)['"]/g,
        ),
      ]
        .map((match) => match[1]!)
        .filter((specifier) => !specifier.endsWith('.js'))
        .map((specifier) => `${file}: ${specifier}`),
    );
    expect(tsImports).toEqual([]);
  });

  it(`type-checks under module and moduleResolution nodenext`, async () => {
    expect(await tsc(dir, '-p', 'tsconfig.nodenext.json')).toEqual({ code: 0, output: '' });
  });

  it(`type-checks under module esnext and moduleResolution bundler`, async () => {
    expect(await tsc(dir, '-p', 'tsconfig.bundler.json')).toEqual({ code: 0, output: '' });
  });

  it('type-checks a Node program with Node’s types and no DOM library (weft, weft/testing, weft/temporal)', async () => {
    const node = workspace('typescript-node', 'typescript-node');
    expect(await tsc(node, '-p', 'tsconfig.json')).toEqual({ code: 0, output: '' });
  });
});
