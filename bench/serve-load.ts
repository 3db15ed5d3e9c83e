/**
 * Load test of `resnext serve` with autocannon: a 224x224 JPEG POSTed to /v1/predict at several
 * concurrencies, against a server in its own process (so that the load generator does not share its
 * event loop). Reports requests/s, images/s, p50/p99 latency, errors, and the server's RSS.
 *   npm run bench:serve                                   resnext50_32x4d (seeded weights), c = 1, 8, 32
 *   npm run bench:serve -- --weights runs/x/best.safetensors --concurrency 1,4 --seconds 10 --json
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import sharp from 'sharp';
import { nativeInfo } from '../src/index.js';
import { seededWeights, startServer } from './serve-process.js';

const { values: args } = parseArgs({
  options: {
    weights: { type: 'string' },
    arch: { type: 'string', default: 'resnext50_32x4d' },
    concurrency: { type: 'string', default: '1,8,32' },
    seconds: { type: 'string', default: '20' },
    json: { type: 'boolean', default: false },
  },
});

const work = mkdtempSync(join(tmpdir(), 'serve-load-'));
const weights = args.weights ?? (await seededWeights(args.arch, work));
// A photo-like 224x224 JPEG: smooth gradients with noise.
const raw = Buffer.alloc(224 * 224 * 3);
for (let i = 0; i < raw.length; i++) raw[i] = (((i * 7) % 256) + Math.floor(Math.random() * 32)) % 256;
const body = await sharp(raw, { raw: { width: 224, height: 224, channels: 3 } })
  .jpeg()
  .toBuffer();

const { process: server, url } = await startServer(weights, ['--queue', '256']);
const serverRss = (): number => {
  const status = readFileSync(`/proc/${server.pid}/status`, 'utf-8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
};

// Warm-up: the first requests build oneDNN's primitives for each batch size.
await autocannon({ url: `${url}/v1/predict`, method: 'POST', body, connections: 8, amount: 32 });
const rssBefore = serverRss();
const rows: Record<string, number>[] = [];
for (const c of args.concurrency.split(',').map(Number)) {
  const r = await autocannon({
    url: `${url}/v1/predict`,
    method: 'POST',
    headers: { 'content-type': 'image/jpeg' },
    body,
    connections: c,
    duration: Number(args.seconds),
    timeout: 120,
  });
  const row = {
    concurrency: c,
    requests: r.requests.total,
    images_per_second: r.requests.total / r.duration,
    p50_ms: r.latency.p50,
    p99_ms: r.latency.p99,
    errors: r.errors + r.timeouts,
    non_2xx: r.non2xx,
    server_rss_mb: serverRss(),
  };
  rows.push(row);
  if (!args.json) {
    console.log(
      `c=${c}: ${row.images_per_second.toFixed(1)} img/s, p50 ${row.p50_ms} ms, p99 ${row.p99_ms} ms, ` +
        `${row.errors} errors, ${row.non_2xx} non-2xx, server RSS ${row.server_rss_mb.toFixed(0)} MB`,
    );
  }
}
server.kill('SIGTERM');
await new Promise((r) => server.on('exit', r));
rmSync(work, { recursive: true, force: true });
const report = {
  arch: args.arch,
  cpu: cpus()[0]?.model ?? null,
  cores: cpus().length,
  native: nativeInfo(),
  server_rss_mb_before: rssBefore,
  rows,
};
if (args.json) console.log(JSON.stringify(report, null, 2));
else
  console.log(
    `${args.arch} on ${report.cpu} (${report.cores} cores); server RSS before the runs ${rssBefore.toFixed(0)} MB`,
  );
