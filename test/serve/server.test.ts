import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import onnxProto from 'onnx-proto';
import {
  Classifier,
  createModel,
  exportOnnx,
  modelCard,
  predictFiles,
  type PredictServer,
} from '../../src/index.js';
import type { RawImage } from '../../src/data/image.js';
import { createPredictServer } from '../../src/serve/server.js';
import { InferenceQueue, QueueFullError, QueueTimeoutError } from '../../src/serve/queue.js';
import { tinyServeMeta } from '../helpers/serve-meta.js';
import { writeImage, writePngHeaderOnly } from '../helpers/image-folder.js';

const meta = tinyServeMeta;
const model = createModel('resnext_tiny', { numClasses: 6 }).eval();
const dir = mkdtempSync(join(tmpdir(), 'serve-'));

describe('resnext serve: the HTTP endpoint', () => {
  let service: PredictServer;
  let base = '';
  beforeAll(async () => {
    service = createPredictServer(
      new Classifier(model, meta),
      { meta, parameters: 123 },
      { maxBodyBytes: 100_000 },
    );
    await new Promise<void>((r) => service.server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(service.server.address() as AddressInfo).port}`;
  });
  afterAll(() => service.close());

  it('predicts an image sent as the body, as predict does', async () => {
    const file = join(dir, 'a.png');
    await writeImage(file, 'png', [200, 40, 40], 40);
    const res = await fetch(`${base}/v1/predict?top_k=3`, {
      method: 'POST',
      body: readFileSync(file),
      headers: { 'content-type': 'image/png' },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      label: string;
      probability: number;
      top: { label: string; probability: number }[];
      timings: Record<string, number>;
    };
    const [expected] = await predictFiles(model, meta, [file], { topK: 3 });
    expect(body.top.map((t) => t.label)).toEqual(expected!.top.map((t) => t.label));
    body.top.forEach((t, i) => expect(t.probability).toBeCloseTo(expected!.top[i]!.probability, 6));
    expect(body.label).toBe(expected!.top[0]!.label);
    expect(body.timings.total_ms).toBeGreaterThanOrEqual(body.timings.inference_ms);
  });

  it('predicts several multipart files in one request', async () => {
    const form = new FormData();
    for (const name of ['x.jpg', 'y.webp']) {
      const file = join(dir, name);
      await writeImage(file, name.endsWith('jpg') ? 'jpeg' : 'webp', [10, 200, 90], 24);
      form.append('image', new Blob([readFileSync(file)]), name);
    }
    const res = await fetch(`${base}/v1/predict`, { method: 'POST', body: form });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { predictions: { file: string; top: unknown[] }[] };
    expect(body.predictions.map((p) => p.file)).toEqual(['x.jpg', 'y.webp']);
    expect(body.predictions[0]!.top.length).toBe(5);
  });

  it('answers bad requests with a JSON error and the right status', async () => {
    const post = async (body: string | Uint8Array, path = '/v1/predict'): Promise<[number, string]> => {
      const res = await fetch(`${base}${path}`, { method: 'POST', body });
      return [res.status, ((await res.json()) as { error: string }).error];
    };
    expect(await post('not an image')).toEqual([400, expect.stringContaining('body: cannot decode image')]);
    expect(await post(new Uint8Array(0))).toEqual([400, expect.stringContaining('no image in the request')]);
    expect(await post(new Uint8Array(200_000))).toEqual([
      413,
      expect.stringContaining('over the 100000-byte limit'),
    ]);
    const huge = join(dir, 'huge.png');
    writePngHeaderOnly(huge, 16000, 16000);
    expect(await post(readFileSync(huge))).toEqual([
      400,
      'body: cannot decode image (more than the 89,478,485 pixels allowed)',
    ]);
    expect(await post('x', '/v1/predict?top_k=0')).toEqual([
      400,
      'top_k must be a positive integer, got "0"',
    ]);
    expect(await post('x', '/v1/model')).toEqual([405, 'POST is not allowed on /v1/model']);
    const missing = await fetch(`${base}/nowhere`);
    expect(missing.status).toBe(404);
  });

  it('describes the model and its health', async () => {
    const model = (await (await fetch(`${base}/v1/model`)).json()) as Record<string, unknown>;
    expect(model).toMatchObject({
      architecture: 'resnext_tiny',
      parameters: 123,
      classes: meta.classes,
      input_shape: [3, 32, 32],
    });
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok', queued: 0 });
  });

  it('serves the page and its assets cross-origin isolated, and nothing beside them', async () => {
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(page.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
    const html = await page.text();
    for (const asset of ['/app/page.css', '/app/page.js', '/ort/ort.all.min.mjs']) {
      expect(html).toContain(asset);
      const res = await fetch(`${base}${asset}`);
      expect(res.status, asset).toBe(200);
      expect(res.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
    }
    const wasm = await fetch(`${base}/ort/ort-wasm-simd-threaded.jsep.wasm`, { method: 'HEAD' });
    expect([wasm.status, wasm.headers.get('content-type')]).toEqual([200, 'application/wasm']);
    for (const path of [
      '/app/../package.json',
      '/ort/package.json',
      '/app/',
      '/ort/../../package.json',
      '/web/index.html',
    ])
      expect((await fetch(`${base}${path}`)).status, path).toBe(404);
    // Without an ONNX export or a card the server says so, and the page keeps to server mode.
    expect(await (await fetch(`${base}/v1/model.onnx`)).json()).toEqual({
      error: 'this server was started without an ONNX export of its model',
    });
    expect((await fetch(`${base}/v1/card`)).status).toBe(404);
    expect(((await (await fetch(`${base}/v1/model`)).json()) as { onnx: unknown }).onnx).toBeNull();
  });

  it('serves its model as ONNX (made once) and its model card', async () => {
    let exports = 0;
    const card = modelCard(model, meta, join(dir, 'none.safetensors'));
    const other = createPredictServer(new Classifier(model, meta), {
      meta,
      parameters: 1,
      card,
      onnx: () => {
        exports++;
        return exportOnnx(model, { inputShape: meta.inputShape, foldBatchNorm: true });
      },
    });
    await new Promise<void>((r) => other.server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(other.server.address() as AddressInfo).port}`;
    const first = new Uint8Array(await (await fetch(`${url}/v1/model.onnx`)).arrayBuffer());
    const second = new Uint8Array(await (await fetch(`${url}/v1/model.onnx`)).arrayBuffer());
    expect(exports).toBe(1);
    expect(second).toEqual(first);
    const proto = onnxProto.onnx.ModelProto.decode(first);
    expect(proto.graph!.node!.some((n) => n.opType === 'BatchNormalization')).toBe(false);
    expect(((await (await fetch(`${url}/v1/model`)).json()) as { onnx: unknown }).onnx).toBe(
      '/v1/model.onnx',
    );
    expect(await (await fetch(`${url}/v1/card`)).json()).toEqual(JSON.parse(JSON.stringify(card)));
    await other.close();
  });

  it('finishes a request in flight when it is closed', async () => {
    const other = createPredictServer(new Classifier(model, meta), { meta, parameters: 1 });
    await new Promise<void>((r) => other.server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(other.server.address() as AddressInfo).port}/v1/predict`;
    const pending = fetch(url, { method: 'POST', body: readFileSync(join(dir, 'a.png')) });
    await new Promise((r) => setTimeout(r, 20));
    const closed = other.close();
    expect((await pending).status).toBe(200);
    await closed;
    await expect(fetch(url, { method: 'POST', body: 'x' })).rejects.toThrow();
  });
});

describe('the inference queue', () => {
  const image: RawImage = {
    width: 32,
    height: 32,
    channels: 3,
    data: new Float32Array(32 * 32 * 3).fill(0.5),
  };
  const classifier = new Classifier(model, meta);

  it('runs waiting requests as one batch, refuses past its capacity, and times out', async () => {
    const queue = new InferenceQueue(classifier, { capacity: 2, maxBatch: 8, timeoutMs: 10_000 });
    const first = queue.classify([image, image], 2);
    const second = queue.classify([image], 1);
    await expect(queue.classify([image], 1)).rejects.toThrow(QueueFullError);
    const [a, b] = await Promise.all([first, second]);
    expect(a!.length).toBe(2);
    expect(a![0]!.length).toBe(2);
    expect(b![0]!.length).toBe(1);
    expect(b![0]![0]!.probability).toBeCloseTo(a![0]![0]!.probability, 6);

    const slow = new InferenceQueue(classifier, { capacity: 4, maxBatch: 8, timeoutMs: 5 });
    const waiting = slow.classify([image], 1);
    const until = performance.now() + 30;
    while (performance.now() < until) {
      // the event loop is blocked, as by a long inference: the wait limit passes first
    }
    await expect(waiting).rejects.toThrow(QueueTimeoutError);
    expect(slow.size).toBe(0);
  });
});

describe('a tracing classifier', () => {
  const images = (n: number, value: number): RawImage[] =>
    Array.from({ length: n }, (_, i) => ({
      width: 32,
      height: 32,
      channels: 3,
      data: new Float32Array(32 * 32 * 3).fill(value + i / 10),
    }));

  it('replays a plan for a batch size seen before, with the eager results, keeping the last four', async () => {
    const eager = new Classifier(model, meta);
    const traced = new Classifier(model, meta, 'cpu', { traced: true });
    for (const [size, round] of [
      [2, 0],
      [2, 1],
      [2, 2],
    ] as const) {
      const batch = images(size, 0.2 * round);
      expect(await traced.classify(batch, 3)).toEqual(await eager.classify(batch, 3));
    }
    expect(traced.tracedBatchSizes).toEqual([2]);
    for (const size of [1, 1, 3, 3, 4, 4, 2, 5, 5]) await traced.classify(images(size, 0.3), 1);
    expect(traced.tracedBatchSizes).toEqual([3, 4, 2, 5]);
  });
});
