/**
 * The browser training page (/train of `resnext serve`) in headless Chromium, on WebGPU
 * (SwiftShader where there is no GPU): a folder of three colour classes is chosen, a few dozen
 * steps run and the loss falls; the page's predictions equal `resnext predict` with the weights it
 * exported, which the CLI loads as any checkpoint.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { writeTexturedPng } from '../helpers/image-folder.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, collectErrors, launchChromium } from '../../bench/browser.js';
import { StaticFiles } from '../../src/serve/static.js';

const bin = join(import.meta.dirname, '..', '..', 'bin', 'resnext.js');
const required = process.env.RESNEXT_REQUIRE_BROWSER === '1';
const browserPath = chromiumPath();
if (!browserPath && required) throw new Error('RESNEXT_REQUIRE_BROWSER=1 but no Chromium is installed');

const CLASSES: Record<string, [number, number, number]> = {
  blue: [40, 50, 210],
  green: [40, 190, 60],
  red: [210, 40, 40],
};

function writePng(path: string, base: [number, number, number], seed: number): Promise<void> {
  return writeTexturedPng(path, 24, 24, base, (x, y, c) => (x * 7 + y * seed + c * 13) % 40);
}

describe.skipIf(!browserPath)('the browser training page', () => {
  let dir: string;
  let server: Server;
  let browser: Browser;
  let page: Page;
  let base = '';
  const errors: { text: string; url: string }[] = [];
  const probes: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'resnext-train-page-'));
    const data = join(dir, 'colours');
    for (const [name, colour] of Object.entries(CLASSES)) {
      mkdirSync(join(data, name), { recursive: true });
      for (let i = 0; i < 8; i++) await writePng(join(data, name, `${i}.png`), colour, i + 1);
      const probe = join(dir, `probe-${name}.png`);
      await writePng(probe, colour, 11);
      probes.push(probe);
    }
    const files = new StaticFiles();
    server = createServer((req, res) => {
      if (!files.serve(new URL(req.url ?? '/', 'http://x').pathname, res)) res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await launchChromium();
    page = await browser.newPage({ acceptDownloads: true });
    errors.push(...collectErrors(page));
    await page.goto(`${base}/train`);
    await page.setInputFiles('#folder', data);
    await page.fill('#steps', '30');
    await page.fill('#batch', '12');
    await page.click('#train');
    await page.waitForSelector('#status[data-state="done"], #status[data-state="error"]', {
      timeout: 300_000,
    });
  }, 400_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('trains on the WebGPU device and the loss falls', async () => {
    expect(await page.getAttribute('#status', 'data-state'), (await page.textContent('#status')) ?? '').toBe(
      'done',
    );
    expect(await page.getAttribute('#status', 'data-device')).toBe('webgpu');
    expect(await page.textContent('#dataset')).toBe('24 images in 3 classes: blue (8), green (8), red (8)');
    const losses = (await page.getAttribute('#curves', 'data-losses'))!.split(',').map(Number);
    expect(losses).toHaveLength(30);
    const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
    expect(mean(losses.slice(-5))).toBeLessThan(0.5 * mean(losses.slice(0, 5)));
  });

  it('predicts as resnext predict does with the weights it exports', async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
    const weights = join(dir, 'model.safetensors');
    await download.saveAs(weights);
    const cli = spawnSync(process.execPath, [bin, 'predict', '--weights', weights, '--json', ...probes], {
      encoding: 'utf-8',
    });
    expect(cli.status, cli.stderr).toBe(0);
    const expected = JSON.parse(cli.stdout) as {
      file: string;
      top: { label: string; probability: number }[];
    }[];
    await page.setInputFiles('#predict', probes);
    await page.waitForFunction(
      (n) => document.querySelectorAll('#predictions li').length === n,
      probes.length,
    );
    const shown = await page.$$eval('#predictions li', (items) =>
      items.map((li) => ({ file: li.getAttribute('data-file'), label: li.getAttribute('data-label') })),
    );
    expect(shown.map((s) => s.label)).toEqual(expected.map((e) => e.top[0]!.label));
    expect(shown.map((s) => s.label)).toEqual(['blue', 'green', 'red']);
    expect(errors).toEqual([]);
  });
});
