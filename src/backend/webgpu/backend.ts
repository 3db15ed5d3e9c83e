/**
 * The WebGPU backend: the Backend interface over GpuBuffers, NHWC activations as the native
 * backend, every kernel a WGSL compute shader (kernels/). Scratch buffers (partial sums, split-K
 * products) come from and go back to the device pool within one call.
 */
import type { Backend } from '../backend.js';
import type { GpuBuffer, WebGpuMemory } from './buffer.js';
import type { GpuRuntime } from './runtime.js';
import type { Scratch } from './kernels/conv.js';
import { convKernels } from './kernels/conv.js';
import { elementwiseKernels } from './kernels/elementwise.js';
import { linearKernels } from './kernels/linear.js';
import { normKernels } from './kernels/norm.js';
import { optimKernels } from './kernels/optim.js';
import { poolKernels } from './kernels/pool.js';
import { reduceKernels } from './kernels/reduce.js';
import { softmaxKernels } from './kernels/softmax.js';

export type WebGpuBackend = Backend<GpuBuffer, GpuBuffer>;

export function createWebGpuBackend(runtime: GpuRuntime, memory: WebGpuMemory): WebGpuBackend {
  const scratch: Scratch = {
    take: (length) => memory.allocate('float32', length),
    give: (buffer) => memory.free(buffer),
    dummy: memory.allocate('float32', 4),
  };
  const conv = convKernels(runtime);
  const ew = elementwiseKernels(runtime);
  const lin = linearKernels(runtime);
  const norm = normKernels(runtime);
  const optim = optimKernels(runtime);
  const pool = poolKernels(runtime);
  const reduce = reduceKernels(runtime);
  const soft = softmaxKernels(runtime);
  return {
    name: 'webgpu',
    device: 'webgpu',
    activationFormat: 'nhwc',
    conv2d: (x, w, b, g, y, e) => conv.forward(x, w, b, g, y, e?.residual ?? null, e?.relu ?? false, scratch),
    conv2dBackwardInput: (dy, w, g, dx) => conv.backwardInput(dy, w, g, dx),
    conv2dBackwardWeight: (dy, x, g, dw, db) => conv.backwardWeight(dy, x, g, dw, db, scratch),
    batchNormTrain: (x, gamma, beta, g, eps, y, mean, variance, invStd, e) => {
      norm.statistics(x, g, eps, mean, variance, invStd, scratch);
      norm.normalise(
        x,
        gamma,
        beta,
        mean,
        invStd,
        g.channels,
        y,
        e?.residual ?? null,
        e?.relu ?? false,
        scratch,
      );
    },
    batchNormEval: (x, gamma, beta, rm, rv, g, eps, y, e) => {
      const invStd = scratch.take(g.channels);
      ew.invStd(rv, eps, invStd);
      norm.normalise(
        x,
        gamma,
        beta,
        rm,
        invStd,
        g.channels,
        y,
        e?.residual ?? null,
        e?.relu ?? false,
        scratch,
      );
      scratch.give(invStd);
    },
    batchNormBackward: (dy, x, gamma, mean, invStd, g, dx, dGamma, dBeta, fusedRelu) =>
      norm.backward(dy, x, gamma, mean, invStd, g, dx, dGamma, dBeta, fusedRelu, scratch),
    batchNormEvalBackward: (dy, x, gamma, mean, invStd, g, dx, dGamma, dBeta) =>
      norm.evalBackward(dy, x, gamma, mean, invStd, g, dx, dGamma, dBeta, scratch),
    relu: (x, y) => ew.relu(x, y),
    reluBackward: (dy, y, dx) => ew.reluBackward(dy, y, dx),
    add: (a, b, y) => ew.add(a, b, y),
    maxPool2d: (x, g, y, argmax) => pool.maxPool2d(x, g, y, argmax),
    adaptiveMaxPool2d: (x, g, y, argmax) => pool.adaptiveMaxPool2d(x, g, y, argmax),
    maxPoolBackward: (dy, argmax, g, dx) => pool.maxPoolBackward(dy, argmax, g, dx),
    adaptiveAvgPool2d: (x, g, y) => pool.adaptiveAvgPool2d(x, g, y),
    adaptiveAvgPool2dBackward: (dy, g, dx) => pool.adaptiveAvgPool2dBackward(dy, g, dx),
    linear: (x, w, b, g, y) => lin.forward(x, w, b, g, y, scratch),
    linearBackward: (dy, x, w, g, dx, dw, db) => lin.backward(dy, x, w, g, dx, dw, db, scratch),
    softmax: (x, g, y) => soft.softmax(x, g, y, false),
    logSoftmax: (x, g, y) => soft.softmax(x, g, y, true),
    softmaxBackward: (dy, y, g, dx) => soft.softmaxBackward(dy, y, g, dx),
    logSoftmaxBackward: (dy, y, g, dx) => soft.logSoftmaxBackward(dy, y, g, dx),
    crossEntropy: (logp, labels, g, loss) => soft.crossEntropy(logp, labels, g, loss, scratch),
    crossEntropyBackward: (logp, labels, g, dLoss, dx) =>
      soft.crossEntropyBackward(logp, labels, g, dLoss, dx),
    sum: (x, divisor, y) => reduce.sum(x, divisor, y),
    broadcastScalar: (s, divisor, y) => ew.broadcastScalar(s, divisor, y),
    scale: (x, factor, y) => ew.scale(x, factor, y),
    indices: (buffer, values) => {
      if (values) memory.write(buffer, values);
      return buffer;
    },
    updateRunningStats: (rm, rv, mean, variance, count, momentum) =>
      ew.updateRunningStats(rm, rv, mean, variance, count, momentum),
    invStd: (variance, eps, out) => ew.invStd(variance, eps, out),
    copy: (x, y) => runtime.copy(x.buffer, y.buffer, x.length * 4),
    sgdStep: (param, grad, buf, o) => optim.sgd(param, grad, buf, o, scratch.dummy),
    adamStep: (param, grad, m, v, o) => optim.adam(param, grad, m, v, o),
  };
}
