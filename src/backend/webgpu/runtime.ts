/**
 * The WebGPU command stream: kernels are encoded into one command encoder and submitted in batches
 * (before any host write, read-back, or when the parameter arena fills), so a training step is a
 * handful of submits rather than one per op.
 *
 * Kernel parameters: every dispatch gets a 256-byte slot of 32-bit words in one storage arena,
 * bound as the kernel's last binding `p` (floats bit-cast). The arena is written just before its
 * submit; queue order makes reusing it for the next submit safe.
 */

/** A compute kernel: WGSL with one entry point `main`, bindings 0..n-1 in the order given to dispatch, then `p`. */
export interface Kernel {
  readonly name: string;
  readonly code: string;
}

import { BufferUsage, MapMode } from './usage.js';

const SLOT_WORDS = 64; // 256 bytes: minStorageBufferOffsetAlignment's default
const ARENA_SLOTS = 512;
/** Dispatches per submit at most: keeps the GPU fed while the host encodes the next batch. */
const MAX_DISPATCHES_PER_SUBMIT = 256;

export class GpuRuntime {
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly arena: GPUBuffer;
  private readonly arenaHost = new Uint32Array(SLOT_WORDS * ARENA_SLOTS);
  private readonly arenaFloats = new Float32Array(this.arenaHost.buffer);
  private slots = 0;
  /** Compute dispatches since this runtime started, for reports and tests. */
  dispatches = 0;
  submits = 0;

  constructor(readonly device: GPUDevice) {
    this.arena = device.createBuffer({
      size: this.arenaHost.byteLength,
      usage: BufferUsage.STORAGE | BufferUsage.COPY_DST,
    });
  }

  /**
   * Runs `kernel` over `workgroups` ([x, y, z]) with storage buffers bound in order and the
   * parameters `ints` (u32 words p[0..]) followed by `floats` (bit-cast f32 words).
   */
  dispatch(
    kernel: Kernel,
    buffers: readonly GPUBuffer[],
    workgroups: readonly [number, number?, number?],
    ints: readonly number[] = [],
    floats: readonly number[] = [],
  ): void {
    if (ints.length + floats.length > SLOT_WORDS) throw new Error(`${kernel.name}: too many parameters`);
    const [x, y = 1, z = 1] = workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    if (this.slots === ARENA_SLOTS) this.flush();
    const offset = this.slots * SLOT_WORDS;
    for (let i = 0; i < ints.length; i++) this.arenaHost[offset + i] = ints[i]!;
    for (let i = 0; i < floats.length; i++) this.arenaFloats[offset + ints.length + i] = floats[i]!;
    this.slots++;
    const pipeline = this.pipeline(kernel);
    const entries: GPUBindGroupEntry[] = buffers.map((buffer, binding) => ({
      binding,
      resource: { buffer },
    }));
    entries.push({
      binding: buffers.length,
      resource: { buffer: this.arena, offset: offset * 4, size: SLOT_WORDS * 4 },
    });
    const bindGroup = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    const pass = this.computePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    this.dispatches++;
    if (this.slots >= MAX_DISPATCHES_PER_SUBMIT) this.flush();
  }

  /** Offsets and sizes in bytes, multiples of 4. */
  copy(source: GPUBuffer, target: GPUBuffer, bytes: number, sourceOffset = 0, targetOffset = 0): void {
    if (bytes === 0) return;
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(source, sourceOffset, target, targetOffset, bytes);
  }

  /** Submits everything encoded so far. */
  flush(): void {
    this.endPass();
    if (this.encoder === null) return;
    if (this.slots > 0) {
      this.device.queue.writeBuffer(this.arena, 0, this.arenaHost.buffer, 0, this.slots * SLOT_WORDS * 4);
    }
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = null;
    this.slots = 0;
    this.submits++;
  }

  /** The first `bytes` of `buffer`, after all work submitted or encoded before this call. */
  async read(buffer: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    const staging = this.device.createBuffer({ size, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
    this.copy(buffer, staging, size);
    this.flush();
    await staging.mapAsync(MapMode.READ);
    const out = staging.getMappedRange().slice(0, bytes);
    staging.unmap();
    staging.destroy();
    return out;
  }

  /** Resolves once the GPU has finished everything submitted (for timing). */
  async finish(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
  }

  private pipeline(kernel: Kernel): GPUComputePipeline {
    let p = this.pipelines.get(kernel.code);
    if (!p) {
      const module = this.device.createShaderModule({ label: kernel.name, code: kernel.code });
      p = this.device.createComputePipeline({
        label: kernel.name,
        layout: 'auto',
        compute: { module, entryPoint: 'main' },
      });
      this.pipelines.set(kernel.code, p);
    }
    return p;
  }

  private commandEncoder(): GPUCommandEncoder {
    this.encoder ??= this.device.createCommandEncoder();
    return this.encoder;
  }

  private computePass(): GPUComputePassEncoder {
    this.pass ??= this.commandEncoder().beginComputePass();
    return this.pass;
  }

  private endPass(): void {
    if (this.pass !== null) {
      this.pass.end();
      this.pass = null;
    }
  }
}

/** Workgroups for `n` invocations of `size` threads, split over x and y (x ≤ 65535). */
export function gridFor(n: number, size = 256): [number, number] {
  const groups = Math.ceil(n / size);
  if (groups <= 65535) return [groups, 1];
  const y = Math.ceil(groups / 65535);
  return [Math.ceil(groups / y), y];
}
