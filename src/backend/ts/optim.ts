/** Reference SGD and Adam updates; every intermediate rounded to float32 as PyTorch computes it. */
import type { AdamStepOptions, SgdStepOptions } from '../backend.js';

export function sgdStep(
  param: Float32Array,
  grad: Float32Array,
  momentumBuffer: Float32Array | null,
  o: SgdStepOptions,
): void {
  const f = Math.fround;
  for (let i = 0; i < param.length; i++) {
    let d = o.weightDecay !== 0 ? f(grad[i]! + f(o.weightDecay * param[i]!)) : grad[i]!;
    if (momentumBuffer) {
      const b = o.first ? d : f(f(o.momentum * momentumBuffer[i]!) + f((1 - o.dampening) * d));
      momentumBuffer[i] = b;
      d = o.nesterov ? f(d + f(o.momentum * b)) : b;
    }
    param[i] = f(param[i]! - f(o.lr * d));
  }
}

export function adamStep(
  w: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  o: AdamStepOptions,
): void {
  const f = Math.fround;
  const stepSize = o.lr / (1 - o.beta1 ** o.step);
  const bc2Sqrt = Math.sqrt(1 - o.beta2 ** o.step);
  const decay = o.decoupled ? 1 - o.lr * o.weightDecay : 1;
  for (let i = 0; i < w.length; i++) {
    if (o.decoupled) w[i] = f(w[i]! * decay);
    const gi = !o.decoupled && o.weightDecay !== 0 ? f(g[i]! + f(o.weightDecay * w[i]!)) : g[i]!;
    m[i] = f(m[i]! + f((1 - o.beta1) * f(gi - m[i]!)));
    v[i] = f(f(o.beta2 * v[i]!) + f(f((1 - o.beta2) * gi) * gi));
    const denom = f(f(Math.sqrt(v[i]!) / bc2Sqrt) + o.eps);
    w[i] = f(w[i]! - f(stepSize * f(m[i]! / denom)));
  }
}
