// The browser every test and benchmark runs: Debian's Chromium where present (no download
// needed; CHROMIUM_PATH picks another), else Playwright's own (`npx playwright install chromium`),
// with the flags a closed network needs.
import fs from 'node:fs';

/** Playwright `launchOptions` for weft's tests and benchmarks. */
export function chromiumLaunchOptions() {
  const executablePath =
    process.env.CHROMIUM_PATH ?? (fs.existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined);
  return {
    ...(executablePath !== undefined && { executablePath }),
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  };
}
