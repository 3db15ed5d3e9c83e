/**
 * Fused tails (batch norm or conv, + residual, + ReLU in one pass) against the ops composed by hand,
 * on every backend: values, gradients and running statistics. The fused ReLU's backward recomputes
 * its mask from x, so it must agree with relu's own (y > 0) mask exactly, not just closely.
 */
import { describe, expect, it } from 'vitest';
import {
  backward,
  createModel,
  F,
  foldBatchNorm,
  Generator,
  inferenceMode,
  manualSeed,
  noGrad,
  setBackend,
  Tensor,
  type ResNet,
} from '../../src/index.js';
import { Identity, Sequential } from '../../src/nn/index.js';
import { testBackends, useBackend } from '../helpers/backends.js';

const gen = new Generator(77);
const randn = (...shape: number[]): Tensor => Tensor.randn(shape, { generator: gen });

interface Run {
  out: number[];
  grads: number[][];
  running: number[][];
}

/** Runs f on fresh copies (gradients on all inputs), backpropagates a fixed random dy. */
function run(inputs: readonly Tensor[], f: (...t: Tensor[]) => Tensor): Run {
  const copies = inputs.map((t) => t.clone().requiresGrad_());
  const runningMean = Tensor.zeros([inputs[0]!.shape[1]!]);
  const runningVar = Tensor.ones([inputs[0]!.shape[1]!]);
  const y = f(...copies, runningMean, runningVar);
  backward(y, Tensor.randn(y.shape, { generator: new Generator(5) }));
  return {
    out: y.toArray(),
    grads: copies.map((c) => c.grad!.toArray()),
    running: [runningMean.toArray(), runningVar.toArray()],
  };
}

for (const backend of testBackends()) {
  describe(`fused tails on the ${backend.name} backend`, () => {
    useBackend(backend);

    // [N, C, H, W] with C not a multiple of 8 and odd spatial sizes; about half the values negative.
    const x = randn(2, 5, 3, 7);
    const residual = randn(2, 5, 3, 7);
    const gamma = randn(5);
    const beta = randn(5);

    for (const training of [true, false]) {
      const bn = (t: Tensor, w: Tensor, b: Tensor, rm: Tensor, rv: Tensor, tail = {}): Tensor =>
        F.batchNorm(t, { weight: w, bias: b, runningMean: rm, runningVar: rv, training, ...tail });

      it(`batch_norm + relu (${training ? 'train' : 'eval'}) equals relu(batch_norm) exactly`, () => {
        const fused = run([x, gamma, beta], (t, w, b, rm, rv) => bn(t, w, b, rm!, rv!, { relu: true }));
        const composed = run([x, gamma, beta], (t, w, b, rm, rv) => F.relu(bn(t, w, b, rm!, rv!)));
        expect(fused.out).toEqual(composed.out);
        expect(fused.grads).toEqual(composed.grads);
        expect(fused.running).toEqual(composed.running);
        expect(fused.out.filter((v) => v === 0).length).toBeGreaterThan(20);
      });

      it(`batch_norm + residual + relu (${training ? 'train' : 'eval'}) equals relu(batch_norm + r) exactly`, () => {
        const fused = run([x, gamma, beta, residual], (t, w, b, r, rm, rv) =>
          bn(t, w, b, rm!, rv!, { residual: r, relu: true }),
        );
        const composed = run([x, gamma, beta, residual], (t, w, b, r, rm, rv) =>
          F.relu(F.add(bn(t, w, b, rm!, rv!), r!)),
        );
        expect(fused.out).toEqual(composed.out);
        expect(fused.grads).toEqual(composed.grads);
        const plain = run([x, gamma, beta, residual], (t, w, b, r, rm, rv) =>
          bn(t, w, b, rm!, rv!, { residual: r }),
        );
        const plainComposed = run([x, gamma, beta, residual], (t, w, b, r, rm, rv) =>
          F.add(bn(t, w, b, rm!, rv!), r!),
        );
        expect(plain.out).toEqual(plainComposed.out);
        expect(plain.grads).toEqual(plainComposed.grads);
      });
    }

    it('batch_norm with an affine-free fused relu recomputes the mask without gamma and beta', () => {
      const f =
        (tail: { relu?: boolean }) =>
        (t: Tensor, rm?: Tensor, rv?: Tensor): Tensor => {
          const y = F.batchNorm(t, { runningMean: rm!, runningVar: rv!, training: true, ...tail });
          return tail.relu ? y : F.relu(y);
        };
      expect(run([x], f({ relu: true }))).toEqual(run([x], f({})));
    });

    it('conv2d + bias + residual + relu equals the composition, with and without gradients', () => {
      const w = randn(6, 5, 3, 3);
      const b = randn(6);
      const r = randn(2, 6, 2, 4);
      const options = { stride: 2, padding: 1 } as const;
      const composed = F.relu(F.add(F.conv2d(x, w, b, options), r));
      const fused = noGrad(() => F.conv2d(x, w, b, { ...options, residual: r, relu: true }));
      expect(fused.toArray()).toEqual(composed.toArray());
      const reluOnly = noGrad(() => F.conv2d(x, w, null, { ...options, relu: true }));
      expect(reluOnly.toArray()).toEqual(F.relu(F.conv2d(x, w, null, options)).toArray());
      // With gradients the op composes, so the backward is the composition's.
      const withGrad = run([x, w, b, r], (t, ww, bb, rr) =>
        F.conv2d(t, ww!, bb!, { ...options, residual: rr, relu: true }),
      );
      const byHand = run([x, w, b, r], (t, ww, bb, rr) => F.relu(F.add(F.conv2d(t, ww!, bb!, options), rr!)));
      expect(withGrad).toEqual(byHand);
    });

    it('ungrouped conv2d on a large map (the native backend fuses bias, residual and ReLU in oneDNN) equals the composition', () => {
      // [C, H, W, kernel, stride, pad]: 1x1 and 1x1 stride 2, 3x3 stride 2, the 7x7 stem on 3 channels
      for (const [C, H, W, k, stride, pad] of [
        [12, 24, 23, 1, 1, 0],
        [12, 47, 45, 1, 2, 0],
        [12, 70, 67, 3, 2, 1],
        [3, 67, 61, 7, 2, 3],
      ] as const) {
        const big = randn(2, C, H, W);
        const w = randn(16, C, k, k);
        const b = randn(16);
        const options = { stride, padding: pad };
        const conv = F.conv2d(big, w, b, options);
        const r = randn(...conv.shape);
        const fused = noGrad(() => F.conv2d(big, w, b, { ...options, relu: true }));
        expect(fused.toArray()).toEqual(F.relu(conv).toArray());
        const withResidual = noGrad(() =>
          F.conv2d(big, w, b, { ...options, residual: r, relu: true }),
        ).toArray();
        // oneDNN may run a convolution with a residual on another kernel than the plain one (on
        // AVX-512, jit_1x1 instead of brgconv_1x1), summing the channels in another order.
        const composed = F.relu(F.add(conv, r)).toArray();
        const scale = Math.max(1, ...composed.map(Math.abs));
        expect(Math.max(...withResidual.map((v, i) => Math.abs(v - composed[i]!)))).toBeLessThanOrEqual(
          1e-5 * scale,
        );
        // A NaN input reaches the outputs of its windows through the fused ReLU, as through torch.relu.
        const withNaN = big.clone();
        withNaN.dataSync()[0] = Number.NaN;
        const fusedNaN = noGrad(() => F.conv2d(withNaN, w, b, { ...options, relu: true })).toArray();
        expect(fusedNaN.some(Number.isNaN)).toBe(true);
        expect(fusedNaN).toEqual(F.relu(F.conv2d(withNaN, w, b, options)).toArray());
      }
    });

    it('ReLU lets NaN through, plain and fused, forward and backward, as torch.relu', () => {
      const withNaN = x.clone();
      withNaN.dataSync()[3] = Number.NaN;
      const plain = run([withNaN], (t) => F.relu(t));
      expect(Number.isNaN(plain.out[3]!)).toBe(true);
      expect(Number.isNaN(plain.grads[0]![3]!)).toBe(false);
      expect(plain.grads[0]![3]).not.toBe(0); // the gradient passes a NaN input, as threshold_backward
      // Batch norm in eval mode with one NaN running variance: that channel turns NaN, fused or not.
      const nanVar = (t: Tensor, w: Tensor, b: Tensor, rm?: Tensor, rv?: Tensor, tail = {}): Tensor => {
        rv!.dataSync()[1] = Number.NaN;
        return F.batchNorm(t, {
          weight: w,
          bias: b,
          runningMean: rm!,
          runningVar: rv!,
          training: false,
          ...tail,
        });
      };
      const fused = run([x, gamma, beta], (t, w, b, rm, rv) => nanVar(t, w, b, rm, rv, { relu: true }));
      const composed = run([x, gamma, beta], (t, w, b, rm, rv) => F.relu(nanVar(t, w, b, rm, rv)));
      const channel1 = (out: number[]): number[] => out.filter((_, i) => Math.floor(i / 21) % 5 === 1);
      expect(channel1(fused.out).every(Number.isNaN)).toBe(true);
      expect(channel1(composed.out).every(Number.isNaN)).toBe(true);
      expect(fused.out.filter((v) => !Number.isNaN(v))).toEqual(composed.out.filter((v) => !Number.isNaN(v)));
    });

    it('conv2d intoResidual writes over a temporary residual where the backend takes it, and nothing else', () => {
      const w = randn(6, 5, 3, 3);
      const b = randn(6);
      const options = { padding: 1 } as const;
      const source = randn(2, 6, 3, 7);
      // A temporary in the backend's own layout, as a residual block's identity is.
      const temporary = (): Tensor => F.relu(source.toFormat(backend.activationFormat));
      const expected = F.relu(F.add(F.conv2d(x, w, b, options), F.relu(source))).toArray();
      const close = (got: number[]): void =>
        expect(Math.max(...got.map((v, i) => Math.abs(v - expected[i]!)))).toBeLessThanOrEqual(1e-5);
      const tail = { ...options, relu: true, intoResidual: true } as const;

      const r = temporary();
      const y = noGrad(() => F.conv2d(x, w, b, { ...tail, residual: r }));
      close(y.toArray());
      expect(y.storage === r.storage).toBe(backend.conv2dIntoResidual === true);

      // an array the caller made is theirs: never written over
      const given = temporary();
      const own = new Tensor(Float32Array.from(given.dataSync()), given.shape, 'float32', {
        format: given.format,
      });
      const before = own.toArray();
      const fromOwn = noGrad(() => F.conv2d(x, w, b, { ...tail, residual: own }));
      expect(fromOwn.storage).not.toBe(own.storage);
      expect(own.toArray()).toEqual(before);
      close(fromOwn.toArray());

      // with gradients recorded the op composes, and the residual stays
      const wg = w.clone().requiresGrad_();
      const kept = temporary();
      const keptValues = kept.toArray();
      const withGrad = F.conv2d(x, wg, b, { ...tail, residual: kept });
      expect(withGrad.storage).not.toBe(kept.storage);
      expect(kept.toArray()).toEqual(keptValues);
      close(withGrad.toArray());
      backward(F.sum(withGrad));
      expect(wg.grad!.toArray().some((v) => v !== 0)).toBe(true);
    });

    it('a frozen ResNeXt adds each residual into its identity where nothing else reads it', () => {
      manualSeed(4);
      const model = foldBatchNorm(createModel('resnext_tiny', { numClasses: 5 }).eval()).freezeForInference();
      const input = randn(2, 3, 33, 35);
      const reference = inferenceMode(() => model.setFusion(false).forward(input)).toArray();
      model.setFusion(true);
      const intoResidual = (): number => {
        let calls = 0;
        const counting = {
          ...backend,
          conv2d: (...a: Parameters<typeof backend.conv2d>) => {
            if (a[5]?.residual && a[5].residual === a[4]) calls++;
            backend.conv2d(...a);
          },
        };
        const previous = setBackend(counting);
        try {
          const logits = inferenceMode(() => model.forward(input)).toArray();
          expect(Math.max(...logits.map((v, i) => Math.abs(v - reference[i]!)))).toBeLessThanOrEqual(1e-5);
        } finally {
          setBackend(previous);
        }
        return calls;
      };
      // five blocks: four with a downsample (their own identity), one handed its input by the stage
      expect(intoResidual()).toBe(backend.conv2dIntoResidual ? 5 : 0);

      // A hook that keeps the first block of stage 2's output: the next block must not write over it
      // (and neither hooked block writes over its identity).
      const stage = model.stages[1]!;
      let keptOutput: Tensor | null = null;
      let keptValues: number[] = [];
      let seenLater: number[] = [];
      const first = stage.at(0).registerForwardHook((_m, _in, out) => {
        keptOutput = out;
        keptValues = out.toArray();
      });
      const second = stage.at(1).registerForwardHook(() => {
        seenLater = keptOutput!.toArray();
      });
      try {
        expect(intoResidual()).toBe(backend.conv2dIntoResidual ? 3 : 0);
        expect(seenLater).toEqual(keptValues);
      } finally {
        first.remove();
        second.remove();
      }

      // A container whose first layer passes its input through must not hand the caller's tensor on.
      const block = stage.at(1);
      const passThrough = new Sequential(new Identity(), block);
      // (stage 2's blocks take 64 channels), in the layout the backend's kernels read
      const features = inferenceMode(() => F.relu(randn(2, 64, 3, 4).toFormat(backend.activationFormat)));
      const featureValues = features.toArray();
      inferenceMode(() => passThrough.forward(features));
      expect(features.toArray()).toEqual(featureValues);
    });

    it('names the residual shape at fault', () => {
      expect(() =>
        F.batchNorm(x, { runningMean: null, runningVar: null, training: true, residual: randn(2, 5, 3, 6) }),
      ).toThrow("batch_norm: residual must have the input's shape [2, 5, 3, 7], got [2, 5, 3, 6]");
      expect(() => F.conv2d(x, randn(6, 5, 1, 1), null, { residual: randn(2, 6, 3, 6) })).toThrow(
        "conv2d: residual must have the output's shape [2, 6, 3, 7], got [2, 6, 3, 6]",
      );
    });

    it('a ResNeXt forward and backward with fused passes equals the unfused one', () => {
      const make = (): ResNet => {
        manualSeed(3);
        return createModel('resnext_tiny', { numClasses: 5 });
      };
      const input = randn(2, 3, 33, 35);
      const results = [true, false].map((fusion) => {
        const model = make().setFusion(fusion);
        const logits = model.forward(input);
        backward(F.crossEntropy(logits, Tensor.int64([0, 3])));
        const grads = model.namedParameters().map(([name, p]) => [name, p.grad!.toArray()] as const);
        const state = Object.entries(model.stateDict()).map(([k, v]) => [k, v.toArray()] as const);
        model.eval();
        const evalLogits = inferenceMode(() => model.forward(input)).toArray();
        const folded = foldBatchNorm(model).setFusion(fusion);
        const foldedLogits = inferenceMode(() => folded.forward(input)).toArray();
        return { logits: logits.toArray(), grads, state, evalLogits, foldedLogits };
      });
      const [fused, unfused] = results as [(typeof results)[0], (typeof results)[0]];
      expect(fused.logits).toEqual(unfused.logits);
      expect(fused.grads).toEqual(unfused.grads);
      expect(fused.state).toEqual(unfused.state);
      expect(fused.evalLogits).toEqual(unfused.evalLogits);
      expect(fused.foldedLogits).toEqual(unfused.foldedLogits);
    });
  });
}
