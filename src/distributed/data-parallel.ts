/**
 * Synchronous data parallelism as PyTorch's DistributedDataParallel does it: every rank starts from
 * rank 0's state, computes gradients on its own shard of the batch, and the gradients are averaged
 * over the ranks (allreduce in buckets of about 25 MB, in reverse parameter order as the backward
 * pass produces them) before every optimizer step, so all ranks take the same step. Batch-norm
 * buffers (running statistics) are rank 0's, broadcast after each step, as DDP's broadcast_buffers.
 * With one rank every method returns at once.
 */
import { BatchNorm2d } from '../nn/layers/batchnorm.js';
import type { Module } from '../nn/module.js';
import type { Optimizer } from '../optim/optimizer.js';
import type { DType } from '../tensor/dtype.js';
import type { Tensor } from '../tensor/tensor.js';
import type { World } from './world.js';

const BUCKET_BYTES = 25 * 2 ** 20;

function bytesOf(t: Tensor<DType>): Uint8Array {
  const data = t.dataSync() as unknown as ArrayBufferView;
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export class DataParallel {
  private bucket: Float32Array | null = null;
  /** The running statistics of every batch norm, packed for one broadcast per step. */
  private packed: Float32Array | null = null;
  private batchNormSynchronised = false;
  /** Seconds spent in gradient allreduce, and the bytes reduced, since the last take(). */
  private allreduceSeconds = 0;
  private allreduceBytes = 0;

  constructor(
    readonly world: World,
    private readonly model: Module,
  ) {}

  get distributed(): boolean {
    return this.world.size > 1;
  }

  /**
   * Makes every batch norm of the model take its training statistics over the global batch (as
   * torch.nn.SyncBatchNorm.convert_sync_batchnorm); the buffers are then the same on every rank.
   */
  synchroniseBatchNorm(): void {
    if (!this.distributed) return;
    this.batchNormSynchronised = true;
    const sync = { sum: (values: Float64Array) => this.sum(values) };
    for (const [, m] of this.model.namedModules()) if (m instanceof BatchNorm2d) m.sync = sync;
  }

  /** Copies rank 0's parameters, buffers and optimizer state to every rank. */
  broadcastState(optimizer: Optimizer<object>): void {
    if (!this.distributed) return;
    for (const p of this.model.parameters()) this.world.broadcast(bytesOf(p), 0);
    this.broadcastAllBuffers();
    for (const t of optimizer.stateTensors().values()) this.world.broadcast(bytesOf(t), 0);
  }

  /** Every buffer, the step counters included (at the start, and after a resume). */
  private broadcastAllBuffers(): void {
    for (const [, b] of this.model.namedBuffers()) this.world.broadcast(bytesOf(b), 0);
  }

  /**
   * After a step: rank 0's running statistics, packed into one broadcast. The int64 step counters
   * agree already (every rank counts the same steps), and with synchronised batch norm so do the
   * statistics, so there is nothing to send.
   */
  broadcastBuffers(): void {
    if (!this.distributed || this.batchNormSynchronised) return;
    const floats = this.model
      .namedBuffers()
      .map(([, b]) => b.dataSync())
      .filter((d): d is Float32Array => d instanceof Float32Array);
    const total = floats.reduce((n, d) => n + d.length, 0);
    if (!this.packed || this.packed.length !== total) this.packed = new Float32Array(total);
    let offset = 0;
    for (const d of floats) {
      this.packed.set(d, offset);
      offset += d.length;
    }
    this.world.broadcast(this.packed, 0);
    offset = 0;
    for (const d of floats) {
      d.set(this.packed.subarray(offset, offset + d.length));
      offset += d.length;
    }
  }

  /** Replaces every gradient by its mean over the ranks. */
  averageGradients(): void {
    if (!this.distributed) return;
    const started = performance.now();
    const grads = this.model
      .parameters()
      .map((p) => p.grad)
      .filter((g): g is Tensor => g !== null)
      .reverse();
    const total = grads.reduce((n, g) => n + g.numel, 0);
    const capacity = Math.min(total, BUCKET_BYTES / 4);
    if (!this.bucket || this.bucket.length < capacity) this.bucket = new Float32Array(capacity);
    const bucket = this.bucket;
    const scale = 1 / this.world.size;
    let members: Tensor[] = [];
    let filled = 0;
    const flush = (): void => {
      if (filled === 0) return;
      const view = bucket.subarray(0, filled);
      this.world.allreduceSum(view);
      let offset = 0;
      for (const g of members) {
        const data = g.dataSync() as Float32Array;
        for (let i = 0; i < data.length; i++) data[i] = view[offset + i]! * scale;
        offset += data.length;
      }
      this.allreduceBytes += filled * 4;
      members = [];
      filled = 0;
    };
    for (const g of grads) {
      const data = g.dataSync() as Float32Array;
      if (data.length > bucket.length) {
        // Larger than a bucket: reduced on its own, in place.
        flush();
        this.world.allreduceSum(data);
        for (let i = 0; i < data.length; i++) data[i]! *= scale;
        this.allreduceBytes += data.length * 4;
        continue;
      }
      if (filled + data.length > bucket.length) flush();
      bucket.set(data, filled);
      members.push(g);
      filled += data.length;
    }
    flush();
    this.allreduceSeconds += (performance.now() - started) / 1000;
  }

  /** The mean of `value` over the ranks. */
  mean(value: number): number {
    if (!this.distributed) return value;
    const v = new Float64Array([value]);
    this.world.allreduceSum(v);
    return v[0]! / this.world.size;
  }

  /** True on every rank when any rank says true (a stop seen by one rank stops them all). */
  any(flag: boolean): boolean {
    if (!this.distributed) return flag;
    const v = new Float64Array([flag ? 1 : 0]);
    this.world.allreduceMax(v);
    return v[0]! > 0;
  }

  /** Sums `values` over the ranks, in place. */
  sum(values: Float64Array): Float64Array {
    if (this.distributed) this.world.allreduceSum(values);
    return values;
  }

  /** Allreduce time and volume since the last call. */
  takeAllreduceStats(): { seconds: number; bytes: number } {
    const stats = { seconds: this.allreduceSeconds, bytes: this.allreduceBytes };
    this.allreduceSeconds = 0;
    this.allreduceBytes = 0;
    return stats;
  }
}
