/**
 * The GPU benchmark page (web/bench.html, /bench of `resnext serve`): the served architecture at its
 * input size on this browser's WebGPU adapter, this engine (inference at batch 1 and 8, a training
 * step at batch 16: forward, backward, SGD) and onnxruntime-web's WebGPU execution provider on the
 * served ONNX export (inference at batch 1 and 8), in alternating rounds; medians per row. The
 * engine runs freshly initialised weights of the same architecture: speed does not depend on them.
 * Results also go to #rates[data-results] as JSON, for bench/webgpu-page.ts.
 */
import * as ort from 'onnxruntime-web';
import { backward, createModel, F, initWebGpu, inferenceMode, SGD, Tensor } from '../browser.js';
import type { ModelInfo } from './model.js';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const rounds = Math.max(1, Number(params.get('rounds') ?? 2));
const repeats = Math.max(1, Number(params.get('repeats') ?? 3));

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function seconds(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

async function run(): Promise<void> {
  const status = $('status');
  const say = (state: string, text: string): void => {
    status.dataset.state = state;
    status.textContent = text;
  };
  const info = (await (await fetch('/v1/model')).json()) as ModelInfo;
  const [C, H, W] = info.input_shape;
  const context = await initWebGpu();
  const adapter =
    `${context.adapter.vendor} ${context.adapter.architecture} ${context.adapter.description}`.trim();
  say('running', `${info.architecture} at ${H}x${W} on ${adapter}: preparing`);
  const model = createModel(info.architecture, { numClasses: info.classes.length }).to('webgpu');
  const optimizer = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  ort.env.wasm.wasmPaths = '/ort/';
  const session = info.onnx
    ? await ort.InferenceSession.create(info.onnx, {
        executionProviders: ['webgpu'],
        graphOptimizationLevel: 'all',
      })
    : null;

  const ours = async (batch: number): Promise<number> => {
    model.eval();
    const x = Tensor.randn([batch, C, H, W]).to('webgpu');
    return (
      batch /
      (await seconds(async () => {
        const y = inferenceMode(() => model.forward(x));
        await y.data();
      }))
    );
  };
  const train = async (batch: number): Promise<number> => {
    model.train();
    const x = Tensor.randn([batch, C, H, W]).to('webgpu');
    const y = Tensor.int64(Array.from({ length: batch }, (_, i) => i % info.classes.length));
    return (
      batch /
      (await seconds(async () => {
        optimizer.zeroGrad();
        const loss = F.crossEntropy(model.forward(x), y);
        backward(loss);
        optimizer.step();
        await loss.data();
      }))
    );
  };
  const theirs = async (batch: number): Promise<number> => {
    const input = new ort.Tensor('float32', new Float32Array(batch * C * H * W), [batch, C, H, W]);
    return (
      batch /
      (await seconds(async () => {
        const out = await session!.run({ [session!.inputNames[0]!]: input });
        await out[session!.outputNames[0]!]!.getData();
      }))
    );
  };
  const rows: [string, (b: number) => Promise<number>, number][] = [
    ['this engine, inference batch 1', ours, 1],
    ['this engine, inference batch 8', ours, 8],
    ['this engine, training batch 16', train, 16],
    ...(session
      ? ([
          ['onnxruntime-web webgpu, inference batch 1', theirs, 1],
          ['onnxruntime-web webgpu, inference batch 8', theirs, 8],
        ] as [string, (b: number) => Promise<number>, number][])
      : []),
  ];
  const samples = new Map<string, number[]>(rows.map(([name]) => [name, []]));
  for (const [, fn, batch] of rows) await fn(batch); // warm-up: shader compilation, allocations
  for (let round = 1; round <= rounds; round++) {
    for (const [name, fn, batch] of rows) {
      say('running', `round ${round}/${rounds}: ${name}`);
      for (let r = 0; r < repeats; r++) samples.get(name)!.push(await fn(batch));
    }
  }
  const results = Object.fromEntries([...samples].map(([name, v]) => [name, median(v)]));
  const body = $('rates').querySelector('tbody')!;
  body.replaceChildren(
    ...Object.entries(results).map(([name, rate]) => {
      const tr = document.createElement('tr');
      for (const text of [name, rate.toFixed(2)])
        tr.append(Object.assign(document.createElement('td'), { textContent: text }));
      return tr;
    }),
  );
  $('rates').dataset.results = JSON.stringify({
    arch: info.architecture,
    size: [H, W],
    adapter,
    rounds,
    repeats,
    rates: results,
  });
  say('done', `${info.architecture} at ${H}x${W} on ${adapter}: ${rounds} rounds of ${repeats}`);
}

$('run').addEventListener('click', () => {
  run().catch((error: Error) => {
    $('status').dataset.state = 'error';
    $('status').textContent = `error: ${error.message}`;
  });
});
if (params.has('autorun')) $('run').click();
