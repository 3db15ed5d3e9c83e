/** Evaluation: one pass over a loader in eval mode without recording a graph. */
import { inferenceMode } from '../autograd/grad-mode.js';
import type { DataLoader } from '../data/loader.js';
import { modelDevice, type Module } from '../nn/module.js';
import { crossEntropy } from '../ops/loss.js';
import { ClassificationMetrics } from './metrics.js';
import { foldBatchNorm } from '../models/fold.js';
import { ResNet } from '../models/resnet.js';
import { yieldToEventLoop } from '../util/yield.js';

export interface EvaluateOptions {
  epoch?: number;
  onBatch?: (done: number, total: number, metrics: ClassificationMetrics) => void;
  /** Asked after every batch; true ends the pass early (Ctrl-C), with `stopped` set. */
  shouldStop?: () => boolean;
}

export async function evaluate(
  model: Module,
  loader: DataLoader,
  classes: readonly string[],
  options: EvaluateOptions = {},
): Promise<{
  metrics: ClassificationMetrics;
  skipped: { name: string; reason: string }[];
  stopped: boolean;
}> {
  const metrics = new ClassificationMetrics(classes);
  const skipped: { name: string; reason: string }[] = [];
  let stopped = false;
  const wasTraining = model.training;
  model.eval();
  // Batch norm folded into the convs: the same outputs with one pass fewer per layer (on the cpu,
  // where the folding reads the weights).
  const device = modelDevice(model);
  const net = model instanceof ResNet && device === 'cpu' ? foldBatchNorm(model) : model;
  try {
    const total = loader.batchesPerEpoch;
    for await (const batch of loader.epoch(options.epoch ?? 0)) {
      skipped.push(...batch.skipped);
      if (batch.x.shape[0] === 0) continue;
      const [logits, loss] = inferenceMode(() => {
        const out = net.call(batch.x.to(device));
        return [out, crossEntropy(out, batch.y)] as const;
      });
      metrics.update(await logits.cpu(), batch.y, (await loss.data())[0]!);
      options.onBatch?.(batch.index + 1, total, metrics);
      if (options.shouldStop) {
        await yieldToEventLoop();
        if (options.shouldStop()) {
          stopped = true;
          break;
        }
      }
    }
  } finally {
    model.train(wasTraining);
  }
  return { metrics, skipped, stopped };
}
