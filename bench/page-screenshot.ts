/**
 * The README's picture of the page: serves a trained model, opens the page in headless Chromium,
 * classifies images in the chosen mode and saves a screenshot.
 *   npm run docs:screenshot -- --weights runs/x/best.safetensors --out docs/images/page.png a.png b.png
 *   --fashion-mnist 4    adds the first test image of each of 4 Fashion-MNIST classes (as 28x28 PNGs)
 *   --mode wasm|server|webgpu (default wasm), --width 1100
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { DEFAULT_FASHION_MNIST_DIR, loadIdxDataset } from '../src/data/datasets.js';
import { launchChromium } from './browser.js';
import { startServer } from './serve-process.js';

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    weights: { type: 'string' },
    out: { type: 'string', default: 'docs/images/page.png' },
    mode: { type: 'string', default: 'wasm' },
    width: { type: 'string', default: '1100' },
    'fashion-mnist': { type: 'string', default: '0' },
  },
});
if (!args.weights) throw new Error('--weights is required (a file written by resnext train)');

const images = [...positionals];
const samples = Number(args['fashion-mnist']);
if (samples > 0) {
  const dir = mkdtempSync(join(tmpdir(), 'page-shot-'));
  const test = loadIdxDataset('fashion-mnist', DEFAULT_FASHION_MNIST_DIR, 'test');
  const seen = new Set<number>();
  for (let i = 0; i < test.length && seen.size < samples; i++) {
    const label = test.labelOf(i);
    if (seen.has(label)) continue;
    seen.add(label);
    const { width, height } = test;
    const gray = new Uint8Array(test.pixels, i * width * height, width * height);
    const file = join(dir, `${test.classes[label]!.toLowerCase().replace(/\W+/g, '-')}.png`);
    await sharp(Buffer.from(gray), { raw: { width, height, channels: 1 } })
      .png()
      .toFile(file);
    images.push(file);
  }
}
if (images.length === 0) throw new Error('no images: name some, or pass --fashion-mnist N');

const { process: server, url: base } = await startServer(args.weights);
const browser = await launchChromium();
try {
  const page = await browser.newPage({ viewport: { width: Number(args.width), height: 800 } });
  await page.goto(`${base}/?mode=${args.mode}`);
  await page.waitForSelector('body[data-ready=true]');
  await page.setInputFiles('#files', images);
  await page.waitForFunction(
    `document.querySelectorAll('li.result[data-state=done], li.result[data-state=error]').length === ${images.length}`,
    null,
    { timeout: 300_000 },
  );
  await page.waitForSelector('#card:not([hidden])');
  mkdirSync(dirname(args.out), { recursive: true });
  await page.screenshot({ path: args.out, fullPage: true });
  console.log(`${args.out}: ${images.length} images classified (${args.mode})`);
} finally {
  await browser.close();
  server.kill('SIGTERM');
}
