/**
 * The GPU benchmark page (/bench of `resnext serve`) in headless Chromium: this engine on WebGPU
 * (inference batch 1 and 8, training batch 16) next to onnxruntime-web's WebGPU execution provider
 * (inference batch 1 and 8) on the same adapter, alternating rounds, medians.
 *   npm run bench:webgpu                          resnext50_32x4d at 224 (seeded weights), 2 rounds x 3
 *   npm run bench:webgpu -- --rounds 3 --repeats 5 --arch resnext_tiny --json
 * Where the machine has no GPU, Chromium runs WebGPU on SwiftShader (the CPU): that checks the page,
 * it measures nothing.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { launchChromium } from './browser.js';
import { seededWeights, startServer } from './serve-process.js';

const { values: args } = parseArgs({
  options: {
    weights: { type: 'string' },
    arch: { type: 'string', default: 'resnext50_32x4d' },
    rounds: { type: 'string', default: '2' },
    repeats: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
  },
});

const work = mkdtempSync(join(tmpdir(), 'webgpu-bench-'));
const weights = args.weights ?? (await seededWeights(args.arch, work));
const { process: server, url: base } = await startServer(weights);
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') process.stderr.write(`page: ${m.text()}\n`);
  });
  await page.goto(`${base}/bench?autorun&rounds=${Number(args.rounds)}&repeats=${Number(args.repeats)}`);
  await page.waitForSelector('#status[data-state="done"], #status[data-state="error"]', { timeout: 0 });
  if ((await page.getAttribute('#status', 'data-state')) === 'error') {
    throw new Error((await page.textContent('#status')) ?? 'the page failed');
  }
  const results = JSON.parse((await page.getAttribute('#rates', 'data-results'))!) as {
    adapter: string;
    rates: Record<string, number>;
  };
  const chromium = browser.version();
  if (args.json) console.log(JSON.stringify({ chromium, ...results }));
  else {
    console.log(`Chromium ${chromium}, WebGPU adapter ${results.adapter}`);
    for (const [name, rate] of Object.entries(results.rates))
      console.log(`${name}: ${rate.toFixed(2)} img/s`);
  }
} finally {
  await browser.close();
  server.kill('SIGTERM');
}
