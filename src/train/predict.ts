/** Prediction with a trained model: decode, the model's own eval transforms, softmax, top-k. */
import { inferenceMode } from '../autograd/grad-mode.js';
import { decodeImage, isImageFile, type RawImage } from '../data/image.js';
import { entryKind, walkFiles } from '../data/walk.js';
import { buildTransform, outputSideHint, toTensorInto, type Transform } from '../data/transforms.js';
import { ResNet } from '../models/resnet.js';
import { traceInference, type InferencePlan } from '../nn/inference-plan.js';
import { foldBatchNorm } from '../models/fold.js';
import { softmax } from '../ops/activation.js';
import type { Device } from '../tensor/device.js';
import { Generator } from '../tensor/rng.js';
import { Tensor } from '../tensor/tensor.js';
import type { ModelMeta } from './checkpoint.js';
import { rankClasses, type TopK } from './top-k.js';

export type { TopK } from './top-k.js';

export interface Prediction {
  file: string;
  top: TopK;
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

export interface ClassifierOptions {
  /**
   * Replay traced forward passes (traceInference) for batch sizes seen before, on the cpu: worth it
   * where many batches share a size (a server's), since a trace costs about three forward passes.
   * The last few sizes' plans are kept.
   */
  traced?: boolean;
}

/** Plans kept by a tracing Classifier, the most recently used ones. */
const KEPT_PLANS = 4;

/**
 * A trained model ready to classify decoded images: batch norm folded (on the host), the model's
 * own eval transforms and normalisation, softmax, top-k, on the cpu or a GPU device.
 */
export class Classifier {
  /** How far decoding may shrink big images before the transforms (see DecodeOptions.shorterSide). */
  readonly decodeHint: number | undefined;
  private readonly net: ResNet;
  private readonly transform: Transform;
  private readonly traced: boolean;
  /** Batch sizes run so far, and the plans of the recent ones (in order of use, oldest first). */
  private readonly seen = new Set<number>();
  private readonly plans = new Map<number, InferencePlan>();

  /** The model itself is left where it is: the classifier runs its own folded copy on `device`. */
  constructor(
    model: ResNet,
    readonly meta: ModelMeta,
    readonly device: Device = 'cpu',
    options: ClassifierOptions = {},
  ) {
    this.traced = (options.traced ?? false) && device === 'cpu';
    const folded = foldBatchNorm(model.eval());
    this.net = device === 'cpu' || folded !== model ? folded : copyOf(model);
    this.net.to(device);
    // A private copy (unless nothing folded on the cpu): its weights are constant from here on.
    if (this.net !== model) this.net.freezeForInference();
    this.transform = buildTransform(meta.evalTransforms);
    this.decodeHint = outputSideHint(meta.evalTransforms);
  }

  /** The `topK` most likely classes of each image; `names` label the images in errors. */
  async classify(images: readonly RawImage[], topK: number, names: readonly string[] = []): Promise<TopK[]> {
    const { meta } = this;
    const [C, H, W] = meta.inputShape;
    if (images.length === 0) return [];
    const x = Tensor.empty([images.length, C, H, W]);
    images.forEach((img, i) => {
      const out = this.transform(img, new Generator(0));
      if (out.channels !== C || out.height !== H || out.width !== W) {
        throw new Error(
          `${names[i] ?? `image ${i}`}: the model's transforms gave ${out.channels}x${out.height}x${out.width}, expected ${C}x${H}x${W}`,
        );
      }
      toTensorInto(out, meta.mean, meta.std, x.dataSync(), i * C * H * W);
    });
    const probabilities = inferenceMode(() => softmax(this.logits(x.to(this.device)), 1));
    const probs = await probabilities.data();
    const n = meta.classes.length;
    return images.map((_, i) => rankClasses(probs.subarray(i * n, (i + 1) * n), meta.classes, topK));
  }

  /** The batch sizes whose traced plans are kept, least recently used first. */
  get tracedBatchSizes(): number[] {
    return [...this.plans.keys()];
  }

  /** The network's output for x: eagerly, or by the plan for its batch size once one is traced. */
  private logits(x: Tensor): Tensor {
    const batch = x.shape[0]!;
    let plan = this.plans.get(batch);
    if (!plan && this.traced && this.seen.has(batch)) {
      plan = traceInference(this.net, x);
      if (this.plans.size >= KEPT_PLANS) this.plans.delete(this.plans.keys().next().value!);
    }
    this.seen.add(batch);
    if (!plan) return this.net.call(x);
    this.plans.delete(batch);
    this.plans.set(batch, plan);
    return plan.run(x);
  }
}

function copyOf(model: ResNet): ResNet {
  const copy = new ResNet(model.config);
  copy.loadStateDict(model.stateDict());
  return copy.eval();
}

export async function predictFiles(
  model: ResNet,
  meta: ModelMeta,
  files: readonly string[],
  options: { topK?: number; batchSize?: number; device?: Device } = {},
): Promise<Prediction[]> {
  const classifier = new Classifier(model, meta, options.device);
  const batchSize = options.batchSize ?? 16;
  const results: Prediction[] = [];
  for (let start = 0; start < files.length; start += batchSize) {
    const chunk = files.slice(start, start + batchSize);
    const decoded = await Promise.all(
      chunk.map((file) =>
        decodeImage(file, { shorterSide: classifier.decodeHint }).then(
          (img) => ({ file, img, error: null as string | null }),
          (e: Error) => ({ file, img: null, error: e.message }),
        ),
      ),
    );
    const ok = decoded.filter((d) => d.img);
    const tops = await classifier.classify(
      ok.map((d) => d.img!),
      options.topK ?? 5,
      ok.map((d) => d.file),
    );
    let next = 0;
    for (const d of decoded) {
      results.push(d.img ? { file: d.file, top: tops[next++]! } : { file: d.file, top: [], error: d.error! });
    }
  }
  return results;
}
