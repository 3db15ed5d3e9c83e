/**
 * The web page of `resnext serve` in a real browser (headless Chromium): a model trained here is
 * served, the page classifies images on the server, in WebAssembly and in WebGPU (SwiftShader where
 * there is no GPU), and shows what `resnext predict` prints for the same files.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { writeTexturedPng } from '../helpers/image-folder.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, collectErrors, launchChromium } from '../../bench/browser.js';

const bin = join(import.meta.dirname, '..', '..', 'bin', 'resnext.js');
const CLASSES = ['<b>&bird', 'cat', 'dog', 'fish']; // sorted, as the class folders are
const COLOURS: [number, number, number][] = [
  [200, 40, 40],
  [40, 190, 60],
  [50, 60, 200],
  [190, 180, 40],
];

/** A PNG of `w` x `h` with a per-class colour and a texture; no side over 32 (the model's input). */
function writePng(path: string, w: number, h: number, base: [number, number, number], seed: number) {
  return writeTexturedPng(path, w, h, base, (x, y, c) => (x * 5 + y * seed + c * 11) % 50);
}

interface Shown {
  file: string;
  state: string;
  ran: string;
  error: string | null;
  top: { label: string; probability: number }[];
}

const required = process.env.RESNEXT_REQUIRE_BROWSER === '1';
const found = chromiumPath() !== undefined;
if (!found && !required)
  console.warn(
    'web page tests skipped: no Chromium (npm run setup, as root, installs chromium-headless-shell)',
  );

describe.skipIf(!found && !required)('the web page of resnext serve, in headless Chromium', () => {
  const work = mkdtempSync(join(tmpdir(), 'web-'));
  const data = join(work, 'data');
  const run = join(work, 'run');
  const images = [join(work, 'wide.png'), join(work, 'small.png')];
  const garbage = join(work, 'notes.png');
  let expected: { file: string; top: { label: string; probability: number }[] }[] = [];
  let server: ChildProcess;
  let base = '';
  let browser: Browser;

  beforeAll(async () => {
    for (const [k, name] of CLASSES.entries()) {
      mkdirSync(join(data, name), { recursive: true });
      for (let i = 0; i < 5; i++) await writePng(join(data, name, `img${i}.png`), 28 + i, 24, COLOURS[k]!, i);
    }
    const trained = spawnSync(
      process.execPath,
      [bin, 'train', '--data', data, '--arch', 'resnext_tiny', '--image-size', '32', '--epochs', '2'].concat([
        '--batch-size',
        '4',
        '--workers',
        '0',
        '--out',
        run,
        '--no-progress',
      ]),
      { encoding: 'utf-8' },
    );
    expect(trained.status, trained.stderr).toBe(0);
    await writePng(images[0]!, 40, 26, [180, 60, 50], 3);
    await writePng(images[1]!, 17, 21, [60, 70, 190], 2);
    writeFileSync(garbage, 'these are notes, not an image\n');
    const predicted = spawnSync(
      process.execPath,
      [bin, 'predict', '--weights', join(run, 'best.safetensors'), '--json', ...images],
      { encoding: 'utf-8' },
    );
    expect(predicted.status, predicted.stderr).toBe(0);
    expected = JSON.parse(predicted.stdout) as typeof expected;

    server = spawn(process.execPath, [
      bin,
      'serve',
      '--weights',
      join(run, 'best.safetensors'),
      '--port',
      '0',
    ]);
    base = await new Promise<string>((resolve, reject) => {
      let out = '';
      server.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      server.on('exit', () => reject(new Error(`serve exited: ${out}`)));
    });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    server?.kill('SIGTERM');
  });

  /** The page in `mode`, with its console errors and the addresses of everything it fetched. */
  async function open(
    mode: string,
  ): Promise<{ page: Page; errors: { text: string; url: string }[]; requests: string[] }> {
    const page = await browser.newPage();
    const errors = collectErrors(page);
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(`${base}/?mode=${mode}`);
    await page.waitForSelector('body[data-ready=true]');
    return { page, errors, requests };
  }

  /** Results as the page shows them, once `count` are finished. */
  async function shown(page: Page, count: number): Promise<Shown[]> {
    await page.waitForFunction(
      (n) =>
        document.querySelectorAll('li.result[data-state=done], li.result[data-state=error]').length === n,
      count,
      { timeout: 120_000 },
    );
    return page.$$eval('li.result', (items) =>
      items.map((item) => ({
        file: (item as HTMLElement).dataset.file!,
        state: (item as HTMLElement).dataset.state!,
        ran: item.querySelector('.ran')?.textContent ?? '',
        error: item.querySelector('.error')?.textContent ?? null,
        top: [...item.querySelectorAll<HTMLElement>('[data-probability]')].map((li) => ({
          label: li.dataset.label!,
          probability: Number(li.dataset.probability),
        })),
      })),
    );
  }

  const ranOn: Record<string, string> = {
    server: 'server: native engine',
    wasm: `browser: onnxruntime-web wasm, ${Math.min(8, availableParallelism())} threads`,
    webgpu: 'browser: onnxruntime-web webgpu',
  };

  it.each(['server', 'wasm', 'webgpu'])(
    'in %s mode shows the top classes of resnext predict, and an error for a file that is no image',
    async (mode) => {
      const { page, errors, requests } = await open(mode);
      expect(await page.isChecked(`input[name=mode][value=${mode}]`)).toBe(true);
      expect(await page.textContent('#engine-line')).toBe(`inference: ${ranOn[mode]}`);
      expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
      await page.setInputFiles('#files', [...images, garbage]);
      const results = await shown(page, 3);
      expect(results.map((r) => r.file)).toEqual(['wide.png', 'small.png', 'notes.png']);
      for (const [i, want] of expected.entries()) {
        const got = results[i]!;
        expect(got.state).toBe('done');
        expect(got.ran).toMatch(new RegExp(`^${ranOn[mode]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} · `));
        expect(got.top.map((t) => t.label)).toEqual(want.top.map((t) => t.label));
        got.top.forEach((t, k) =>
          expect(Math.abs(t.probability - want.top[k]!.probability)).toBeLessThan(1e-3),
        );
      }
      expect(results[2]!.state).toBe('error');
      expect(results[2]!.error).toMatch(/^notes\.png: cannot decode image \(.+\)$/);
      // The browser itself logs the server's 400 for the file that is no image; the page logs nothing.
      const expectedErrors =
        mode === 'server'
          ? [{ text: expect.stringContaining('status of 400'), url: `${base}/v1/predict?top_k=5` }]
          : [];
      expect(errors).toEqual(expectedErrors);
      // Offline: everything comes from the server (or from the page's own blobs).
      expect(requests.filter((url) => !url.startsWith(`${base}/`) && !url.startsWith('blob:'))).toEqual([]);
      if (mode !== 'server') expect(requests).toContain(`${base}/v1/model.onnx`);
      await page.close();
    },
  );

  it('accepts dropped files and shows class names as text', async () => {
    const { page, errors } = await open('wasm');
    const bytes = [...readFileSync(images[1]!)];
    await page.evaluate((data) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([new Uint8Array(data)], 'dropped.png', { type: 'image/png' }));
      document
        .getElementById('drop')!
        .dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true }));
    }, bytes);
    const [result] = await shown(page, 1);
    expect(result!.file).toBe('dropped.png');
    expect(result!.top.map((t) => t.label)).toEqual(expected[1]!.top.map((t) => t.label));
    expect(await page.locator('li.result .label', { hasText: '<b>&bird' }).count()).toBe(1);
    expect(await page.locator('li.result b').count()).toBe(0);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('shows the model card with the training history', async () => {
    const { page, errors } = await open('server');
    await page.waitForSelector('#card:not([hidden])');
    const facts = await page.$$eval('#card-facts dt, #card-facts dd', (els) => els.map((e) => e.textContent));
    const card = Object.fromEntries(facts.flatMap((v, i, a) => (i % 2 ? [] : [[v, a[i + 1]]])));
    const history = JSON.parse(readFileSync(join(run, 'history.json'), 'utf-8')) as { valAcc: number }[];
    expect(card).toMatchObject({
      Architecture: 'resnext_tiny',
      Parameters: '170,708',
      'Classes (4)': CLASSES.join(', '),
      'Training data': data,
    });
    expect(card['Best val top-1']).toMatch(/^\d+\.\d\d% \(epoch [12]\)$/);
    expect(await page.locator('#card-history tbody tr').count()).toBe(history.length);
    expect(await page.textContent('#model-line')).toBe(
      'resnext_tiny, 170,708 parameters, 4 classes, input 3x32x32',
    );
    expect(errors).toEqual([]);
    await page.close();
  });

  it('opens the training report without console errors', async () => {
    const page = await browser.newPage();
    const errors = collectErrors(page);
    await page.goto(pathToFileURL(join(run, 'report.html')).href);
    await page.waitForLoadState('load');
    expect(await page.locator('img, svg').count()).toBeGreaterThan(0);
    const broken = await page.$$eval(
      'img',
      (imgs) => imgs.filter((i) => !i.complete || i.naturalWidth === 0).length,
    );
    expect(broken).toBe(0);
    expect(errors).toEqual([]);
    await page.close();
  });
});
