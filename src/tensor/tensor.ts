import type { GradNode } from '../autograd/node.js';
import { allocate, type DType, type StorageOf } from './dtype.js';
import { defaultGenerator, type Generator } from './rng.js';
import { checkShape, formatShape, numel, type Shape } from './shape.js';
import { convertHostFormat, formatsAgree, type MemoryFormat } from './format.js';
import { deviceMemory, type AcceleratorDevice, type Device, type DeviceBuffer } from './device.js';
import { outputStorage, Storage, storageFor } from './storage.js';

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
    const length = storage.handle.length;
    const isMeta = options.isMeta ?? false;
    const format = options.format ?? 'nchw';
    checkShape(shape);
    if (format === 'nhwc' && shape.length !== 4) {
      throw new RangeError(`the nhwc format needs a 4-D tensor, got shape ${formatShape(shape)}`);
    }
    const n = numel(shape);
    if (!isMeta && length !== n) {
      throw new RangeError(`tensor data has ${length} elements but shape ${formatShape(shape)} needs ${n}`);
    }
    this.storage = storage;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.isMeta = isMeta;
    this.format = format;
  }

  /**
   * The values in physical (`format`) order, synchronously: host (cpu) tensors only. Throws if the
   * storage was released after backward(), or with how to read it for a tensor on a device.
   */
  dataSync(): StorageOf<D> {
    return this.storage.data;
  }

  /** The values in physical (`format`) order on the host, wherever the tensor lives. */
  async data(): Promise<StorageOf<D>> {
    return this.storage.read();
  }

  /** What kernels receive: the host array on the cpu, a device buffer elsewhere. */
  get handle(): StorageOf<D> | DeviceBuffer {
    return this.storage.handle;
  }

  get device(): Device {
    return this.storage.device;
  }

  /**
   * This tensor on `device` (itself when already there), outside any autograd graph: an upload to
   * a device; a device tensor comes back to the cpu with `await tensor.cpu()`.
   */
  to(device: Device): Tensor<D> {
    if (device === this.device || this.isMeta) return this;
    if (device === 'cpu') {
      throw new Error(`moving a ${this.device} tensor to the cpu reads it back: use \`await tensor.cpu()\``);
    }
    const buffer = deviceMemory(device).upload(this.dtype, this.dataSync());
    return new Tensor(new Storage(buffer, false, this.dtype), this.shape, this.dtype, {
      format: this.format,
    });
  }

  /** A cpu copy of a device tensor (this tensor itself when on the cpu). */
  async cpu(): Promise<Tensor<D>> {
    if (this.device === 'cpu') return this;
    return new Tensor(await this.data(), this.shape, this.dtype, { format: this.format });
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
    return Number(this.dataSync()[0]);
  }

  /** The values as a flat array of numbers, in contiguous (nchw) order. */
  toArray(): number[] {
    if (this.isMeta) throw new Error('toArray() on a meta tensor: it has a shape but no data');
    const t = this.format === 'nchw' ? this : this.toFormat('nchw');
    return Array.from(t.dataSync() as ArrayLike<number | bigint>, Number);
  }

  /** A new tensor with its own copy of the data, outside any autograd graph. */
  clone(): Tensor<D> {
    if (this.isMeta) return Tensor.meta(this.shape, this.dtype);
    if (this.device !== 'cpu') {
      const memory = deviceMemory(this.device);
      const copy = memory.allocate(this.dtype, this.numel);
      memory.copy(this.handle as DeviceBuffer, copy);
      return new Tensor(new Storage(copy, false, this.dtype), this.shape, this.dtype, {
        format: this.format,
      });
    }
    return new Tensor(this.dataSync().slice() as StorageOf<D>, this.shape, this.dtype, {
      format: this.format,
    });
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
    const out = outputStorage(this.numel, this.device);
    if (this.device !== 'cpu') {
      const target = out.handle as DeviceBuffer;
      deviceMemory(this.device).convertFormat(
        this.handle as DeviceBuffer,
        [N, C, H, W],
        format === 'nhwc',
        target,
      );
    } else {
      convertHostFormat(this.dataSync() as Float32Array, [N, C, H, W], format === 'nhwc', out.data);
    }
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
    if (this.storage.constant) {
      throw new Error(
        'copy_: this tensor is constant (Module.freezeForInference); copy the model to change it',
      );
    }
    if (input.numel !== this.numel || input.shape.length !== this.shape.length) {
      throw new RangeError(
        `copy_: shape ${formatShape(input.shape)} does not match ${formatShape(this.shape)}`,
      );
    }
    const source = input.format === this.format ? input : input.toFormat(this.format);
    if (this.device !== 'cpu' && source.device === 'cpu' && source.dtype === this.dtype) {
      deviceMemory(this.device).overwrite(
        this.dtype,
        this.handle as DeviceBuffer,
        source.dataSync() as StorageOf<D>,
      );
      return this;
    }
    if (this.device !== 'cpu' || source.device !== 'cpu') {
      if (this.device !== source.device || this.dtype !== source.dtype) {
        throw new Error(
          `copy_: from a ${source.dtype} tensor on ${source.device} into a ${this.dtype} tensor on ${this.device}: ` +
            'copies between devices or dtypes go through the cpu',
        );
      }
      deviceMemory(source.device as AcceleratorDevice).copy(
        source.handle as DeviceBuffer,
        this.handle as DeviceBuffer,
      );
      return this;
    }
    if (this.dtype === 'float32') {
      const dst = this.dataSync() as Float32Array;
      if (source.dtype === 'float32') dst.set(source.dataSync() as Float32Array);
      else (source.dataSync() as BigInt64Array).forEach((v, i) => (dst[i] = Number(v)));
    } else {
      const dst = this.dataSync() as BigInt64Array;
      if (source.dtype === 'int64') dst.set(source.dataSync() as BigInt64Array);
      else (source.dataSync() as Float32Array).forEach((v, i) => (dst[i] = BigInt(Math.trunc(v))));
    }
    return this;
  }

  toString(): string {
    const device = this.device === 'cpu' ? '' : `, device=${this.device}`;
    const extra = `${this.isMeta ? ', meta' : ''}${this.format === 'nhwc' ? ', nhwc' : ''}${device}`;
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
  static output(shape: Shape, format: MemoryFormat = 'nchw', device: Device = 'cpu'): Tensor {
    checkShape(shape);
    return new Tensor(outputStorage(numel(shape), device), shape, 'float32', { format });
  }

  /** A tensor on the same storage with another shape or format (same element count). */
  static view<D extends DType>(source: Tensor<D>, shape: Shape, format: MemoryFormat = 'nchw'): Tensor<D> {
    return new Tensor(source.storage, shape, source.dtype, { isMeta: source.isMeta, format });
  }

  static zeros(shape: Shape): Tensor {
    return Tensor.full(shape, 0);
  }

  /** Filled with `value`; on a device, filled there (not recyclable, like Tensor.empty). */
  static full(shape: Shape, value: number, device: Device = 'cpu'): Tensor {
    if (device !== 'cpu') {
      checkShape(shape);
      const memory = deviceMemory(device);
      const buffer = memory.allocate('float32', numel(shape));
      memory.fill(buffer, value);
      return new Tensor(new Storage(buffer, false, 'float32'), shape, 'float32');
    }
    const t = Tensor.empty(shape);
    t.dataSync().fill(value);
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
    const d = t.dataSync();
    for (let i = 0; i < d.length; i++) d[i] = mean + std * generator.normal();
    return t;
  }

  /** Samples from U[low, high). */
  static rand(shape: Shape, options: { low?: number; high?: number; generator?: Generator } = {}): Tensor {
    const { low = 0, high = 1, generator = defaultGenerator } = options;
    const t = Tensor.empty(shape);
    const d = t.dataSync();
    for (let i = 0; i < d.length; i++) d[i] = low + (high - low) * generator.uniform();
    return t;
  }
}
