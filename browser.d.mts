/** Playwright `launchOptions` for weft's tests and benchmarks. */
export function chromiumLaunchOptions(): { executablePath?: string; args: string[] };
