/**
 * The WebGPU backend in headless Chromium (SwiftShader where there is no GPU): the browser build
 * of the library runs the parity checks of test/webgpu/parity.ts — every op against the reference
 * kernels, the tiny network against the PyTorch fixtures — and this test asserts their results.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { build, type Plugin } from 'esbuild';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, collectErrors, launchChromium } from '../../bench/browser.js';
// @ts-expect-error: a plain ES module without type declarations
import { browserOptions } from '../../scripts/browser-build.mjs';
import { fixturePath, fixtureSeed, manifest } from '../helpers/fixtures.js';
import type { SuiteReport } from './webgpu-suite.js';

const root = join(import.meta.dirname, '..', '..');
const required = process.env.RESNEXT_REQUIRE_BROWSER === '1';
const browserPath = chromiumPath();
if (!browserPath && required) throw new Error('RESNEXT_REQUIRE_BROWSER=1 but no Chromium is installed');
if (!browserPath)
  process.stderr.write('webgpu browser tests skipped: no Chromium (run npm run setup as root)\n');

/** The test helpers import the package's Node entry; in the browser the browser build stands in. */
const nodeEntryToBrowser: Plugin = {
  name: 'node-entry-to-browser',
  setup(b) {
    b.onResolve({ filter: /src[\\/]index\.js$/ }, () => ({ path: join(root, 'src', 'browser.ts') }));
  },
};

async function bundleSuite(): Promise<string> {
  const result = await build({
    ...(browserOptions as object),
    entryPoints: [join(root, 'test', 'web', 'webgpu-suite.ts')],
    plugins: [nodeEntryToBrowser, ...(browserOptions as { plugins: Plugin[] }).plugins],
    sourcemap: 'inline',
    write: false,
  });
  return result.outputFiles[0]!.text;
}

describe.skipIf(!browserPath)('webgpu backend in a browser', () => {
  let server: Server;
  let browser: Browser;
  let report: SuiteReport;
  const errors: { text: string; url: string }[] = [];

  beforeAll(async () => {
    const suite = await bundleSuite();
    const fixture = readFileSync(fixturePath('tiny.safetensors'));
    server = createServer((req, res) => {
      if (req.url === '/suite.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(suite);
      else if (req.url === '/tiny.safetensors') res.writeHead(200).end(fixture);
      else if (req.url === '/') {
        res
          .writeHead(200, { 'content-type': 'text/html' })
          .end('<!doctype html><title>webgpu suite</title><script type="module" src="/suite.js"></script>');
      } else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    browser = await launchChromium();
    const page = await browser.newPage();
    errors.push(...collectErrors(page));
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForFunction(() => 'runWebGpuSuite' in globalThis);
    const tiny = { ...manifest().cases.tiny, seed: fixtureSeed() };
    // Two optimizer cases here (SGD with momentum, AdamW); Node's run covers all four.
    const optimizers = Object.keys(tiny.optimizers).filter((k) => k === 'sgd' || k === 'adamw');
    report = await page.evaluate(
      ([t, o]) =>
        (
          globalThis as unknown as {
            runWebGpuSuite(t: unknown, url: string, o: string[]): Promise<SuiteReport>;
          }
        ).runWebGpuSuite(t, '/tiny.safetensors', o),
      [tiny, optimizers] as const,
    );
  }, 600_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('runs on a WebGPU adapter', () => {
    expect(report.adapter.length).toBeGreaterThan(0);
    process.stderr.write(`webgpu in Chromium: ${report.adapter}\n`);
  });

  it('passes every op check and the tiny network parity, with no page errors', () => {
    expect(report.results.length).toBeGreaterThan(20);
    for (const r of report.results) {
      expect(r.error, `${r.name} threw`).toBeUndefined();
      expect(r.comparisons.length, `${r.name} compared something`).toBeGreaterThan(0);
      for (const { what, diff, tolerance } of r.comparisons) {
        expect(diff, `${r.name}: ${what}: max |diff| ${diff} vs tolerance ${tolerance}`).toBeLessThanOrEqual(
          tolerance,
        );
      }
    }
    expect(errors).toEqual([]);
  });
});
