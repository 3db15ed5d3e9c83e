import type { GradNode } from '../autograd/node.js';
import { allocate, type DType, type StorageOf } from './dtype.js';
import { defaultGenerator, type Generator } from './rng.js';
import { checkShape, formatShape, numel, type Shape } from './shape.js';

/**
 * A dense, contiguous, row-major tensor. Float32 for values, int64 for labels and counters.
 * The autograd fields (requiresGrad, grad, gradFn) are set by src/autograd; the tensor itself
 * knows nothing about how gradients are computed.
 *
 * A "meta" tensor has a shape but no data: ops propagate shapes through it without computing,
 * which lets summary() trace a full-size model instantly.
 */
export class Tensor<D extends DType = 'float32'> {
  readonly shape: Shape;
  readonly dtype: D;
  readonly data: StorageOf<D>;
  readonly isMeta: boolean;
  requiresGrad = false;
  grad: Tensor | null = null;
  gradFn: GradNode | null = null;

  constructor(data: StorageOf<D>, shape: Shape, dtype: D, isMeta = false) {
    checkShape(shape);
    const n = numel(shape);
    if (!isMeta && data.length !== n) {
      throw new RangeError(
        `tensor data has ${data.length} elements but shape ${formatShape(shape)} needs ${n}`,
      );
    }
    this.data = data;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.isMeta = isMeta;
  }

  get ndim(): number {
    return this.shape.length;
  }

  get numel(): number {
    return numel(this.shape);
  }

  size(dim: number): number {
    const d = dim < 0 ? dim + this.shape.length : dim;
    const s = this.shape[d];
    if (s === undefined)
      throw new RangeError(`dimension ${dim} is out of range for shape ${formatShape(this.shape)}`);
    return s;
  }

  get isLeaf(): boolean {
    return this.gradFn === null;
  }

  /** The single value of a one-element tensor, as a number. */
  item(): number {
    if (this.isMeta) throw new Error('item() on a meta tensor: it has a shape but no data');
    if (this.numel !== 1)
      throw new RangeError(`item() needs a one-element tensor, got shape ${formatShape(this.shape)}`);
    return Number(this.data[0]);
  }

  /** The values as a flat array of numbers. */
  toArray(): number[] {
    if (this.isMeta) throw new Error('toArray() on a meta tensor: it has a shape but no data');
    return Array.from(this.data as ArrayLike<number | bigint>, Number);
  }

  /** A new tensor with its own copy of the data, outside any autograd graph. */
  clone(): Tensor<D> {
    if (this.isMeta) return Tensor.meta(this.shape, this.dtype);
    return new Tensor(this.data.slice() as StorageOf<D>, this.shape, this.dtype);
  }

  /** The same data, cut from the autograd graph. */
  detach(): Tensor<D> {
    return new Tensor(this.data, this.shape, this.dtype, this.isMeta);
  }

  /** Marks a leaf tensor as one whose gradient backward() should compute. */
  requiresGrad_(flag = true): this {
    if (this.dtype !== 'float32' && flag) throw new TypeError('only float32 tensors can require gradients');
    if (!this.isLeaf) throw new Error('requiresGrad_ can only be set on leaf tensors (outputs of no op)');
    this.requiresGrad = flag;
    return this;
  }

  /** Copies values from another tensor of the same shape into this one, in place. */
  copy_(source: Tensor<DType>): this {
    if (source.numel !== this.numel || source.shape.length !== this.shape.length) {
      throw new RangeError(
        `copy_: shape ${formatShape(source.shape)} does not match ${formatShape(this.shape)}`,
      );
    }
    if (this.dtype === 'float32') {
      const dst = this.data as Float32Array;
      if (source.dtype === 'float32') dst.set(source.data as Float32Array);
      else (source.data as BigInt64Array).forEach((v, i) => (dst[i] = Number(v)));
    } else {
      const dst = this.data as BigInt64Array;
      if (source.dtype === 'int64') dst.set(source.data as BigInt64Array);
      else (source.data as Float32Array).forEach((v, i) => (dst[i] = BigInt(Math.trunc(v))));
    }
    return this;
  }

  toString(): string {
    return `Tensor(shape=${formatShape(this.shape)}, dtype=${this.dtype}${this.isMeta ? ', meta' : ''})`;
  }

  // ---- creation ----

  static empty(shape: Shape): Tensor {
    checkShape(shape);
    return new Tensor(new Float32Array(numel(shape)), shape, 'float32');
  }

  static zeros(shape: Shape): Tensor {
    return Tensor.empty(shape);
  }

  static full(shape: Shape, value: number): Tensor {
    checkShape(shape);
    return new Tensor(new Float32Array(numel(shape)).fill(value), shape, 'float32');
  }

  static ones(shape: Shape): Tensor {
    return Tensor.full(shape, 1);
  }

  static fromArray(values: ArrayLike<number>, shape?: Shape): Tensor {
    return new Tensor(Float32Array.from(values), shape ?? [values.length], 'float32');
  }

  static scalar(value: number): Tensor {
    return new Tensor(Float32Array.of(value), [], 'float32');
  }

  static int64(values: ArrayLike<number | bigint>, shape?: Shape): Tensor<'int64'> {
    const data = new BigInt64Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (typeof v === 'number' && !Number.isInteger(v))
        throw new RangeError(`int64 value ${v} is not an integer`);
      data[i] = BigInt(v);
    }
    return new Tensor(data, shape ?? [values.length], 'int64');
  }

  static zerosInt64(shape: Shape): Tensor<'int64'> {
    return new Tensor(allocate('int64', numel(shape)), shape, 'int64');
  }

  static meta<D extends DType = 'float32'>(shape: Shape, dtype: D = 'float32' as D): Tensor<D> {
    return new Tensor(allocate(dtype, 0), shape, dtype, true);
  }

  /** Samples from N(mean, std²). */
  static randn(shape: Shape, options: { mean?: number; std?: number; generator?: Generator } = {}): Tensor {
    const { mean = 0, std = 1, generator = defaultGenerator } = options;
    const t = Tensor.empty(shape);
    const d = t.data;
    for (let i = 0; i < d.length; i++) d[i] = mean + std * generator.normal();
    return t;
  }

  /** Samples from U[low, high). */
  static rand(shape: Shape, options: { low?: number; high?: number; generator?: Generator } = {}): Tensor {
    const { low = 0, high = 1, generator = defaultGenerator } = options;
    const t = Tensor.empty(shape);
    const d = t.data;
    for (let i = 0; i < d.length; i++) d[i] = low + (high - low) * generator.uniform();
    return t;
  }
}
