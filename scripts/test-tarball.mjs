// `npm run test:tarball` (in .ci/run, not in `npm test`: it packs, installs and runs the whole
// unit suite again): the unit tests against weft installed from its packed tarball in a fresh
// project, through vitest.tarball.config.ts. Arguments go to vitest (a file, `-t name`).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { createConsumerProject, repoRoot } from './consumer-project.mjs';

const project = createConsumerProject();
let status = 1;
try {
  console.log(`weft from ${path.basename(project.tarball)}, installed in ${project.dir}`);
  const vitest = path.join(repoRoot, 'node_modules/vitest/vitest.mjs');
  const run = spawnSync(
    process.execPath,
    [vitest, 'run', '--config', 'vitest.tarball.config.ts', ...process.argv.slice(2)],
    { cwd: repoRoot, stdio: 'inherit', env: { ...process.env, WEFT_PACKAGE_DIR: project.packageDir } },
  );
  status = run.status ?? 1;
} finally {
  project.remove();
}
process.exit(status);
