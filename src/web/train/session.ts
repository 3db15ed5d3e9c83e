/**
 * Training a small ResNeXt in the browser: images decoded and transformed once (as `resnext
 * predict` transforms them: resize to the input size, ImageNet normalisation), then SGD steps on
 * random batches on the WebGPU device (the reference kernels where there is none), and the
 * weights exported as a resnext checkpoint (safetensors) that `resnext predict --weights` loads.
 */
import {
  backward,
  createModel,
  F,
  Generator,
  initWebGpu,
  nn,
  noGrad,
  SGD,
  serializeSafetensors,
  Tensor,
  type Device,
  type DType,
  type ResNet,
} from '../../browser.js';
import { buildTransform, toTensorInto, type Transform, type TransformSpec } from '../../data/transforms.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../../models/registry.js';
import { CHECKPOINT_FORMAT, type ModelMeta } from '../../train/meta.js';
import { ClassificationMetrics } from '../../train/metrics.js';
import { rankClasses, type TopK } from '../../train/top-k.js';
import { decodeInBrowser } from '../pixels.js';
import type { ImageFolder } from './folder.js';

export interface TrainSettings {
  arch: string;
  imageSize: number;
  steps: number;
  batchSize: number;
  lr: number;
  momentum: number;
  seed: number;
}

export const DEFAULT_SETTINGS: TrainSettings = {
  arch: 'resnext_tiny',
  imageSize: 32,
  steps: 60,
  batchSize: 16,
  lr: 0.05,
  momentum: 0.9,
  seed: 0,
};

export interface StepRecord {
  step: number;
  loss: number;
  accuracy: number;
}

/** The device training runs on: WebGPU when the browser offers an adapter, else the reference kernels. */
export async function chooseDevice(): Promise<{ device: Device; description: string }> {
  try {
    const context = await initWebGpu();
    const a = context.adapter;
    return {
      device: 'webgpu',
      description: `WebGPU (${[a.vendor, a.architecture].filter(Boolean).join(' ')})`,
    };
  } catch (error) {
    return { device: 'cpu', description: `CPU, TypeScript kernels (${(error as Error).message})` };
  }
}

export class TrainingSession {
  readonly meta: ModelMeta;
  readonly model: ResNet;
  private readonly transform: Transform;
  private inputs = new Float32Array(0);
  private labels: number[] = [];
  private readonly generator: Generator;
  skipped: string[] = [];

  constructor(
    readonly folder: ImageFolder,
    readonly settings: TrainSettings,
    readonly device: Device,
  ) {
    const s = settings.imageSize;
    const evalTransforms: TransformSpec[] = [{ type: 'resize', size: [s, s] }];
    this.meta = {
      arch: settings.arch,
      classes: folder.classes,
      inputShape: [3, s, s],
      mean: [...IMAGENET_MEAN],
      std: [...IMAGENET_STD],
      evalTransforms,
    };
    this.transform = buildTransform(evalTransforms);
    this.generator = new Generator(settings.seed);
    this.model = createModel(settings.arch, { numClasses: folder.classes.length }).to(device);
  }

  /** Decodes and transforms every image once; unreadable ones are listed in `skipped`. */
  async load(onProgress: (done: number, total: number) => void): Promise<void> {
    const per = 3 * this.settings.imageSize * this.settings.imageSize;
    const inputs = new Float32Array(this.folder.samples.length * per);
    let n = 0;
    for (const [i, sample] of this.folder.samples.entries()) {
      try {
        const image = this.transform(await decodeInBrowser(sample.file, sample.path), this.generator);
        toTensorInto(image, this.meta.mean, this.meta.std, inputs, n * per);
        this.labels.push(sample.label);
        n++;
      } catch (error) {
        this.skipped.push(`${sample.path}: ${(error as Error).message}`);
      }
      onProgress(i + 1, this.folder.samples.length);
    }
    this.inputs = inputs.subarray(0, n * per);
  }

  get imageCount(): number {
    return this.labels.length;
  }

  /** One SGD step on a random batch; resolves with its loss and accuracy (read back from the device). */
  async step(optimizer: SGD, step: number): Promise<StepRecord> {
    const { batchSize, imageSize: s } = this.settings;
    const per = 3 * s * s;
    const count = Math.min(batchSize, this.labels.length);
    const x = new Float32Array(count * per);
    const y: number[] = [];
    for (let i = 0; i < count; i++) {
      const k = Math.floor(this.generator.uniform() * this.labels.length);
      x.set(this.inputs.subarray(k * per, (k + 1) * per), i * per);
      y.push(this.labels[k]!);
    }
    this.model.train();
    optimizer.zeroGrad();
    const labels = Tensor.int64(y);
    const logits = this.model.forward(new Tensor(x, [count, 3, s, s], 'float32').to(this.device));
    const loss = F.crossEntropy(logits, labels);
    backward(loss);
    optimizer.step();
    const [lossValue, hostLogits] = await Promise.all([loss.data(), logits.cpu()]);
    const metrics = new ClassificationMetrics(this.folder.classes);
    metrics.update(hostLogits, labels, lossValue[0]!);
    return { step, loss: lossValue[0]!, accuracy: metrics.accuracy };
  }

  /**
   * Recomputes every batch norm's running statistics as the average over all training images with
   * the final weights (as torch.optim.swa_utils.update_bn): after a short run at a high learning
   * rate the moving averages trail the weights, and eval-mode predictions suffer for it.
   */
  async recalibrateBatchNorm(): Promise<void> {
    const norms = this.model
      .namedModules()
      .map(([, m]) => m)
      .filter((m): m is nn.BatchNorm2d => m instanceof nn.BatchNorm2d);
    const saved = norms.map((bn) => bn.momentum);
    for (const bn of norms) {
      bn.momentum = null;
      bn.runningMean?.copy_(Tensor.zeros([bn.numFeatures]));
      bn.runningVar?.copy_(Tensor.ones([bn.numFeatures]));
      bn.numBatchesTracked?.dataSync().fill(0n);
    }
    const s = this.settings.imageSize;
    const per = 3 * s * s;
    this.model.train();
    try {
      for (let start = 0; start < this.labels.length; start += this.settings.batchSize) {
        const count = Math.min(this.settings.batchSize, this.labels.length - start);
        if (count < 2) break;
        const x = new Tensor(
          this.inputs.slice(start * per, (start + count) * per),
          [count, 3, s, s],
          'float32',
        );
        await noGrad(() => this.model.forward(x.to(this.device))).data();
      }
    } finally {
      norms.forEach((bn, i) => (bn.momentum = saved[i]!));
    }
  }

  optimizer(): SGD {
    return new SGD(this.model.parameters(), { lr: this.settings.lr, momentum: this.settings.momentum });
  }

  /** Top-k classes of one image file with the current weights (eval mode). */
  async predict(file: File, k = 5): Promise<TopK> {
    const s = this.settings.imageSize;
    const input = new Float32Array(3 * s * s);
    toTensorInto(
      this.transform(await decodeInBrowser(file, file.name), this.generator),
      this.meta.mean,
      this.meta.std,
      input,
      0,
    );
    this.model.eval();
    const probabilities = noGrad(() =>
      F.softmax(this.model.forward(new Tensor(input, [1, 3, s, s], 'float32').to(this.device)), 1),
    );
    return rankClasses(await probabilities.data(), this.meta.classes, Math.min(k, this.meta.classes.length));
  }

  /** The weights as a resnext checkpoint (safetensors with the model metadata); the model stays on its device. */
  async exportCheckpoint(): Promise<Uint8Array> {
    const tensors = new Map<string, Tensor<DType>>();
    for (const [name, t] of this.model.stateDict()) {
      const host = await t.cpu();
      if (host.dtype === 'float32' && !(host.dataSync() as Float32Array).every(Number.isFinite)) {
        throw new Error(`not exported: ${name} holds NaN or infinite values`);
      }
      tensors.set(name, host);
    }
    return serializeSafetensors(tensors, {
      metadata: { format: CHECKPOINT_FORMAT, model: JSON.stringify(this.meta) },
    });
  }
}
