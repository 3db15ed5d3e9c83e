/** Reference SGD update; every intermediate rounded to float32 as PyTorch computes it. */
import type { SgdStepOptions } from '../backend.js';

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
