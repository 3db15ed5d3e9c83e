/** Prediction with a trained model: decode, the model's own eval transforms, softmax, top-k. */
import { inferenceMode } from '../autograd/grad-mode.js';
import { decodeImage, isImageFile } from '../data/image.js';
import { entryKind, walkFiles } from '../data/walk.js';
import { buildTransform, outputSideHint, toTensorInto } from '../data/transforms.js';
import type { ResNet } from '../models/resnet.js';
import { foldBatchNorm } from '../models/fold.js';
import { softmax } from '../ops/activation.js';
import { Generator } from '../tensor/rng.js';
import { Tensor } from '../tensor/tensor.js';
import type { ModelMeta } from './checkpoint.js';

export interface Prediction {
  file: string;
  top: { label: string; index: number; probability: number }[];
  error?: string;
}

/**
 * Image files named directly or found (recursively, sorted, symbolic links followed) in folders. A
 * link inside a folder that leads nowhere is listed too, so that its prediction names it as an error.
 */
export function collectImages(inputs: readonly string[]): string[] {
  const out: string[] = [];
  for (const input of inputs) {
    const entry = entryKind(input);
    if (entry.kind === 'folder') {
      const walked = walkFiles(input);
      out.push(...[...walked.files, ...walked.broken.map((b) => b.file)].filter(isImageFile).sort());
    } else if (entry.kind === 'broken' && !entry.link) {
      throw new Error(`${input}: no such file or folder`);
    } else out.push(input);
  }
  return out;
}

export async function predictFiles(
  model: ResNet,
  meta: ModelMeta,
  files: readonly string[],
  options: { topK?: number; batchSize?: number } = {},
): Promise<Prediction[]> {
  const topK = Math.min(options.topK ?? 5, meta.classes.length);
  const batchSize = options.batchSize ?? 16;
  const transform = buildTransform(meta.evalTransforms);
  const hint = outputSideHint(meta.evalTransforms);
  const [C, H, W] = meta.inputShape;
  const results: Prediction[] = [];
  const net = foldBatchNorm(model.eval());
  for (let start = 0; start < files.length; start += batchSize) {
    const chunk = files.slice(start, start + batchSize);
    const decoded = await Promise.all(
      chunk.map((f) =>
        decodeImage(f, { shorterSide: hint }).then(
          (img) => ({ img, error: null as string | null }),
          (e: Error) => ({ img: null, error: e.message }),
        ),
      ),
    );
    const ok = decoded.map((d, i) => ({ ...d, file: chunk[i]! })).filter((d) => d.img);
    const x = Tensor.empty([ok.length, C, H, W]);
    ok.forEach((d, i) => {
      const out = transform(d.img!, new Generator(0));
      if (out.channels !== C || out.height !== H || out.width !== W) {
        throw new Error(
          `${d.file}: the model's transforms gave ${out.channels}x${out.height}x${out.width}, expected ${C}x${H}x${W}`,
        );
      }
      toTensorInto(out, meta.mean, meta.std, x.data, i * C * H * W);
    });
    const probs = ok.length ? inferenceMode(() => softmax(net.call(x), 1).toArray()) : [];
    let k = 0;
    for (const d of decoded.map((dd, i) => ({ ...dd, file: chunk[i]! }))) {
      if (!d.img) {
        results.push({ file: d.file, top: [], error: d.error! });
        continue;
      }
      const row = probs.slice(k * meta.classes.length, (k + 1) * meta.classes.length);
      k++;
      const order = row
        .map((p, i) => [p, i] as const)
        .sort((a, b) => b[0] - a[0])
        .slice(0, topK);
      results.push({
        file: d.file,
        top: order.map(([p, i]) => ({ label: meta.classes[i]!, index: i, probability: p })),
      });
    }
  }
  return results;
}
