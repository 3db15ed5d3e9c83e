/**
 * Headless Chromium for the browser tests, the page benchmark and the README's screenshot: Debian's
 * chromium-headless-shell (installed by scripts/setup.sh) driven by playwright-core, which downloads
 * no browser of its own. WebGPU is switched on; SwiftShader gives it an adapter on machines without
 * a GPU. The flags keep Chromium from reaching out to the network at start.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type ConsoleMessage, type Page } from 'playwright-core';

const CANDIDATES = ['/usr/bin/chromium-headless-shell', '/usr/bin/chromium'];

/** The browser binary: $RESNEXT_CHROMIUM, else Debian's headless shell, else Debian's Chromium. */
export function chromiumPath(): string | undefined {
  const chosen = process.env.RESNEXT_CHROMIUM;
  if (chosen) return chosen;
  return CANDIDATES.find((path) => existsSync(path));
}

export async function launchChromium(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!executablePath)
    throw new Error(
      `no Chromium found (${CANDIDATES.join(', ')}; or set RESNEXT_CHROMIUM): run "npm run setup" as root`,
    );
  return chromium.launch({
    executablePath,
    args: [
      '--no-sandbox',
      '--enable-unsafe-webgpu',
      '--enable-unsafe-swiftshader',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** The page's console errors and uncaught exceptions, as they happen. */
export function collectErrors(page: Page): { text: string; url: string }[] {
  const errors: { text: string; url: string }[] = [];
  page.on('console', (m: ConsoleMessage) => {
    if (m.type() === 'error') errors.push({ text: m.text(), url: m.location().url });
  });
  page.on('pageerror', (e) => errors.push({ text: `uncaught: ${e.message}`, url: page.url() }));
  return errors;
}
