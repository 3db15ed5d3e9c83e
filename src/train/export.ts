/** A trained weights file to ONNX: the network, and its metadata as the model's metadata_props. */
import { writeFileAtomic } from '../io/atomic.js';
import { exportOnnx } from '../io/onnx.js';
import { cardMarkdown, modelCard } from './card.js';
import type { ModelMeta } from './meta.js';
import { loadTrainedModel } from './model-setup.js';

/**
 * metadata_props of an exported model: what a runtime needs to feed it (input size, mean, std, the
 * eval transforms) and to read its output (class names), as JSON strings, plus the architecture.
 */
export function onnxMetadata(meta: ModelMeta): Record<string, string> {
  return {
    architecture: meta.arch,
    classes: JSON.stringify(meta.classes),
    input_shape: JSON.stringify(meta.inputShape),
    mean: JSON.stringify(meta.mean),
    std: JSON.stringify(meta.std),
    eval_transforms: JSON.stringify(meta.evalTransforms),
    layout: 'NCHW, float32, RGB in [0, 1] normalised by mean and std',
  };
}

/** Writes the model of `weights` (a file written by resnext train) to `out` as ONNX, atomically. */
export async function exportWeightsToOnnx(
  weights: string,
  out: string,
  options: { foldBatchNorm?: boolean; card?: boolean } = {},
): Promise<{ meta: ModelMeta; bytes: number; card: string[] }> {
  const { model, meta } = await loadTrainedModel(weights, { strict: true });
  const bytes = exportOnnx(model, {
    inputShape: meta.inputShape,
    foldBatchNorm: options.foldBatchNorm,
    metadata: onnxMetadata(meta),
    name: meta.arch,
  });
  await writeFileAtomic(out, bytes);
  const written: string[] = [];
  if (options.card) {
    const card = modelCard(model, meta, weights);
    const base = out.replace(/\.onnx$/i, '');
    await writeFileAtomic(`${base}.card.json`, `${JSON.stringify(card, null, 2)}\n`);
    await writeFileAtomic(`${base}.card.md`, cardMarkdown(card));
    written.push(`${base}.card.json`, `${base}.card.md`);
  }
  return { meta, bytes: bytes.length, card: written };
}
