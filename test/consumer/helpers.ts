import { execFile } from 'node:child_process';
import { cpSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A new folder in the consumer project holding a copy of `fixtures/<fixture>`, minus `leaveOut`. */
export function workspace(name: string, fixture: string, leaveOut: string[] = []): string {
  const dir = path.join(inject('consumerProject'), name);
  mkdirSync(dir);
  cpSync(path.join(repoRoot, 'test/consumer/fixtures', fixture), dir, {
    recursive: true,
    filter: (source) => !leaveOut.includes(path.basename(source)),
  });
  return dir;
}

export interface Outcome {
  code: number;
  output: string;
}

/** Runs a program to its end: its exit code and its stdout and stderr together. */
export function run(
  file: string,
  args: string[],
  cwd: string,
  extraEnv: Record<string, string> = {},
): Promise<Outcome> {
  // Not vitest's own environment (NODE_ENV=test, VITEST...): the program runs as a user's would.
  const env = {
    ...Object.fromEntries(
      Object.entries(process.env).filter(([key]) => key !== 'NODE_ENV' && !key.startsWith('VITEST')),
    ),
    ...extraEnv,
  };
  return new Promise((resolve) => {
    execFile(file, args, { cwd, env, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

/** The repository's own tools, run with this Node. */
export const tsc = (cwd: string, ...args: string[]) =>
  run(process.execPath, [path.join(repoRoot, 'node_modules/typescript/bin/tsc'), ...args], cwd);
export const vite = (cwd: string, ...args: string[]) =>
  run(process.execPath, [path.join(repoRoot, 'node_modules/vite/bin/vite.js'), ...args], cwd);
