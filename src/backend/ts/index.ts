import type { Backend } from '../backend.js';
import { conv2d, conv2dBackwardInput, conv2dBackwardWeight } from './conv.js';
import { add, relu, reluBackward } from './elementwise.js';
import { linear, linearBackward } from './linear.js';
import { crossEntropy, crossEntropyBackward } from './loss.js';
import {
  batchNormBackward,
  batchNormEval,
  batchNormEvalBackward,
  batchNormTrain,
  invStd,
  updateRunningStats,
} from './norm.js';
import {
  adaptiveAvgPool2d,
  adaptiveAvgPool2dBackward,
  adaptiveMaxPool2d,
  maxPool2d,
  maxPoolBackward,
} from './pool.js';
import { broadcastScalar, copy, indices, scale, sum } from './reduce.js';
import { logSoftmax, logSoftmaxBackward, softmax, softmaxBackward } from './softmax.js';
import { adamStep, sgdStep } from './optim.js';

/**
 * The host kernels that are cheap next to a training step (reductions over a loss, per-channel
 * statistics, the cross-entropy over [batch, classes], Adam): both cpu backends use these.
 */
export const hostSmallKernels = {
  logSoftmaxBackward,
  crossEntropy,
  crossEntropyBackward,
  sum,
  broadcastScalar,
  scale,
  indices,
  updateRunningStats,
  invStd,
  copy,
  adamStep,
} satisfies Partial<Backend>;

/** The TypeScript reference kernels: the oracle for every other backend, and the fallback. */
export const tsBackend: Backend = {
  name: 'ts',
  device: 'cpu',
  activationFormat: 'nchw',
  conv2d,
  conv2dBackwardInput,
  conv2dBackwardWeight,
  batchNormTrain,
  batchNormEval,
  batchNormBackward,
  batchNormEvalBackward,
  relu,
  reluBackward,
  add,
  maxPool2d,
  adaptiveMaxPool2d,
  maxPoolBackward,
  adaptiveAvgPool2d,
  adaptiveAvgPool2dBackward,
  linear,
  linearBackward,
  softmax,
  softmaxBackward,
  logSoftmax,
  sgdStep,
  ...hostSmallKernels,
};
