/**
 * Classification in the page: the server's ONNX export run by onnxruntime-web, on WebAssembly (with
 * threads when the page is cross-origin isolated) or on WebGPU. Preprocessing is the engine's own
 * transform code (src/data/transforms.ts, bundled), so the network sees the tensor `resnext predict`
 * builds from the same pixels.
 */
import * as ort from 'onnxruntime-web';
import { buildTransform, toTensorInto, type Transform } from '../data/transforms.js';
import { Generator } from '../tensor/rng.js';
import { rankClasses, type TopK } from '../train/top-k.js';
import type { Engine, ModelInfo, Outcome } from './model.js';
import { BrowserDecodeError, decodeInBrowser } from './pixels.js';

export type BrowserBackend = 'wasm' | 'webgpu';

/** Threads for WebAssembly: every core (up to 8) when SharedArrayBuffer is allowed, else one. */
export function wasmThreads(): number {
  return globalThis.crossOriginIsolated ? Math.min(8, navigator.hardwareConcurrency || 1) : 1;
}

/** Whether this browser offers a WebGPU adapter. */
export async function hasWebGpu(): Promise<boolean> {
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (!gpu) return false;
  try {
    return (await gpu.requestAdapter()) !== null;
  } catch {
    return false;
  }
}

/** Probabilities of one row of logits (float64 softmax), the `k` largest first. */
export function topK(logits: Float32Array, classes: readonly string[], k: number): TopK {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  const exps = Array.from(logits, (v) => Math.exp(v - max));
  const total = exps.reduce((a, b) => a + b, 0);
  return rankClasses(
    exps.map((e) => e / total),
    classes,
    k,
  );
}

export class BrowserEngine implements Engine {
  readonly description: string;
  private readonly transform: Transform;

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly model: ModelInfo,
    backend: BrowserBackend,
  ) {
    this.transform = buildTransform(model.eval_transforms);
    this.description =
      backend === 'webgpu'
        ? 'browser: onnxruntime-web webgpu'
        : `browser: onnxruntime-web wasm, ${ort.env.wasm.numThreads} thread${ort.env.wasm.numThreads === 1 ? '' : 's'}`;
  }

  static async create(model: ModelInfo, backend: BrowserBackend): Promise<BrowserEngine> {
    if (!model.onnx) throw new Error('the server offers no ONNX export of its model');
    ort.env.wasm.wasmPaths = '/ort/';
    ort.env.wasm.numThreads = wasmThreads();
    const session = await ort.InferenceSession.create(model.onnx, {
      executionProviders: [backend],
      graphOptimizationLevel: 'all',
    });
    return new BrowserEngine(session, model, backend);
  }

  /** The network's logits for one preprocessed [1, C, H, W] input. */
  async logits(input: Float32Array): Promise<Float32Array> {
    const [C, H, W] = this.model.input_shape;
    const feeds = { [this.session.inputNames[0]!]: new ort.Tensor('float32', input, [1, C, H, W]) };
    const out = await this.session.run(feeds);
    return (await out[this.session.outputNames[0]!]!.getData()) as Float32Array;
  }

  async classify(file: File, k: number): Promise<Outcome> {
    const started = performance.now();
    const { input_shape: shape, mean, std, classes } = this.model;
    const [C, H, W] = shape;
    let input: Float32Array;
    try {
      const image = this.transform(await decodeInBrowser(file, file.name), new Generator(0));
      if (image.channels !== C || image.height !== H || image.width !== W)
        throw new BrowserDecodeError(
          `${file.name}: the model's transforms gave ${image.channels}x${image.height}x${image.width}, expected ${C}x${H}x${W}`,
        );
      input = new Float32Array(C * H * W);
      toTensorInto(image, mean, std, input, 0);
    } catch (e) {
      if (e instanceof BrowserDecodeError) return { ok: false, error: e.message, ranOn: this.description };
      throw e;
    }
    const decoded = performance.now();
    const logits = await this.logits(input);
    const done = performance.now();
    return {
      ok: true,
      top: topK(logits, classes, k),
      timings: { decode_ms: decoded - started, inference_ms: done - decoded, total_ms: done - started },
      ranOn: this.description,
    };
  }
}
