import type { GradNode } from '../autograd/node.js';
import { allocate, type DType, type StorageOf } from './dtype.js';
import { defaultGenerator, type Generator } from './rng.js';
import { checkShape, formatShape, numel, type Shape } from './shape.js';
import { formatsAgree, nchwToNhwc, nhwcToNchw, type MemoryFormat } from './format.js';
import { allocateFloat32, Storage, storageFor } from './storage.js';

export interface TensorOptions {
  /** Shape only, no data (see `meta`). */
  isMeta?: boolean;
  /** Physical order of a 4-D tensor's data; the shape is always logical [N, C, H, W]. */
  format?: MemoryFormat;
}

/**
 * A dense, contiguous, row-major tensor. Float32 for values, int64 for labels and counters.
 * The autograd fields (requiresGrad, grad, gradFn) are set by src/autograd; the tensor itself
 * knows nothing about how gradients are computed.
 *
 * A "meta" tensor has a shape but no data: ops propagate shapes through it without computing,
 * which lets summary() trace a full-size model instantly.
 *
 * A 4-D tensor's data is in `format` order: 'nchw' (contiguous) or 'nhwc' (channels last, what the
 * native kernels use). `shape` is logical [N, C, H, W] either way; toArray() and toFormat('nchw')
 * give the contiguous order, `data` is the physical one.
 */
export class Tensor<D extends DType = 'float32'> {
  readonly shape: Shape;
  readonly dtype: D;
  /** Shared by every tensor that views the same array. */
  readonly storage: Storage<D>;
  readonly isMeta: boolean;
  readonly format: MemoryFormat;
  requiresGrad = false;
  grad: Tensor | null = null;
  gradFn: GradNode | null = null;

  /**
   * Wraps `data` (or shares `storage` with the tensors on it). Data is used as is, not copied.
   */
  constructor(data: StorageOf<D> | Storage<D>, shape: Shape, dtype: D, options: TensorOptions = {}) {
    const storage = data instanceof Storage ? data : storageFor(data);
    const array = storage.data;
    const isMeta = options.isMeta ?? false;
    const format = options.format ?? 'nchw';
    checkShape(shape);
    if (format === 'nhwc' && shape.length !== 4) {
      throw new RangeError(`the nhwc format needs a 4-D tensor, got shape ${formatShape(shape)}`);
    }
    const n = numel(shape);
    if (!isMeta && array.length !== n) {
      throw new RangeError(
        `tensor data has ${array.length} elements but shape ${formatShape(shape)} needs ${n}`,
      );
    }
    this.storage = storage;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.isMeta = isMeta;
    this.format = format;
  }

  /** The values in physical (`format`) order. Throws if the storage was released after backward(). */
  get data(): StorageOf<D> {
    return this.storage.data;
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

  /** The values as a flat array of numbers, in contiguous (nchw) order. */
  toArray(): number[] {
    if (this.isMeta) throw new Error('toArray() on a meta tensor: it has a shape but no data');
    const t = this.format === 'nchw' ? this : this.toFormat('nchw');
    return Array.from(t.data as ArrayLike<number | bigint>, Number);
  }

  /** A new tensor with its own copy of the data, outside any autograd graph. */
  clone(): Tensor<D> {
    if (this.isMeta) return Tensor.meta(this.shape, this.dtype);
    return new Tensor(this.data.slice() as StorageOf<D>, this.shape, this.dtype, { format: this.format });
  }

  /** The same data, cut from the autograd graph. */
  detach(): Tensor<D> {
    return new Tensor(this.storage, this.shape, this.dtype, { isMeta: this.isMeta, format: this.format });
  }

  /**
   * This tensor's values in another memory format (this tensor itself when already there), outside
   * any autograd graph; see F.toFormat for the differentiable version. Shapes whose element order
   * is the same in both formats are relabelled without a copy.
   */
  toFormat(format: MemoryFormat): Tensor<D> {
    if (format === this.format) return this;
    if (this.ndim !== 4)
      throw new RangeError(`memory formats apply to 4-D tensors, got shape ${formatShape(this.shape)}`);
    if (this.isMeta || formatsAgree(this.shape) || this.dtype !== 'float32') {
      if (this.dtype !== 'float32' && !formatsAgree(this.shape))
        throw new TypeError('only float32 tensors change memory format');
      return new Tensor(this.storage, this.shape, this.dtype, { isMeta: this.isMeta, format });
    }
    const [N, C, H, W] = this.shape as [number, number, number, number];
    const out = new Storage<'float32'>(allocateFloat32(this.numel), true);
    (format === 'nhwc' ? nchwToNhwc : nhwcToNchw)(this.data as Float32Array, N, C, H, W, out.data);
    return new Tensor(out as unknown as Storage<D>, this.shape, this.dtype, { format });
  }

  /** Marks a leaf tensor as one whose gradient backward() should compute. */
  requiresGrad_(flag = true): this {
    if (this.dtype !== 'float32' && flag) throw new TypeError('only float32 tensors can require gradients');
    if (!this.isLeaf) throw new Error('requiresGrad_ can only be set on leaf tensors (outputs of no op)');
    this.requiresGrad = flag;
    return this;
  }

  /** Copies values from another tensor of the same shape into this one, in place (converting format and dtype). */
  copy_(input: Tensor<DType>): this {
    if (input.numel !== this.numel || input.shape.length !== this.shape.length) {
      throw new RangeError(
        `copy_: shape ${formatShape(input.shape)} does not match ${formatShape(this.shape)}`,
      );
    }
    const source = input.format === this.format ? input : input.toFormat(this.format);
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
    const extra = `${this.isMeta ? ', meta' : ''}${this.format === 'nhwc' ? ', nhwc' : ''}`;
    return `Tensor(shape=${formatShape(this.shape)}, dtype=${this.dtype}${extra})`;
  }

  // ---- creation ----

  /** A float32 tensor whose values are unspecified (kernels overwrite them). */
  static empty(shape: Shape, format: MemoryFormat = 'nchw'): Tensor {
    checkShape(shape);
    return new Tensor(new Float32Array(numel(shape)), shape, 'float32', { format });
  }

  /**
   * An op's output (or gradient): values unspecified, storage from the pool and recyclable once
   * autograd no longer needs it (see Storage). For kernels and ops, not user code.
   */
  static output(shape: Shape, format: MemoryFormat = 'nchw'): Tensor {
    checkShape(shape);
    return new Tensor(new Storage(allocateFloat32(numel(shape)), true), shape, 'float32', { format });
  }

  /** A tensor on the same storage with another shape or format (same element count). */
  static view<D extends DType>(source: Tensor<D>, shape: Shape, format: MemoryFormat = 'nchw'): Tensor<D> {
    return new Tensor(source.storage, shape, source.dtype, { isMeta: source.isMeta, format });
  }

  static zeros(shape: Shape): Tensor {
    return Tensor.full(shape, 0);
  }

  static full(shape: Shape, value: number): Tensor {
    const t = Tensor.empty(shape);
    t.data.fill(value);
    return t;
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

  static meta<D extends DType = 'float32'>(
    shape: Shape,
    dtype: D = 'float32' as D,
    format: MemoryFormat = 'nchw',
  ): Tensor<D> {
    return new Tensor(allocate(dtype, 0), shape, dtype, { isMeta: true, format });
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
