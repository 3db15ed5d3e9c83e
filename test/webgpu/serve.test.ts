/**
 * Inference on the WebGPU device behind the HTTP endpoint: the Classifier runs its own folded copy
 * of the model on the device (the caller's model stays on the cpu) and answers concurrent
 * requests with the probabilities the cpu gives.
 */
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Classifier, createModel, foldBatchNorm, predictFiles, type PredictServer } from '../../src/index.js';
import { createPredictServer } from '../../src/serve/server.js';
import { tinyServeMeta } from '../helpers/serve-meta.js';
import { writeImage } from '../helpers/image-folder.js';
import { webGpu } from '../helpers/webgpu.js';

const context = await webGpu();

const meta = tinyServeMeta;

describe.skipIf(!context)('resnext serve on webgpu', () => {
  const model = createModel('resnext_tiny', { numClasses: 6 }).eval();
  const folded = foldBatchNorm(model);
  const dir = mkdtempSync(join(tmpdir(), 'serve-webgpu-'));
  let service: PredictServer;
  let base = '';
  beforeAll(async () => {
    service = createPredictServer(new Classifier(folded, meta, 'webgpu'), { meta, parameters: 1 });
    await new Promise<void>((r) => service.server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(service.server.address() as AddressInfo).port}`;
  });
  afterAll(() => service.close());

  it('leaves the caller’s model on the cpu', () => {
    expect(folded.parameters().every((p) => p.device === 'cpu')).toBe(true);
  });

  it('answers concurrent requests with the cpu’s probabilities', async () => {
    const colours: [number, number, number][] = [
      [200, 40, 40],
      [30, 180, 60],
      [20, 40, 220],
      [120, 120, 120],
    ];
    const files = await Promise.all(
      colours.map(async (rgb, i) => {
        const file = join(dir, `${i}.png`);
        await writeImage(file, 'png', rgb, 40);
        return file;
      }),
    );
    const expected = await predictFiles(model, meta, files, { topK: 6 });
    const answers = await Promise.all(
      files.map(async (file) => {
        const res = await fetch(`${base}/v1/predict?top_k=6`, {
          method: 'POST',
          body: readFileSync(file),
          headers: { 'content-type': 'image/png' },
        });
        expect(res.status).toBe(200);
        return ((await res.json()) as { top: { label: string; probability: number }[] }).top;
      }),
    );
    answers.forEach((top, i) => {
      const cpu = new Map(expected[i]!.top.map((t) => [t.label, t.probability]));
      expect(top.length).toBe(6);
      for (const t of top) expect(Math.abs(t.probability - cpu.get(t.label)!)).toBeLessThan(1e-4);
    });
  });
});
