/**
 * Turning dataset samples into batch tensors: shared by the in-process loader and the worker threads,
 * so both produce identical batches.
 */
import { Generator } from '../tensor/rng.js';
import type { Dataset } from './datasets.js';
import type { DecodeOptions } from './image.js';
import { buildTransform, toTensorInto, type Transform, type TransformSpec } from './transforms.js';

export interface SampleOptions {
  transforms: readonly TransformSpec[];
  mean: readonly number[];
  std: readonly number[];
  /** [C, H, W] every sample must have after the transforms. */
  outputShape: readonly [number, number, number];
  decode?: DecodeOptions;
}

export interface BatchData {
  /** [count, C, H, W], normalised. */
  data: Float32Array;
  labels: Int32Array;
  count: number;
  /** Samples that could not be loaded, left out of the batch. */
  skipped: { name: string; reason: string }[];
}

/** The seed of one sample's augmentation: a function of (seed, epoch, dataset index) only. */
export function sampleSeed(seed: number, epoch: number, index: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ (epoch + 0x7f4a7c15), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (index + 0x165667b1), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

export class SampleBuilder {
  private readonly transform: Transform;

  constructor(
    private readonly dataset: Dataset,
    private readonly options: SampleOptions,
  ) {
    this.transform = buildTransform(options.transforms);
  }

  async batch(indices: readonly number[], epoch: number, seed: number, strict: boolean): Promise<BatchData> {
    const [C, H, W] = this.options.outputShape;
    const size = C * H * W;
    const data = new Float32Array(indices.length * size);
    const labels = new Int32Array(indices.length);
    const skipped: { name: string; reason: string }[] = [];
    const images = await Promise.all(
      indices.map((i) =>
        this.dataset.load(i, this.options.decode).then(
          (img) => ({ img, error: null as Error | null }),
          (error: Error) => ({ img: null, error }),
        ),
      ),
    );
    let count = 0;
    images.forEach(({ img, error }, k) => {
      const index = indices[k]!;
      if (!img) {
        if (strict) throw error;
        skipped.push({ name: this.dataset.describe(index), reason: error!.message });
        return;
      }
      const out = this.transform(img, new Generator(sampleSeed(seed, epoch, index)));
      if (out.channels !== C || out.height !== H || out.width !== W) {
        throw new Error(
          `${this.dataset.describe(index)}: transforms produced ${out.channels}x${out.height}x${out.width}, expected ${C}x${H}x${W} ` +
            '(add a resize or crop to the pipeline)',
        );
      }
      toTensorInto(out, this.options.mean, this.options.std, data, count * size);
      labels[count] = this.dataset.labelOf(index);
      count++;
    });
    return {
      data: count === indices.length ? data : data.slice(0, count * size),
      labels: labels.slice(0, count),
      count,
      skipped,
    };
  }
}
