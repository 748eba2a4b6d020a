// A fresh project outside the repository with weft installed from its packed tarball, as a user
// would install it: what the consumer tests (test/consumer/) and the tarball run of the unit
// tests (scripts/test-tarball.mjs) load instead of src/.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The version of a dev dependency the repository has installed, to install the same from npm's cache. */
export function installedVersion(name) {
  return JSON.parse(readFileSync(path.join(repoRoot, 'node_modules', name, 'package.json'), 'utf8')).version;
}

/**
 * Packs the repository (`npm pack` runs `prepare`, which builds dist/) and installs the tarball,
 * and `also` (package specs such as `fake-indexeddb@6.2.8`), into a new project in the system's
 * temporary directory. Dependencies come from npm's cache where it has them (`--prefer-offline`);
 * none runs an install script.
 * @example
 * const project = createConsumerProject({ also: [`fake-indexeddb@${installedVersion('fake-indexeddb')}`] });
 * try { ... project.packageDir ... } finally { project.remove(); }
 */
export function createConsumerProject({ also = [] } = {}) {
  const root = mkdtempSync(path.join(os.tmpdir(), 'weft-consumer-'));
  try {
    const packDir = path.join(root, 'pack');
    const dir = path.join(root, 'project');
    mkdirSync(packDir);
    mkdirSync(dir);
    // Scripts' output to stderr: stdout stays the tarball's name, whatever prepare prints.
    execFileSync('npm', ['pack', '--pack-destination', packDir, '--loglevel=error'], {
      cwd: repoRoot,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const [tarballName, ...others] = readdirSync(packDir);
    if (tarballName === undefined || others.length > 0)
      throw new Error(`npm pack made ${readdirSync(packDir)}`);
    const tarball = path.join(packDir, tarballName);
    writeFileSync(
      path.join(dir, 'package.json'),
      `${JSON.stringify({ name: 'weft-consumer', private: true, type: 'module' }, null, 2)}\n`,
    );
    execFileSync(
      'npm',
      [
        'install',
        '--prefer-offline',
        '--ignore-scripts',
        '--no-audit',
        '--no-fund',
        '--loglevel=error',
        tarball,
        ...also,
      ],
      { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] },
    );
    return {
      /** The project: its package.json, its node_modules. */
      dir,
      tarball,
      /** The installed package, `<dir>/node_modules/weft`. */
      packageDir: path.join(dir, 'node_modules', 'weft'),
      remove: () => rmSync(root, { recursive: true, force: true }),
    };
  } catch (error) {
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
}
