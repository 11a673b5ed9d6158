// The dashboard page for browser tests: built by Vite into dist/ui when missing or older than its
// sources (`pnpm build` does the same in CI before the tests run), and Debian's Chromium.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { APP_DIR } from './processes.js';

export const UI_SOURCE_DIR = join(APP_DIR, 'ui');
export const UI_BUILD_DIR = join(APP_DIR, 'dist', 'ui');
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

function newestMtimeMs(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(
    stat.mtimeMs,
    ...readdirSync(path).map((name) => newestMtimeMs(join(path, name))),
  );
}

/** Builds the page unless dist/ui is newer than every file of ui/. */
export function ensureUiBuilt(): void {
  const index = join(UI_BUILD_DIR, 'index.html');
  if (existsSync(index) && statSync(index).mtimeMs >= newestMtimeMs(UI_SOURCE_DIR)) return;
  execFileSync(
    process.execPath,
    [join(APP_DIR, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '-c', 'ui/vite.config.ts'],
    { cwd: APP_DIR, stdio: 'pipe', timeout: 120_000 },
  );
}

/** Fails with what to do when Chromium is missing: a browser test never skips silently. */
export function requireChromium(): string {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium is not installed at ${CHROMIUM_PATH}: the dashboard's browser test needs it. ` +
        'Install it with `apt-get install -y chromium` (as root; .ci/run does this), ' +
        'or point CHROMIUM_PATH at a Chromium binary.',
    );
  }
  return CHROMIUM_PATH;
}
