/**
 * Optimizer updates in place on the device, PyTorch's single-tensor formulas in float32
 * (see SgdStepOptions and AdamStepOptions in backend.ts).
 */
import type { AdamStepOptions, SgdStepOptions } from '../../backend.js';
import type { GpuBuffer } from '../buffer.js';
import { gridFor, type GpuRuntime } from '../runtime.js';
import { perElement, perRuntime } from './common.js';

// p: [n, hasBuffer, first, nesterov] floats [lr, momentum, dampening, weightDecay]
const sgd = perElement(
  'sgd_step',
  ['grad', 'out param', 'out buf'],
  `  let lr = pf(4u); let momentum = pf(5u); let dampening = pf(6u); let wd = pf(7u);
  var d = grad[i];
  if (wd != 0.0) { d = d + wd * param[i]; }
  if (p[1] != 0u) {
    var b = d;
    if (p[2] == 0u) { b = momentum * buf[i] + (1.0 - dampening) * d; }
    buf[i] = b;
    if (p[3] != 0u) { d = d + momentum * b; } else { d = b; }
  }
  param[i] = param[i] - lr * d;`,
);

// p: [n, decoupled] floats [lr, beta1, beta2, eps, weightDecay, stepSize, bc2Sqrt]
const adam = perElement(
  'adam_step',
  ['grad', 'out param', 'out m', 'out v'],
  `  let beta1 = pf(3u); let beta2 = pf(4u); let eps = pf(5u); let wd = pf(6u);
  let stepSize = pf(7u); let bc2Sqrt = pf(8u); let lr = pf(2u);
  var w = param[i];
  var g = grad[i];
  if (p[1] != 0u) { w = w * (1.0 - lr * wd); } else if (wd != 0.0) { g = g + wd * w; }
  let mi = m[i] + (1.0 - beta1) * (g - m[i]);
  let vi = beta2 * v[i] + (1.0 - beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  param[i] = w - stepSize * (mi / (sqrt(vi) / bc2Sqrt + eps));`,
);

export const optimKernels = perRuntime((rt: GpuRuntime) => ({
  sgd(param: GpuBuffer, grad: GpuBuffer, buf: GpuBuffer | null, o: SgdStepOptions, dummy: GpuBuffer): void {
    rt.dispatch(
      sgd,
      [grad.buffer, param.buffer, (buf ?? dummy).buffer],
      gridFor(param.length),
      [param.length, buf ? 1 : 0, o.first ? 1 : 0, o.nesterov ? 1 : 0],
      [o.lr, o.momentum, o.dampening, o.weightDecay],
    );
  },
  adam(param: GpuBuffer, grad: GpuBuffer, m: GpuBuffer, v: GpuBuffer, o: AdamStepOptions): void {
    rt.dispatch(
      adam,
      [grad.buffer, param.buffer, m.buffer, v.buffer],
      gridFor(param.length),
      [param.length, o.decoupled ? 1 : 0],
      [
        o.lr,
        o.beta1,
        o.beta2,
        o.eps,
        o.weightDecay,
        o.lr / (1 - o.beta1 ** o.step),
        Math.sqrt(1 - o.beta2 ** o.step),
      ],
    );
  },
}));
