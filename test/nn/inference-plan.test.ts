import { describe, expect, it } from 'vitest';
import {
  F,
  foldBatchNorm,
  Generator,
  inferenceMode,
  nn,
  Tensor,
  traceInference,
  tsBackend,
  type Backend,
  type Module,
} from '../../src/index.js';
import { maxAbsDiff } from '../helpers/assert.js';
import { testBackends, useBackend } from '../helpers/backends.js';
import { tinyModel } from '../helpers/tiny.js';

function noGradValues(fn: (x: Tensor) => Tensor, x: Tensor): Float32Array {
  return new Float32Array(inferenceMode(() => fn(x)).dataSync() as Float32Array);
}

function eager(model: Module, x: Tensor): Float32Array {
  return new Float32Array(inferenceMode(() => model.call(x)).dataSync() as Float32Array);
}

for (const backend of testBackends({ includeNhwcAdapter: false })) {
  describe(`traceInference on ${backend.name}`, () => {
    useBackend(backend);
    const gen = new Generator(11);
    const folded = () => foldBatchNorm(tinyModel().eval()).freezeForInference();

    it('replays a folded ResNeXt to the eager result, for inputs other than the example', () => {
      const model = folded();
      const example = Tensor.randn([3, 3, 32, 32], { generator: gen });
      const plan = traceInference(model, example);
      expect(plan.inputShape).toEqual([3, 3, 32, 32]);
      for (let trial = 0; trial < 3; trial++) {
        const x = Tensor.randn([3, 3, 32, 32], { generator: gen, std: 1 + trial });
        const y = plan.run(x);
        expect(y.shape).toEqual([3, 5]);
        expect(maxAbsDiff(y.dataSync(), eager(model, x))).toBe(0);
      }
    });

    it('returns a tensor of its own each run, and leaves the input alone', () => {
      const model = folded();
      const a = Tensor.randn([2, 3, 32, 32], { generator: gen });
      const b = Tensor.randn([2, 3, 32, 32], { generator: gen });
      const aValues = new Float32Array(a.dataSync() as Float32Array);
      const plan = traceInference(model, a);
      const ya = plan.run(a);
      const yaValues = new Float32Array(ya.dataSync() as Float32Array);
      plan.run(b);
      expect(maxAbsDiff(ya.dataSync(), yaValues)).toBe(0);
      expect(maxAbsDiff(a.dataSync(), aValues)).toBe(0);
    });

    it('shares buffers between intermediates whose lifetimes do not overlap', () => {
      // Six convolutions in a row, each output read only by the next: two buffers take them all
      // (a third where the native backend converts the input to NHWC first).
      const layers = Array.from({ length: 6 }, () => new nn.Conv2d(4, 4, 3, { padding: 1 }));
      const model = new nn.Sequential(...layers).eval();
      const x = Tensor.randn([2, 4, 8, 8], { generator: gen });
      const activation = x.numel * 4;
      const plan = traceInference(model, x);
      expect(plan.bytes).toBeGreaterThanOrEqual(3 * activation);
      expect(plan.bytes).toBeLessThanOrEqual(4 * activation);
      expect(maxAbsDiff(plan.run(x).dataSync(), eager(model, x))).toBe(0);
    });

    it('traces a function of a tensor, and runs inputs of the other memory format', () => {
      const model = folded();
      const fn = (x: Tensor): Tensor => F.softmax(model.call(x), 1);
      const example = Tensor.randn([2, 3, 32, 32], { generator: gen });
      const plan = traceInference(fn, example);
      const x = Tensor.randn([2, 3, 32, 32], { generator: gen });
      const want = inferenceMode(() => fn(x)).dataSync();
      expect(maxAbsDiff(plan.run(x.toFormat('nhwc')).dataSync(), want)).toBe(0);
    });

    it('owns the buffers of a function that runs its own inferenceMode, never the pool', () => {
      const w1 = Tensor.randn([8, 3, 3, 3], { generator: gen });
      const w2 = Tensor.randn([4, 8, 3, 3], { generator: gen });
      const convs = (t: Tensor): Tensor => F.conv2d(F.relu(F.conv2d(t, w1, null, { padding: 1 })), w2);
      const x = Tensor.randn([2, 3, 32, 32], { generator: gen });
      const plan = traceInference((t: Tensor) => inferenceMode(() => convs(t)), x);
      // The inner inferenceMode gave its intermediates back to the pool; eager passes take them.
      const kept = [0, 1, 2].map(() =>
        inferenceMode(() =>
          F.conv2d(Tensor.randn([2, 3, 32, 32], { generator: gen }), w1, null, { padding: 1 }),
        ),
      );
      const keptValues = kept.map((k) => new Float32Array(k.dataSync() as Float32Array));
      expect(maxAbsDiff(plan.run(x).dataSync(), noGradValues(convs, x))).toBe(0);
      kept.forEach((k, i) => expect(maxAbsDiff(k.dataSync(), keptValues[i]!), `kept ${i}`).toBe(0));
    });

    it('names the traced shape when run on another', () => {
      const plan = traceInference(folded(), Tensor.randn([2, 3, 32, 32], { generator: gen }));
      expect(() => plan.run(Tensor.randn([1, 3, 32, 32]))).toThrow(
        /traced for input \[2, 3, 32, 32\], got \[1, 3, 32, 32\]/,
      );
    });

    it('refuses a function that computes outside the kernels', () => {
      const linear = new nn.Linear(4, 3);
      // The scale is read in JavaScript from the input's values: a replay would keep the example's.
      const fn = (x: Tensor): Tensor => F.scale(linear.call(x), (x.dataSync()[0] as number) > 0 ? 2 : 3);
      const example = Tensor.fromArray([1, 2, 3, 4, -1, -2, -3, -4], [2, 4]);
      expect(() => traceInference(fn, example)).toThrow(/cannot be traced; run it eagerly/);
    });

    it('refuses an intermediate filled in JavaScript, which a replay never writes', () => {
      const linear = new nn.Linear(4, 3);
      const fn = (x: Tensor): Tensor => {
        const y = linear.call(x);
        const doubled = F.add(y, y);
        (doubled.dataSync() as Float32Array).fill(1);
        return F.add(doubled, y);
      };
      expect(() => traceInference(fn, Tensor.randn([2, 4], { generator: gen }))).toThrow(/cannot be traced/);
    });
  });
}

describe('traceInference on a backend whose kernels are inherited', () => {
  // A backend may be a class instance, or an object over another backend's prototype.
  useBackend(Object.create(tsBackend) as Backend);

  it('records the inherited kernels too', () => {
    const model = new nn.Sequential(new nn.Conv2d(3, 4, 3, { padding: 1 }), new nn.ReLU()).eval();
    const x = Tensor.randn([1, 3, 6, 6], { generator: new Generator(5) });
    const plan = traceInference(model, x);
    const y = Tensor.randn([1, 3, 6, 6], { generator: new Generator(6) });
    expect(maxAbsDiff(plan.run(y).dataSync(), eager(model, y))).toBe(0);
  });
});

describe('traceInference input checks', () => {
  it('takes a float32 example on the cpu', () => {
    const model = new nn.Linear(4, 3);
    expect(() => traceInference(model, Tensor.int64([1, 2, 3, 4], [1, 4]) as unknown as Tensor)).toThrow(
      /the example must be a float32 tensor on the cpu, got int64 on cpu/,
    );
  });
});
