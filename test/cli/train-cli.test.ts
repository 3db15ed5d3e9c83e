import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { decodeImage } from '../../src/data/image.js';
import { buildTransform, toTensorInto } from '../../src/data/transforms.js';
import { Generator } from '../../src/tensor/rng.js';
import { makeImageFolder } from '../helpers/image-folder.js';

const bin = resolve(dirname(fileURLToPath(import.meta.url)), '../../bin/resnext.js');
const run = (...args: string[]): { code: number | null; out: string; err: string } => {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf-8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

/** `train` arguments for resnext_tiny at 32x32 on the main thread, without a progress bar. */
const tinyTrain = (data: string, out: string, epochs: number, batchSize: number): string[] => [
  'train',
  '--data',
  data,
  '--arch',
  'resnext_tiny',
  '--image-size',
  '32',
  '--epochs',
  String(epochs),
  '--batch-size',
  String(batchSize),
  '--workers',
  '0',
  '--out',
  out,
  '--no-progress',
];

describe('resnext train / eval / predict', () => {
  it('trains on an image folder, then evaluates and predicts with the result', async () => {
    const data = await makeImageFolder(['cat', 'dog'], 8, 24);
    const out = join(mkdtempSync(join(tmpdir(), 'cli-')), 'run');
    const t = run(...tinyTrain(data, out, 1, 4));
    expect(t.err).toBe('');
    expect(t.code).toBe(0);
    expect(t.out).toContain('12 training images, 4 validation images (stratified 20% of');
    expect(t.out).toMatch(
      /epoch 1\/1: train loss [\d.]+ top-1 [\d.]+% \| val loss [\d.]+ top-1 [\d.]+% \| lr/,
    );
    expect(t.out).toContain(`report: ${out}/report.html`);

    const e = run(
      'eval',
      '--weights',
      join(out, 'best.safetensors'),
      '--data',
      data,
      '--workers',
      '0',
      '--out',
      join(out, 'eval'),
    );
    expect(e.code).toBe(0);
    expect(e.out).toMatch(/^16 images: loss [\d.]+, top-1 [\d.]+%/);
    expect(e.out).toContain('class  precision  recall  support');
    expect(e.out).toContain('true \\ predicted');
    expect(existsSync(join(out, 'eval', 'confusion.png'))).toBe(true);
    const evalJson = JSON.parse(readFileSync(join(out, 'eval', 'eval.json'), 'utf-8')) as {
      images: number;
      classes: string[];
    };
    expect(evalJson.images).toBe(16);
    expect(evalJson.classes).toEqual(['cat', 'dog']);

    const p = run(
      'predict',
      '--weights',
      join(out, 'best.safetensors'),
      join(data, 'cat'),
      '--top-k',
      '2',
      '--json',
    );
    expect(p.code).toBe(0);
    const preds = JSON.parse(p.out) as { file: string; top: { label: string; probability: number }[] }[];
    expect(preds.length).toBe(8);
    expect(preds[0]!.top.map((x) => x.label).sort()).toEqual(['cat', 'dog']);
    const text = run('predict', '--weights', join(out, 'best.safetensors'), join(data, 'dog', 'img0.png'));
    expect(text.out).toMatch(/img0\.png: (cat|dog) [\d.]+%, (cat|dog) [\d.]+%/);

    // Exported to ONNX, the model gives ONNX Runtime predict's probabilities for the same image.
    const onnxFile = join(out, 'model.onnx');
    const x = run(
      'export',
      '--weights',
      join(out, 'best.safetensors'),
      '--onnx',
      onnxFile,
      '--fold-bn',
      '--card',
    );
    expect(x.code, x.err).toBe(0);
    expect(x.out).toMatch(
      /model\.onnx: resnext_tiny, 2 classes, input \[batch, 3, 32, 32\], [\d.]+ MB, batch norm folded/,
    );
    expect(x.out).toContain(`model card: ${join(out, 'model.card.md')}`);
    const card = JSON.parse(readFileSync(join(out, 'model.card.json'), 'utf-8')) as {
      parameters: number;
      classes: string[];
      training: { data: string; epochs: number };
      best: { epoch: number; val_top1: number };
      history: unknown[];
    };
    const history = JSON.parse(readFileSync(join(out, 'history.json'), 'utf-8')) as { valAcc: number }[];
    expect(card.classes).toEqual(['cat', 'dog']);
    expect(card.parameters).toBe(170_194); // resnext_tiny with a 2-class head
    expect(card.training).toMatchObject({ data, epochs: 1 });
    expect(card.best).toEqual({ epoch: 1, val_top1: history[0]!.valAcc });
    expect(card.history.length).toBe(1);
    expect(readFileSync(join(out, 'model.card.md'), 'utf-8')).toContain('# resnext_tiny\n');
    const proto = onnxProto.onnx.ModelProto.decode(readFileSync(onnxFile));
    const props = Object.fromEntries(proto.metadataProps.map((p) => [p.key, p.value]));
    expect(JSON.parse(props.classes!)).toEqual(['cat', 'dog']);
    const session = await ort.InferenceSession.create(onnxFile);
    const image = join(data, 'cat', 'img0.jpg');
    const input = new Float32Array(3 * 32 * 32);
    const decoded = await decodeImage(image);
    toTensorInto(
      buildTransform(JSON.parse(props.eval_transforms!))(decoded, new Generator(0)),
      JSON.parse(props.mean!),
      JSON.parse(props.std!),
      input,
      0,
    );
    const logits = (await session.run({ input: new ort.Tensor('float32', input, [1, 3, 32, 32]) })).logits!
      .data as Float32Array;
    const top = Math.max(logits[0]!, logits[1]!);
    const probabilities = [...logits].map(
      (v) => Math.exp(v - top) / (Math.exp(logits[0]! - top) + Math.exp(logits[1]! - top)),
    );
    const predicted = preds.find((p) => p.file === image)!.top;
    for (const t of predicted)
      expect(probabilities[['cat', 'dog'].indexOf(t.label)]).toBeCloseTo(t.probability, 4);

    // Served over HTTP: the same prediction; SIGTERM stops the server cleanly.
    const server = spawn(process.execPath, [
      bin,
      'serve',
      '--weights',
      join(out, 'best.safetensors'),
      '--port',
      '0',
    ]);
    let served = '';
    server.stdout.on('data', (d: Buffer) => (served += d.toString()));
    const stopped = new Promise<number | null>((r) => server.on('exit', (c) => r(c)));
    const address = await new Promise<string>((resolveAddress, rejectAddress) => {
      const poll = setInterval(() => {
        const m = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(served);
        if (m) {
          clearInterval(poll);
          resolveAddress(m[1]!);
        }
      }, 50);
      void stopped.then(() => rejectAddress(new Error(`serve exited: ${served}`)));
    });
    expect(served).toContain('serving resnext_tiny (2 classes) on http://127.0.0.1:');
    const response = await fetch(`${address}/v1/predict?top_k=2`, {
      method: 'POST',
      body: readFileSync(image),
    });
    const answer = (await response.json()) as {
      label: string;
      top: { label: string; probability: number }[];
    };
    expect(answer.label).toBe(predicted[0]!.label);
    answer.top.forEach((t, i) => expect(t.probability).toBeCloseTo(predicted[i]!.probability, 5));
    server.kill('SIGTERM');
    expect(await stopped).toBe(0);
    expect(served).toContain('SIGTERM: finishing the requests in flight, then stopping\nstopped');
  });

  it('names bad inputs', async () => {
    const data = await makeImageFolder(['a', 'b'], 2, 16);
    expect(run('train', '--data', '/no/such/place', '--out', join(tmpdir(), 'x')).err).toContain(
      'data folder /no/such/place does not exist',
    );
    expect(run('train').err).toContain('--data is required');
    expect(run('train', '--data', data, '--optimizer', 'rmsprop').err).toContain(
      "argument 'rmsprop' is invalid",
    );
    expect(run('train', '--data', data, '--lr', 'fast').err).toContain(
      '--lr must be a positive number, got "fast"',
    );
    expect(run('train', '--data', data, '--image-size', '100000').err).toContain(
      '--image-size must be at most 2048, got "100000"',
    );
    expect(run('predict', '--weights', '/no/file.safetensors', 'x.png').err).toContain(
      '/no/file.safetensors: cannot read file (ENOENT)',
    );
    const e = run('eval', '--weights', join(data, 'a', 'img0.jpg'), '--data', data);
    expect(e.code).toBe(1);
    expect(e.err).toContain('img0.jpg');
  });

  it('writes a checkpoint on Ctrl-C and resumes from it', async () => {
    const data = await makeImageFolder(['a', 'b'], 6, 24);
    const out = join(mkdtempSync(join(tmpdir(), 'cli-')), 'run');
    const child = spawn(process.execPath, [bin, ...tinyTrain(data, out, 30, 2)]);
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    // Interrupt once training is under way; fail (rather than hang) if the process ends first.
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    let second: ReturnType<typeof run> | null = null;
    const started = new Promise<void>((resolveStarted) => {
      const poll = setInterval(() => {
        if (stdout.includes('optimizer')) {
          clearInterval(poll);
          setTimeout(() => {
            // A second run into the same folder while the first writes there.
            second = run(...tinyTrain(data, out, 1, 2));
            child.kill('SIGINT');
            resolveStarted();
          }, 1500);
        }
      }, 100);
      void exited.then(() => clearInterval(poll));
    });
    await Promise.race([started, exited]);
    const code = await exited;
    expect(code).toBe(130);
    expect(second!.code).toBe(1);
    expect(second!.err).toContain(`${out} is in use by another training run (pid ${child.pid} on `);
    expect(stdout).toMatch(/interrupted (at|after|while validating) epoch \d+/);
    expect(stdout).toContain(`Continue with: resnext train --resume ${out}`);
    expect(existsSync(join(out, 'last.safetensors'))).toBe(true);
    const refused = run('train', '--resume', out, '--lr', '0.5', '--batch-size', '4');
    expect(refused.code).toBe(1);
    expect(refused.err).toContain(
      '--batch-size, --lr cannot be given with --resume: the run continues with the settings in its config.json',
    );
    // The line the run printed, as it is: the run's own settings (30 epochs), not the defaults.
    const resumed = run('train', '--resume', out, '--workers', '0', '--no-progress');
    expect(resumed.code).toBe(0);
    expect(resumed.out).toMatch(new RegExp(`resuming ${out} at epoch \\d+, batch \\d+`));
    expect(resumed.out).toContain('epoch 30/30');
  });

  it('stops within a batch of Ctrl-C on a built-in dataset, whose batches are in memory', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'cli-')), 'run');
    // 4,000 images in 125 batches of 32; progress lines come every tenth of the epoch.
    const args = [
      ...tinyTrain('fashion-mnist', out, 2, 32).filter((a) => a !== '--no-progress'),
      ...['--subset', '4000', '--val-subset', '500'],
    ];
    const child = spawn(process.execPath, [bin, ...args]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (/epoch 1\/2 \d+\/125 batches/.test(stderr)) child.kill('SIGINT');
    });
    expect(await exited).toBe(130);
    const stoppedAt = /interrupted at epoch 1, batch (\d+);/.exec(stdout);
    expect(stoppedAt, stdout).not.toBeNull();
    expect(Number(stoppedAt![1])).toBeLessThan(125);
  });
});
