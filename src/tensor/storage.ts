/**
 * Tensor storage and its recycling.
 *
 * A Storage owns one allocation: a typed array on the cpu, or a device buffer (see device.ts).
 * Every tensor that views the same allocation shares the same Storage object (host arrays are
 * looked up by identity), so releasing or moving it reaches all of them. Only storage that an op
 * allocated for its own output is `recyclable`: autograd releases it once backward() no longer
 * needs it, and the allocation goes back to a pool (host arrays keyed by length here; device
 * buffers to their device's pool), from which the next op output of that size is served. A
 * training step thereby reuses the previous step's buffers instead of faulting in fresh pages. A
 * tensor whose storage was released throws on any data access: never a silent read of recycled
 * memory. Storage created by users (Tensor.empty, fromArray, loaded weights) is never recycled.
 */
import { deviceMemory, type Device, type DeviceBuffer } from './device.js';
import type { DType, StorageOf } from './dtype.js';

/** Arrays shorter than this are not pooled: V8 allocates small typed arrays cheaply on its heap. */
const MIN_POOLED_LENGTH = 4096;

const RELEASED =
  'this tensor was an intermediate result saved for backward(), and its storage has been released ' +
  'and reused; clone() it before backward() to keep it';

export class Storage<D extends DType = DType> {
  private array: StorageOf<D> | null;
  private buffer: DeviceBuffer | null;
  readonly dtype: D;
  /** Allocated by an op for its output, so autograd may recycle it. */
  readonly recyclable: boolean;
  /** Graph nodes that keep this storage for their backward pass. */
  savedBy = 0;
  /** Set once a tensor on this storage becomes something that outlives backward (a leaf's .grad). */
  pinned = false;
  /**
   * The values will not change again (Module.freezeForInference): backends may keep forms derived
   * from them, such as repacked weights, for as long as the storage lives. In-place writes through
   * the engine (copy_, loadStateDict, optimizers) refuse constant storage.
   */
  constant = false;

  constructor(values: StorageOf<D> | DeviceBuffer, recyclable: boolean, dtype?: D) {
    this.recyclable = recyclable;
    if (isDeviceBuffer(values)) {
      if (dtype === undefined) throw new TypeError('device storage needs its dtype');
      this.array = null;
      this.buffer = values;
      this.dtype = dtype;
    } else {
      this.array = values;
      this.buffer = null;
      this.dtype = dtype ?? ((values instanceof Float32Array ? 'float32' : 'int64') as D);
      registry.set(values, this as Storage);
    }
    if (recyclable) {
      scopes.at(-1)?.push(this as Storage);
      if (this.array) for (const list of watchers) list.push(this.array);
    }
  }

  get device(): Device {
    return this.buffer ? this.buffer.device : 'cpu';
  }

  get released(): boolean {
    return this.array === null && this.buffer === null;
  }

  /** The host array; throws for storage on another device (read it with `await tensor.data()`). */
  get data(): StorageOf<D> {
    if (this.array !== null) return this.array;
    if (this.buffer !== null) {
      throw new Error(
        `this tensor is on ${this.buffer.device}: read it with \`await tensor.data()\` or move it with \`await tensor.cpu()\``,
      );
    }
    throw new Error(RELEASED);
  }

  /** What kernels receive: the host array, or the device buffer. */
  get handle(): StorageOf<D> | DeviceBuffer {
    const h = this.array ?? this.buffer;
    if (h === null) throw new Error(RELEASED);
    return h;
  }

  /** The values on the host, wherever they live (a copy for device storage). */
  async read(): Promise<StorageOf<D>> {
    if (this.buffer !== null) return deviceMemory(this.buffer.device).download(this.dtype, this.buffer);
    return this.data;
  }

  /**
   * Moves the allocation in place, so every tensor on this storage moves with it (Module.to).
   * To a device: a synchronous upload. Back to the cpu: `moveToCpu()` (reading back is async).
   */
  moveTo(device: Device): void {
    if (device === this.device) return;
    if (device === 'cpu') {
      throw new Error(`moving a ${this.device} tensor to the cpu reads it back: use \`await tensor.cpu()\``);
    }
    if (this.buffer !== null) throw new Error(`cannot move a tensor from ${this.buffer.device} to ${device}`);
    const array = this.data;
    this.buffer = deviceMemory(device).upload(this.dtype, array);
    registry.delete(array);
    this.array = null;
  }

  async moveToCpu(): Promise<void> {
    if (this.buffer === null) return;
    const buffer = this.buffer;
    const array = await deviceMemory(buffer.device).download(this.dtype, buffer);
    if (this.buffer !== buffer) return;
    this.array = array;
    this.buffer = null;
    registry.set(array, this as Storage);
    deviceMemory(buffer.device).free(buffer);
  }

  /** Unpins and releases: for owners that know the last reference is gone (optimizers dropping gradients). */
  recycle(): void {
    this.pinned = false;
    this.release();
  }

  /** Returns the allocation to its pool if this storage is recyclable and nothing pins it. */
  release(): void {
    if (!this.recyclable || this.pinned || this.savedBy > 0 || this.released) return;
    if (this.buffer !== null) {
      const buffer = this.buffer;
      this.buffer = null;
      deviceMemory(buffer.device).free(buffer);
      return;
    }
    const array = this.array!;
    this.array = null;
    registry.delete(array);
    if (array instanceof Float32Array) pool.put(array);
  }
}

function isDeviceBuffer(values: unknown): values is DeviceBuffer {
  return !ArrayBuffer.isView(values);
}

/** The Storage of each live array: views created from a raw array find and share it. */
const registry = new WeakMap<ArrayLike<unknown>, Storage>();

export function storageFor<D extends DType>(array: StorageOf<D>): Storage<D> {
  return (registry.get(array) as Storage<D> | undefined) ?? new Storage(array, false);
}

/** Recyclable storage for an op's output of `length` float32 elements on `device`; contents unspecified. */
export function outputStorage(length: number, device: Device): Storage<'float32'> {
  if (device === 'cpu') return new Storage<'float32'>(allocateFloat32(length), true);
  return new Storage<'float32'>(deviceMemory(device).allocate('float32', length), true, 'float32');
}

/**
 * Where pool-sized float32 arrays come from when the pool has none of the right length: by default
 * a fresh Float32Array; a backend may install another source (the native one: arrays aligned for
 * its vector loads). Contents are unspecified.
 */
export type Float32Allocator = (length: number) => Float32Array;

const fresh: Float32Allocator = (length) => new Float32Array(length);
let source: Float32Allocator = fresh;

export function setFloat32Allocator(allocator: Float32Allocator | null): Float32Allocator {
  const previous = source;
  source = allocator ?? fresh;
  return previous;
}

class ArrayPool {
  private readonly free = new Map<number, Float32Array[]>();
  cachedBytes = 0;
  hits = 0;
  misses = 0;

  take(length: number): Float32Array {
    if (length >= MIN_POOLED_LENGTH) {
      const list = this.free.get(length);
      const array = list?.pop();
      if (array) {
        this.cachedBytes -= array.byteLength;
        this.hits++;
        return array;
      }
      this.misses++;
    }
    return freshFloat32(length);
  }

  put(array: Float32Array): void {
    if (array.length < MIN_POOLED_LENGTH) return;
    let list = this.free.get(array.length);
    if (!list) {
      list = [];
      this.free.set(array.length, list);
    }
    list.push(array);
    this.cachedBytes += array.byteLength;
  }

  clear(): void {
    this.free.clear();
    this.cachedBytes = 0;
  }
}

const pool = new ArrayPool();

/** A float32 array of `length` elements, from the pool when one is free; contents unspecified. */
export function allocateFloat32(length: number): Float32Array {
  return pool.take(length);
}

/** A new float32 array from the installed source, never from the pool (for memory a caller keeps); contents unspecified. */
export function freshFloat32(length: number): Float32Array {
  return length >= MIN_POOLED_LENGTH ? source(length) : new Float32Array(length);
}

/** Drops every pooled array (they are freed by the garbage collector), like torch.cuda.empty_cache(). */
export function emptyCache(): void {
  pool.clear();
}

export interface PoolStats {
  cachedBytes: number;
  hits: number;
  misses: number;
}

export function poolStats(): PoolStats {
  return { cachedBytes: pool.cachedBytes, hits: pool.hits, misses: pool.misses };
}

/** Recyclable storage created inside each open collectStorage() call, innermost last. */
const scopes: Storage[][] = [];

/**
 * Runs fn and then releases every op output it allocated, except the storage of `keep(result)` and
 * anything pinned: the forward pass of an inference, whose intermediates nobody needs afterwards
 * (autograd is not recording, so nothing else would release them before the garbage collector).
 * A tensor from inside that is used afterwards throws rather than reading reused memory.
 */
export function collectStorage<T>(fn: () => T, keep: (result: T) => readonly Storage[]): T {
  const created: Storage[] = [];
  scopes.push(created);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  const kept = new Set(keep(result));
  for (const s of created) {
    if (kept.has(s)) scopes.at(-1)?.push(s);
    else s.release();
  }
  return result;
}

/** Lists that receive the host array of every recyclable storage created while they are open. */
const watchers: ArrayBufferView[][] = [];

/**
 * Runs fn and returns, with its result, the recyclable storage created inside it (op outputs), which
 * nothing releases unless fn does, and the host arrays of all of them, including those that a scope
 * inside fn (an inferenceMode) created and released again: a traced inference plans buffers for every
 * one of them, then releases the rest.
 */
export function createdStorage<T>(fn: () => T): { result: T; created: Storage[]; arrays: ArrayBufferView[] } {
  const created: Storage[] = [];
  const arrays: ArrayBufferView[] = [];
  scopes.push(created);
  watchers.push(arrays);
  try {
    return { result: fn(), created, arrays };
  } finally {
    scopes.pop();
    watchers.pop();
  }
}
