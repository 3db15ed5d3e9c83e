/**
 * Soak check: the whole training loop (loader with a worker thread, forward, backward, optimizer,
 * validation, checkpoints, reports) for a fixed number of steps over several epochs on a small network,
 * sampling resident memory every 10th step after a full garbage collection (so the samples show what
 * is retained, not where V8's heap is in its cycle). A leak shows as RSS that keeps growing: the check
 * compares the median of the last tenth of the samples with that of the tenth after the first epoch
 * (which warms up V8's heap, the storage pool, oneDNN's caches and every path once).
 *   npm run bench:soak                       1,000 steps of resnext_tiny on Fashion-MNIST at 32x32
 *   npm run bench:soak -- --steps 2000 --arch resnext50_32x4d --batch-size 16 --json
 *   npm run bench:soak -- --trace            RSS, V8 heap and buffers every 50 steps
 * Exits 1 when the drift is over --max-drift percent (default 5) or the run does not complete.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_TRAIN_CONFIG, getBackend, nativeInfo, train } from '../src/index.js';
import { median } from './stats.js';

const { values: args } = parseArgs({
  options: {
    steps: { type: 'string', default: '1000' },
    arch: { type: 'string', default: 'resnext_tiny' },
    'batch-size': { type: 'string', default: '32' },
    'max-drift': { type: 'string', default: '5' },
    workers: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
    trace: { type: 'boolean', default: false },
    epochs: { type: 'string', default: '4' },
  },
});

const steps = Number(args.steps);
const batchSize = Number(args['batch-size']);
// Several epochs, so that validation, checkpoint and report writes recur within the soak.
const epochs = Number(args.epochs);
const perEpoch = Math.ceil(steps / epochs);
const out = mkdtempSync(join(tmpdir(), 'soak-'));
const samples: number[] = [];
let step = 0;
const t0 = performance.now();
const result = await train(
  {
    ...DEFAULT_TRAIN_CONFIG,
    data: 'fashion-mnist',
    arch: args.arch,
    epochs,
    batchSize,
    subset: perEpoch * batchSize,
    valSubset: 1000,
    optimizer: 'adamw',
    lr: 1e-3,
    workers: Number(args.workers),
    out,
  },
  {
    log: () => {},
    progress: false,
    onStep: () => {
      // Every 10th step, after a full collection where --expose-gc allows it: what is retained,
      // not where V8's heap happens to stand in its collection cycle.
      if (++step % 10) return;
      (globalThis as { gc?: () => void }).gc?.();
      samples.push(process.memoryUsage.rss() / 2 ** 20);
      if (args.trace && samples.length % 5 === 0) {
        const m = process.memoryUsage();
        const mb = (bytes: number): string => (bytes / 2 ** 20).toFixed(0);
        console.error(
          `step ${step}: RSS ${mb(m.rss)} MB, V8 heap ${mb(m.heapTotal)} MB, buffers ${mb(m.arrayBuffers)} MB`,
        );
      }
    },
  },
);
const seconds = (performance.now() - t0) / 1000;
rmSync(out, { recursive: true, force: true });

// Warm-up is the first epoch: by its end every path (training, validation, checkpoint and report
// writes) has run once and filled its caches; the baseline is the tenth of the samples after it.
const tenth = Math.max(1, Math.floor(samples.length / 10));
const afterFirstEpoch = Math.floor(perEpoch / 10);
const first = median(samples.slice(afterFirstEpoch, afterFirstEpoch + tenth));
const last = median(samples.slice(-tenth));
const drift = ((last - first) / first) * 100;
const maxDrift = Number(args['max-drift']);
const report = {
  arch: args.arch,
  backend: getBackend().name,
  cpu: cpus()[0]?.model ?? null,
  native: nativeInfo(),
  steps: step,
  batch_size: batchSize,
  status: result.status,
  seconds,
  rss_mb: { warm: first, last, max: Math.max(...samples), drift_percent: drift },
  within_limit: drift <= maxDrift,
};
if (args.json) console.log(JSON.stringify(report, null, 2));
else {
  console.log(
    `${report.arch} on ${report.backend}, ${report.steps} steps of ${batchSize} in ${seconds.toFixed(0)} s (${result.status})`,
  );
  console.log(
    `RSS: ${first.toFixed(0)} MB after warm-up, ${last.toFixed(0)} MB at the end (${drift >= 0 ? '+' : ''}${drift.toFixed(2)}%), ` +
      `max ${report.rss_mb.max.toFixed(0)} MB: ${report.within_limit ? 'within' : 'OVER'} the ${maxDrift}% limit`,
  );
}
if (!report.within_limit || result.status !== 'completed') process.exitCode = 1;
