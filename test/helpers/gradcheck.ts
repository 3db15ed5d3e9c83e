import { expect } from 'vitest';
import { backward, Generator, noGrad, Tensor } from '../../src/index.js';

export interface GradcheckOptions {
  /** Finite-difference step. */
  h?: number;
  atol?: number;
  rtol?: number;
  /** Check at most this many entries per input (spread evenly), to keep big inputs fast. */
  maxEntries?: number;
  seed?: number;
}

/**
 * Compares autograd gradients of L = Σ r·f(inputs) (r a fixed random tensor) with central differences
 * (L(x + h) − L(x − h)) / 2h, evaluated in double precision over the float32 outputs.
 */
export function gradcheck(
  f: (...inputs: Tensor[]) => Tensor,
  inputs: Tensor[],
  options: GradcheckOptions = {},
): void {
  const { h = 1e-2, atol = 2e-3, rtol = 1e-2, maxEntries = 60, seed = 7 } = options;
  const gen = new Generator(seed);
  for (const x of inputs) {
    x.requiresGrad_(true);
    x.grad = null;
  }
  const y = f(...inputs);
  const r = Tensor.randn(y.shape, { generator: gen });
  backward(y, r);
  const objective = (): number =>
    noGrad(() => {
      const out = f(...inputs)
        .toFormat('nchw')
        .dataSync();
      let s = 0;
      for (let i = 0; i < out.length; i++) s += out[i]! * r.dataSync()[i]!;
      return s;
    });
  inputs.forEach((x, which) => {
    expect(x.grad, `input ${which} got a gradient`).not.toBeNull();
    const analytic = x.grad!.dataSync();
    const n = x.numel;
    const stride = Math.max(1, Math.floor(n / maxEntries));
    for (let i = 0; i < n; i += stride) {
      const saved = x.dataSync()[i]!;
      x.dataSync()[i] = saved + h;
      const up = objective();
      x.dataSync()[i] = saved - h;
      const down = objective();
      x.dataSync()[i] = saved;
      const numeric = (up - down) / (2 * h);
      const tol = atol + rtol * Math.abs(numeric);
      expect(
        Math.abs(analytic[i]! - numeric),
        `input ${which} entry ${i}: analytic ${analytic[i]} vs numeric ${numeric}`,
      ).toBeLessThanOrEqual(tol);
    }
  });
}

/** Values in ±[low, high] with random signs: away from ReLU's kink at 0. */
export function awayFromZero(shape: number[], gen: Generator, low = 0.1, high = 1): Tensor {
  const t = Tensor.empty(shape);
  for (let i = 0; i < t.numel; i++) {
    const v = low + (high - low) * gen.uniform();
    t.dataSync()[i] = gen.uniform() < 0.5 ? -v : v;
  }
  return t;
}

/** A random permutation of well-separated values: no ties for max pooling to trip over. */
export function distinctValues(shape: number[], gen: Generator, spacing = 0.05): Tensor {
  const t = Tensor.empty(shape);
  const order = gen.shuffle(Array.from({ length: t.numel }, (_, i) => i));
  order.forEach((rank, i) => (t.dataSync()[i] = (rank - t.numel / 2) * spacing));
  return t;
}
