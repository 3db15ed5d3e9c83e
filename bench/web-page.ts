/**
 * The page's in-browser inference against plain onnxruntime-web, in one headless Chromium: the page
 * (?mode=wasm) classifies a 224x224 JPEG N times (decode, the engine's transforms, the network,
 * softmax, the DOM), and in the same page a bare onnxruntime-web session of the same ONNX file runs
 * N times on a ready tensor, at batch 1 and batch 8. Rounds alternate; medians are reported.
 *   npm run bench:web                                  resnext50_32x4d (seeded weights), 10 images x 3 rounds
 *   npm run bench:web -- --weights runs/x/best.safetensors --images 20 --rounds 2 --json
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { launchChromium } from './browser.js';
import { median } from './stats.js';
import { seededWeights, startServer } from './serve-process.js';

const { values: args } = parseArgs({
  options: {
    weights: { type: 'string' },
    arch: { type: 'string', default: 'resnext50_32x4d' },
    images: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
  },
});
const N = Number(args.images);
const rounds = Number(args.rounds);

const work = mkdtempSync(join(tmpdir(), 'web-bench-'));
const weights = args.weights ?? (await seededWeights(args.arch, work));
const raw = Buffer.alloc(224 * 224 * 3);
for (let i = 0; i < raw.length; i++) raw[i] = (((i * 7) % 256) + Math.floor(Math.random() * 32)) % 256;
const images = Array.from({ length: N }, (_, i) => join(work, `img${i}.jpg`));
const jpeg = await sharp(raw, { raw: { width: 224, height: 224, channels: 3 } })
  .jpeg()
  .toBuffer();
for (const file of images) writeFileSync(file, jpeg);

const { process: server, url: base } = await startServer(weights);

const browser = await launchChromium();
try {
  const page = await browser.newPage();
  await page.goto(`${base}/?mode=wasm`);
  await page.waitForSelector('body[data-ready=true]');
  const engine = (await page.textContent('#engine-line')) ?? '';
  if (!engine.startsWith('inference: browser')) throw new Error(`the page has no browser engine: ${engine}`);

  /** The page classifies `files`; returns img/s over the whole batch and the networks' median ms. */
  async function pageRound(
    files: string[],
  ): Promise<{ imgPerSec: number; networkMs: number; decodeMs: number; totalMs: number }> {
    // The page resolves `finished` itself (a MutationObserver, not polling, which would take the
    // main thread from WebAssembly) with the time from the files' arrival to the last result.
    await page.evaluate((n) => {
      const list = document.getElementById('results')!;
      list.replaceChildren();
      const w = window as unknown as { finished?: Promise<number> };
      w.finished = new Promise<number>((resolve) => {
        let started = 0;
        new MutationObserver((_, observer) => {
          started ||= performance.now();
          if (list.querySelectorAll('li.result[data-state=done]').length === n) {
            observer.disconnect();
            resolve(performance.now() - started);
          }
        }).observe(list, { childList: true, subtree: true, attributes: true });
      });
    }, files.length);
    await page.setInputFiles('#files', files);
    const seconds =
      (await page.evaluate(() => (window as unknown as { finished: Promise<number> }).finished)) / 1000;
    const timings = await page.$$eval('li.result', (items) => items.map((i) => (i as HTMLElement).dataset));
    const med = (key: string): number => median(timings.map((t) => Number(t[key])));
    return {
      imgPerSec: files.length / seconds,
      networkMs: med('inferenceMs'),
      decodeMs: med('decodeMs'),
      totalMs: med('totalMs'),
    };
  }

  /** Plain onnxruntime-web in the same page: a session of the same file, `runs` runs at `batch`. */
  const plainRound = (batch: number, runs: number): Promise<{ imgPerSec: number; runMs: number }> =>
    page.evaluate(
      async ({ batch, runs }) => {
        const ort = (await import('onnxruntime-web')) as typeof import('onnxruntime-web');
        const w = window as unknown as { plain?: import('onnxruntime-web').InferenceSession };
        w.plain ??= await ort.InferenceSession.create('/v1/model.onnx', {
          executionProviders: ['wasm'],
          graphOptimizationLevel: 'all',
        });
        const data = new Float32Array(batch * 3 * 224 * 224).map(() => Math.random() - 0.5);
        const feeds = { [w.plain.inputNames[0]!]: new ort.Tensor('float32', data, [batch, 3, 224, 224]) };
        await w.plain.run(feeds);
        const times: number[] = [];
        for (let r = 0; r < runs; r++) {
          const t0 = performance.now();
          await w.plain.run(feeds);
          times.push(performance.now() - t0);
        }
        const total = times.reduce((a, b) => a + b, 0);
        times.sort((a, b) => a - b);
        return { imgPerSec: (batch * runs * 1000) / total, runMs: times[Math.floor(runs / 2)]! };
      },
      { batch, runs },
    );

  await pageRound(images.slice(0, 1)); // the page's session is made and warmed
  const results = {
    page: [] as number[],
    pageNetworkMs: [] as number[],
    pageDecodeMs: [] as number[],
    pageTotalMs: [] as number[],
    plain1: [] as number[],
    plain1RunMs: [] as number[],
    plain8: [] as number[],
  };
  for (let r = 0; r < rounds; r++) {
    const p = await pageRound(images);
    results.page.push(p.imgPerSec);
    results.pageNetworkMs.push(p.networkMs);
    results.pageDecodeMs.push(p.decodeMs);
    results.pageTotalMs.push(p.totalMs);
    const plain = await plainRound(1, N);
    results.plain1.push(plain.imgPerSec);
    results.plain1RunMs.push(plain.runMs);
    results.plain8.push((await plainRound(8, Math.max(2, Math.ceil(N / 8)))).imgPerSec);
    console.error(
      `round ${r + 1}/${rounds}: page ${p.imgPerSec.toFixed(2)} img/s (per image: decode ${p.decodeMs.toFixed(1)} ms, network ${p.networkMs.toFixed(1)} ms, total ${p.totalMs.toFixed(1)} ms); plain batch 1 ${plain.imgPerSec.toFixed(2)} img/s (${plain.runMs.toFixed(1)} ms), batch 8 ${results.plain8.at(-1)!.toFixed(2)}`,
    );
  }
  const browserVersion = browser.version();
  const summary = {
    arch: args.arch,
    browser: `Chromium ${browserVersion} headless`,
    engine: engine.replace(/^inference: /, ''),
    images_per_round: N,
    rounds,
    page_img_per_s: median(results.page),
    page_decode_ms: median(results.pageDecodeMs),
    page_network_ms: median(results.pageNetworkMs),
    page_total_ms: median(results.pageTotalMs),
    plain_ort_web_batch1_run_ms: median(results.plain1RunMs),
    plain_ort_web_batch1_img_per_s: median(results.plain1),
    plain_ort_web_batch8_img_per_s: median(results.plain8),
    page_vs_plain_batch1: median(results.page) / median(results.plain1),
    page_vs_plain_per_image: median(results.plain1RunMs) / median(results.pageTotalMs),
    raw: results,
  };
  if (args.json) console.log(JSON.stringify(summary, null, 2));
  else {
    console.log(
      `${summary.arch} at 224 in ${summary.browser} (${summary.engine}), medians of ${rounds} rounds:`,
    );
    console.log(
      `  the page, whole path (decode, transforms, network, DOM): ${summary.page_img_per_s.toFixed(2)} img/s`,
    );
    console.log(
      `  plain onnxruntime-web, batch 1: ${summary.plain_ort_web_batch1_img_per_s.toFixed(2)} img/s`,
    );
    console.log(
      `  plain onnxruntime-web, batch 8: ${summary.plain_ort_web_batch8_img_per_s.toFixed(2)} img/s`,
    );
    console.log(
      `  per image: the page ${summary.page_total_ms.toFixed(1)} ms (decode and transforms ${summary.page_decode_ms.toFixed(1)}, network ${summary.page_network_ms.toFixed(1)}), plain ${summary.plain_ort_web_batch1_run_ms.toFixed(1)} ms`,
    );
    console.log(
      `  page / plain: ${summary.page_vs_plain_batch1.toFixed(3)} in img/s, ${summary.page_vs_plain_per_image.toFixed(3)} per image`,
    );
  }
} finally {
  await browser.close();
  server.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
}
