/** Weight initialisers with torch.nn.init semantics, drawing from a seeded Generator. */
import { defaultGenerator, type Generator } from '../tensor/rng.js';
import type { Tensor } from '../tensor/tensor.js';
import { numel } from '../tensor/shape.js';

/** fan_in = size(1)·receptive field, fan_out = size(0)·receptive field (PyTorch's rule, groups ignored). */
export function fans(t: Tensor): { fanIn: number; fanOut: number } {
  if (t.ndim < 2)
    throw new RangeError(`fan in and fan out need a tensor of at least 2 dimensions, got ${t.ndim}`);
  const receptive = numel(t.shape.slice(2));
  return { fanIn: t.shape[1]! * receptive, fanOut: t.shape[0]! * receptive };
}

export function uniform_(
  t: Tensor,
  low: number,
  high: number,
  generator: Generator = defaultGenerator,
): Tensor {
  const d = t.dataSync();
  for (let i = 0; i < d.length; i++) d[i] = low + (high - low) * generator.uniform();
  return t;
}

export function normal_(
  t: Tensor,
  mean: number,
  std: number,
  generator: Generator = defaultGenerator,
): Tensor {
  const d = t.dataSync();
  for (let i = 0; i < d.length; i++) d[i] = mean + std * generator.normal();
  return t;
}

export function constant_(t: Tensor, value: number): Tensor {
  t.dataSync().fill(value);
  return t;
}

function gain(nonlinearity: 'relu' | 'leaky_relu' | 'linear', a: number): number {
  if (nonlinearity === 'relu') return Math.SQRT2;
  if (nonlinearity === 'leaky_relu') return Math.sqrt(2 / (1 + a * a));
  return 1;
}

export interface KaimingOptions {
  a?: number;
  mode?: 'fan_in' | 'fan_out';
  nonlinearity?: 'relu' | 'leaky_relu' | 'linear';
  generator?: Generator;
}

/** N(0, std²) with std = gain / sqrt(fan), as torch.nn.init.kaiming_normal_. */
export function kaimingNormal_(t: Tensor, options: KaimingOptions = {}): Tensor {
  const { a = 0, mode = 'fan_in', nonlinearity = 'leaky_relu', generator } = options;
  const f = fans(t);
  const std = gain(nonlinearity, a) / Math.sqrt(mode === 'fan_in' ? f.fanIn : f.fanOut);
  return normal_(t, 0, std, generator);
}

/** U(-b, b) with b = gain·sqrt(3 / fan), as torch.nn.init.kaiming_uniform_. */
export function kaimingUniform_(t: Tensor, options: KaimingOptions = {}): Tensor {
  const { a = 0, mode = 'fan_in', nonlinearity = 'leaky_relu', generator } = options;
  const f = fans(t);
  const bound = gain(nonlinearity, a) * Math.sqrt(3 / (mode === 'fan_in' ? f.fanIn : f.fanOut));
  return uniform_(t, -bound, bound, generator);
}

/**
 * PyTorch's default for Conv and Linear layers: weight kaiming_uniform(a = √5), i.e. U(±1/√fan_in),
 * and bias U(±1/√fan_in).
 */
export function defaultLayerInit_(weight: Tensor, bias: Tensor | null, generator?: Generator): void {
  kaimingUniform_(weight, { a: Math.sqrt(5), generator });
  if (bias) {
    const { fanIn } = fans(weight);
    const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
    uniform_(bias, -bound, bound, generator);
  }
}
