/**
 * ONNX Runtime as the benchmark's comparator: our network exported to ONNX (batch norm folded, as
 * our inference runs it) in onnxruntime-node (a dev dependency, imported only when asked for), with
 * as many intra-op threads as the native backend uses.
 */
import { exportOnnx, foldBatchNorm, nativeInfo, type ResNet } from '../src/index.js';
import { median } from './stats.js';

type Ort = typeof import('onnxruntime-node');

export class OrtComparator {
  private constructor(
    private readonly ort: Ort,
    private readonly session: import('onnxruntime-node').InferenceSession,
    private readonly size: number,
    readonly threads: number,
  ) {}

  static async create(model: ResNet, size: number): Promise<OrtComparator> {
    const ort = await import('onnxruntime-node');
    const threads = nativeInfo()?.threads ?? 1;
    const bytes = exportOnnx(foldBatchNorm(model.eval()), { inputShape: [3, size, size] });
    const session = await ort.InferenceSession.create(bytes, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
    return new OrtComparator(ort, session, size, threads);
  }

  get version(): string {
    return this.ort.env.versions?.common ?? 'onnxruntime-node';
  }

  /** Images per second at `batch`: the median of `repeats` runs after one warm-up. */
  async rate(batch: number, repeats: number): Promise<number> {
    const data = new Float32Array(batch * 3 * this.size * this.size).map(() => Math.random() - 0.5);
    const feeds = {
      [this.session.inputNames[0]!]: new this.ort.Tensor('float32', data, [batch, 3, this.size, this.size]),
    };
    await this.session.run(feeds);
    const times: number[] = [];
    for (let r = 0; r < repeats; r++) {
      const t0 = performance.now();
      await this.session.run(feeds);
      times.push((performance.now() - t0) / 1000);
    }
    return batch / median(times);
  }
}
