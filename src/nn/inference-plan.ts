/**
 * Traced inference: a forward pass recorded once, for one input shape, as the host kernel calls it
 * makes, then replayed without the module and op layers in between (as torch.jit.trace records a
 * function and a CUDA graph replays a captured pass; ONNX Runtime runs a static graph the same way).
 * At batch 1 those layers cost about as much as the kernels' own per-call work, on caches the
 * kernels have just flushed.
 *
 * The plan owns the intermediates' buffers and shares them by lifetime, as ONNX Runtime's memory
 * planner does: a buffer whose last reader has run takes the next output that fits, so a replay
 * holds a few activations' worth of memory, written while still in cache.
 *
 * What a recording cannot see is work outside the kernels: a function that reads tensor values in
 * JavaScript, or branches on them, replays the path and values of the example. `check` (on by
 * default, as torch.jit.trace's check_trace) replays the example and a second input against the
 * eager pass and refuses the trace when they differ.
 */
import { inferenceMode, noGrad } from '../autograd/grad-mode.js';
import { getBackend, setBackend, type Backend } from '../backend/index.js';
import {
  convertWithLoops,
  setHostFormatConverter,
  type HostFormatConverter,
  type MemoryFormat,
} from '../tensor/format.js';
import { formatShape, sameShape, type Shape } from '../tensor/shape.js';
import { createdStorage, freshFloat32 } from '../tensor/storage.js';
import { Tensor } from '../tensor/tensor.js';
import type { Module } from './module.js';

export interface TraceOptions {
  /** Replay the example and a second input against the eager pass, and refuse a trace that differs. */
  check?: boolean;
}

type Kernel = (...args: unknown[]) => unknown;

interface KernelCall {
  readonly kernel: Kernel;
  readonly args: readonly unknown[];
}

type HostArray = Float32Array | Int32Array;

export class InferencePlan {
  private constructor(
    /** The input shape the plan was traced for (and the only one it runs). */
    readonly inputShape: Shape,
    private readonly input: Tensor,
    private readonly calls: readonly KernelCall[],
    private readonly output: {
      readonly array: Float32Array;
      readonly shape: Shape;
      readonly format: MemoryFormat;
    },
    private readonly slots: readonly Float32Array[],
  ) {}

  /** Bytes the plan holds: its intermediates' shared buffers and its copy of the input. */
  get bytes(): number {
    return this.slots.reduce((sum, s) => sum + s.byteLength, this.input.numel * 4);
  }

  /**
   * Records `forward` (a module, or a function of one tensor) on `example`, a cpu float32 tensor,
   * and plans its buffers. The backend in use then is the one the plan calls, and parameters are
   * read from the arrays they had then (trace again after loading weights).
   */
  static trace(
    forward: Module | ((x: Tensor) => Tensor),
    example: Tensor,
    options: TraceOptions = {},
  ): InferencePlan {
    const fn = typeof forward === 'function' ? forward : (x: Tensor): Tensor => forward.call(x);
    if (example.device !== 'cpu' || example.dtype !== 'float32' || example.isMeta) {
      throw new TypeError(
        `traceInference: the example must be a float32 tensor on the cpu, got ${example.dtype} on ${example.isMeta ? 'meta' : example.device}`,
      );
    }
    const input = new Tensor(new Float32Array(example.dataSync() as Float32Array), example.shape, 'float32', {
      format: example.format,
    });
    const { result, created, arrays, calls } = record(() => fn(input));
    if (!(result instanceof Tensor) || result.device !== 'cpu' || result.dtype !== 'float32') {
      throw new TypeError('traceInference: the traced function must return one float32 tensor on the cpu');
    }
    const resultArray = result.dataSync() as Float32Array;
    const expected = new Float32Array(resultArray);
    // Every op output's memory, also what an inferenceMode inside fn has already given back to the
    // pool: the replay must never touch pool arrays. Keyed by buffer, each with the view its storage
    // was made with (a pool array may sit at an offset into its buffer).
    const planned = new Map(arrays.map((a) => [a.buffer, a]));
    const { remap, slots } = planBuffers(calls, planned, resultArray);
    const output = {
      array: remap(resultArray) as Float32Array,
      shape: [...result.shape],
      format: result.format,
    };
    if (planned.has(resultArray.buffer) && output.array === resultArray) {
      throw new Error(
        'traceInference: no kernel call wrote the result (it was computed in JavaScript), so it cannot be traced; run it eagerly',
      );
    }
    for (const s of created) s.release();
    const plan = new InferencePlan(
      [...example.shape],
      input,
      calls.map((c) => ({ kernel: c.kernel, args: c.args.map(remap) })),
      output,
      slots,
    );
    if (options.check ?? true) plan.check(fn, example, expected);
    return plan;
  }

  /** The traced function's result for `x` (of the traced shape), as a new tensor. */
  run(x: Tensor): Tensor {
    if (!sameShape(x.shape, this.inputShape)) {
      throw new RangeError(
        `InferencePlan.run: traced for input ${formatShape(this.inputShape)}, got ${formatShape(x.shape)} (trace another plan for it)`,
      );
    }
    if (x.device !== 'cpu' || x.dtype !== 'float32')
      throw new TypeError(
        `InferencePlan.run: expected a float32 tensor on the cpu, got ${x.dtype} on ${x.device}`,
      );
    (this.input.dataSync() as Float32Array).set(x.toFormat(this.input.format).dataSync() as Float32Array);
    for (const { kernel, args } of this.calls) kernel(...args);
    const { array, shape, format } = this.output;
    return new Tensor(array.slice(), shape, 'float32', { format });
  }

  /** Replays the example into poisoned buffers, and a second input, against the eager pass. */
  private check(fn: (x: Tensor) => Tensor, example: Tensor, expected: Float32Array): void {
    // NaN in every slot: a value that no recorded call writes shows in the result.
    for (const slot of this.slots) slot.fill(Number.NaN);
    compare(this.run(example).dataSync() as Float32Array, expected, 'the example');
    const values = new Float32Array(example.dataSync() as Float32Array).reverse();
    const second = new Tensor(values, example.shape, 'float32', { format: example.format });
    const eager = inferenceMode(() => fn(second)).dataSync() as Float32Array;
    compare(this.run(second).dataSync() as Float32Array, eager, 'a second input (the example reversed)');
  }
}

/** Records `fn`, run without gradients, as the kernel calls of the current host backend. */
function record<T>(fn: () => T): ReturnType<typeof createdStorage<T>> & { calls: KernelCall[] } {
  const backend = getBackend();
  const calls: KernelCall[] = [];
  // Every kernel, own or inherited (a backend may be a class instance); the rest read through.
  const recorder = Object.create(backend) as Record<string, unknown>;
  const kernels = backend as unknown as Record<string, unknown>;
  for (
    let o: object | null = backend;
    o && o !== Object.prototype;
    o = Object.getPrototypeOf(o) as object | null
  ) {
    for (const name of Object.getOwnPropertyNames(o)) {
      const value = kernels[name];
      if (name === 'constructor' || typeof value !== 'function' || Object.hasOwn(recorder, name)) continue;
      const kernel = (value as Kernel).bind(backend);
      recorder[name] = (...args: unknown[]): unknown => {
        calls.push({ kernel, args: args.map(snapshot) });
        return kernel(...args);
      };
    }
  }
  const converter: HostFormatConverter = (src, shape, toNhwc, dst) => {
    const convert = previousConverter ?? convertWithLoops;
    calls.push({ kernel: convert as Kernel, args: [src, [...shape], toNhwc, dst] });
    convert(src, shape, toNhwc, dst);
  };
  const previousBackend = setBackend(recorder as unknown as Backend);
  const previousConverter = setHostFormatConverter(converter);
  try {
    return { ...createdStorage(() => noGrad(fn)), calls };
  } finally {
    setBackend(previousBackend);
    setHostFormatConverter(previousConverter);
  }
}

/**
 * A call argument rebuilt with every host array replaced by `onArray(array)`: descriptors (plain
 * objects, arrays) copied, other values as they are.
 */
function mapArrays(value: unknown, onArray: (a: HostArray) => unknown): unknown {
  if (value instanceof Float32Array || value instanceof Int32Array) return onArray(value);
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return value;
  if (Array.isArray(value)) return value.map((v) => mapArrays(v, onArray));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapArrays(v, onArray)]));
}

/** A call's argument as it was: descriptors copied (their arrays by reference). */
const snapshot = (value: unknown): unknown => mapArrays(value, (a) => a);

/**
 * Gives every planned buffer (an op output's memory) a slot: the best-fitting slot whose previous
 * occupant was last named by an earlier call, else a new one. A buffer lives from the first call
 * that names it to the last; the result's lives to the end. Slots come from the host allocator, as
 * pool arrays do, so that they are aligned as the backend wants; a view at byte `o` of its home view
 * maps to byte `o` of its slot.
 */
function planBuffers(
  calls: readonly KernelCall[],
  planned: ReadonlyMap<ArrayBufferLike, ArrayBufferView>,
  result: Float32Array,
): { remap: (value: unknown) => unknown; slots: Float32Array[] } {
  const startsAt = new Map<number, ArrayBufferLike[]>();
  const last = new Map<ArrayBufferLike, number>();
  calls.forEach(({ args }, i) =>
    mapArrays(args, (a) => {
      if (!planned.has(a.buffer)) return;
      if (!last.has(a.buffer)) startsAt.set(i, [...(startsAt.get(i) ?? []), a.buffer]);
      last.set(a.buffer, i);
    }),
  );
  if (last.has(result.buffer)) last.set(result.buffer, calls.length);
  const endsAt = new Map<number, ArrayBufferLike[]>();
  for (const [buffer, end] of last) endsAt.set(end, [...(endsAt.get(end) ?? []), buffer]);
  const slotOf = new Map<ArrayBufferLike, Float32Array>();
  const slots: Float32Array[] = [];
  let free: Float32Array[] = [];
  for (let i = 0; i < calls.length; i++) {
    for (const buffer of startsAt.get(i) ?? []) {
      const bytes = planned.get(buffer)!.byteLength;
      const fit = free.reduce<Float32Array | null>(
        (best, s) => (s.byteLength >= bytes && (!best || s.byteLength < best.byteLength) ? s : best),
        null,
      );
      const slot = fit ?? freshFloat32(Math.ceil(bytes / 4));
      if (fit) free = free.filter((s) => s !== fit);
      else slots.push(slot);
      slotOf.set(buffer, slot);
    }
    for (const buffer of endsAt.get(i) ?? []) free.push(slotOf.get(buffer)!);
  }
  const remap = (value: unknown): unknown =>
    mapArrays(value, (a) => {
      const slot = slotOf.get(a.buffer);
      if (!slot) return a;
      const at = slot.byteOffset + a.byteOffset - planned.get(a.buffer)!.byteOffset;
      return a instanceof Float32Array
        ? new Float32Array(slot.buffer, at, a.length)
        : new Int32Array(slot.buffer, at, a.length);
    });
  return { remap, slots };
}

function compare(replayed: Float32Array, eager: Float32Array, which: string): void {
  let scale = 1;
  for (const v of eager) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < eager.length; i++) {
    const a = replayed[i]!;
    const b = eager[i]!;
    if (Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b)) || Math.abs(a - b) <= 1e-5 * scale) continue;
    throw new Error(
      `traceInference: replaying the recorded kernels on ${which} gave ${a} at element ${i}, the forward pass ${b}: ` +
        'the function works outside the kernels (reads tensor values in JavaScript, or branches on them) and cannot be traced; run it eagerly',
    );
  }
}

/** InferencePlan.trace: records `forward` on `example` for replays at that input shape. */
export function traceInference(
  forward: Module | ((x: Tensor) => Tensor),
  example: Tensor,
  options: TraceOptions = {},
): InferencePlan {
  return InferencePlan.trace(forward, example, options);
}
