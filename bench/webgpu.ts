/**
 * The WebGPU backend's throughput in Node (Dawn), as `npm run bench -- --backend webgpu`:
 * resnext50_32x4d at --size, inference at batch 1 and 8 (eval mode, batch norm not folded) and a
 * training step at --train-batch (forward, backward, SGD), each timed to the GPU's completion,
 * medians over repeats. On SwiftShader (RESNEXT_WEBGPU_SOFTWARE=1) this checks the path, not speed.
 */
import { backward, createModel, F, inferenceMode, SGD, Tensor } from '../src/index.js';
import { initNodeWebGpu } from '../src/backend/webgpu/node.js';
import { median } from './stats.js';

export interface WebGpuBenchOptions {
  size: number;
  trainBatch: number;
  trainSteps: number;
  inferRepeats: number;
  json: boolean;
}

export async function runWebGpuBench(o: WebGpuBenchOptions): Promise<void> {
  const log = (line: string): void => {
    if (!o.json) console.log(line);
  };
  const context = await initNodeWebGpu();
  const adapter =
    `${context.adapter.vendor} ${context.adapter.architecture} ${context.adapter.description}`.trim();
  log(`WebGPU adapter: ${adapter}`);
  const arch = 'resnext50_32x4d';
  const model = createModel(arch).to('webgpu');
  const timed = async (fn: () => void): Promise<number> => {
    const t0 = performance.now();
    fn();
    await context.finish();
    return (performance.now() - t0) / 1000;
  };

  const inferRate = async (batch: number, repeats: number): Promise<number> => {
    model.eval();
    const x = Tensor.randn([batch, 3, o.size, o.size]).to('webgpu');
    await timed(() => inferenceMode(() => model.forward(x)));
    const times: number[] = [];
    for (let r = 0; r < repeats; r++) times.push(await timed(() => inferenceMode(() => model.forward(x))));
    return batch / median(times);
  };
  const inferBs1 = await inferRate(1, o.inferRepeats);
  log(`inference batch 1: ${inferBs1.toFixed(2)} img/s`);
  const inferBs8 = await inferRate(8, Math.max(2, Math.ceil(o.inferRepeats / 2)));
  log(`inference batch 8: ${inferBs8.toFixed(2)} img/s`);

  model.train();
  const optimizer = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
  const x = Tensor.randn([o.trainBatch, 3, o.size, o.size]).to('webgpu');
  const y = Tensor.int64(Array.from({ length: o.trainBatch }, (_, i) => i % 1000));
  const step = (): Promise<number> =>
    timed(() => {
      optimizer.zeroGrad();
      backward(F.crossEntropy(model.forward(x), y));
      optimizer.step();
    });
  await step();
  const times: number[] = [];
  for (let s = 0; s < o.trainSteps; s++) times.push(await step());
  const trainRate = o.trainBatch / median(times);
  log(`training batch ${o.trainBatch}: ${trainRate.toFixed(2)} img/s (step ${median(times).toFixed(2)} s)`);
  if (o.json) {
    console.log(
      JSON.stringify({
        backend: 'webgpu',
        adapter,
        arch,
        size: o.size,
        infer_bs1_img_s: inferBs1,
        infer_bs8_img_s: inferBs8,
        train_batch: o.trainBatch,
        train_img_s: trainRate,
        dispatches: context.runtime.dispatches,
        submits: context.runtime.submits,
      }),
    );
  }
}
