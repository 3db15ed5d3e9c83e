import type { Backend } from '../backend.js';
import { conv2d, conv2dBackwardInput, conv2dBackwardWeight } from './conv.js';
import { add, relu, reluBackward } from './elementwise.js';
import { linear, linearBackward } from './linear.js';
import { batchNormBackward, batchNormEval, batchNormEvalBackward, batchNormTrain } from './norm.js';
import {
  adaptiveAvgPool2d,
  adaptiveAvgPool2dBackward,
  adaptiveMaxPool2d,
  maxPool2d,
  maxPoolBackward,
} from './pool.js';
import { logSoftmax, softmax, softmaxBackward } from './softmax.js';
import { sgdStep } from './optim.js';

/** The TypeScript reference kernels: the oracle for every other backend, and the fallback. */
export const tsBackend: Backend = {
  name: 'ts',
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
};
