/**
 * Batch-norm folding for inference: BN(conv(x)) with running statistics is conv(x) with weights scaled
 * per output channel and a bias, so an inference copy of a network can drop every BN pass:
 *   s = γ / sqrt(running_var + eps),  W' = s·W,  b' = β − s·running_mean (+ s·b).
 * The copy computes what the original computes in eval mode, to float rounding.
 */
import { BatchNorm2d } from '../nn/layers/batchnorm.js';
import type { Conv2d } from '../nn/layers/conv.js';
import type { Module } from '../nn/module.js';
import { Bottleneck, ResNet } from './resnet.js';

/** target ← conv followed by bn (null: conv alone, copied). */
function foldInto(conv: Conv2d, bn: Module | null, target: Conv2d): void {
  const w = conv.weight.dataSync();
  const out = target.weight.dataSync();
  const perChannel = w.length / conv.outChannels;
  if (!(bn instanceof BatchNorm2d)) {
    out.set(w);
    if (conv.bias && target.bias) target.bias.dataSync().set(conv.bias.dataSync());
    else target.bias?.dataSync().fill(0);
    return;
  }
  if (!bn.runningMean || !bn.runningVar)
    throw new Error('foldBatchNorm: batch norm without running statistics cannot be folded');
  const rm = bn.runningMean.dataSync();
  const rv = bn.runningVar.dataSync();
  for (let k = 0; k < conv.outChannels; k++) {
    const s = (bn.weight ? bn.weight.dataSync()[k]! : 1) / Math.sqrt(rv[k]! + bn.eps);
    const shift = (bn.bias ? bn.bias.dataSync()[k]! : 0) - s * rm[k]!;
    for (let i = k * perChannel; i < (k + 1) * perChannel; i++) out[i] = w[i]! * s;
    target.bias!.dataSync()[k] = shift + (conv.bias ? s * conv.bias.dataSync()[k]! : 0);
  }
}

/**
 * An inference copy of `model` with every BatchNorm folded into the conv before it (eval mode).
 * The copy keeps its (unused) BatchNorm modules, so its state_dict is not torchvision's: save the
 * original, not the copy.
 */
export function foldBatchNorm(model: ResNet): ResNet {
  if (model.config.foldedNorm) return model;
  const folded = new ResNet({ ...model.config, foldedNorm: true });
  foldInto(model.conv1, model.bn1, folded.conv1);
  model.stages.forEach((stage, s) => {
    for (let b = 0; b < stage.length; b++) {
      const src = stage.at(b) as Bottleneck;
      const dst = folded.stages[s]!.at(b) as Bottleneck;
      foldInto(src.conv1, src.bn1, dst.conv1);
      foldInto(src.conv2, src.bn2, dst.conv2);
      foldInto(src.conv3, src.bn3, dst.conv3);
      if (src.downsample && dst.downsample) {
        const norm = src.downsample.length > 1 ? src.downsample.at(1) : null;
        foldInto(
          src.downsample.at(0) as Conv2d,
          norm ?? src.downsample.at(0),
          dst.downsample.at(0) as Conv2d,
        );
      }
    }
  });
  // preact's BN follows a residual sum, not a conv: it stays a BN, with the original's statistics.
  if (model.norm && folded.norm) folded.norm.loadStateDict(model.norm.stateDict());
  if (model.fc && folded.fc) {
    folded.fc.weight.dataSync().set(model.fc.weight.dataSync());
    if (model.fc.bias && folded.fc.bias) folded.fc.bias.dataSync().set(model.fc.bias.dataSync());
  }
  return folded.eval();
}
