/**
 * DataLoader: batches a dataset, shuffles each epoch with a seeded permutation, and prefetches batches
 * in worker threads so that decoding and augmentation overlap the training step. The order of batches
 * and the augmentation of every sample depend only on (seed, epoch, index): an epoch can be resumed
 * from any batch and reproduces the same data.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Generator } from '../tensor/rng.js';
import { Tensor } from '../tensor/tensor.js';
import { packageRoot } from '../util/package-root.js';
import type { Dataset } from './datasets.js';
import { SampleBuilder, type BatchData, type SampleOptions } from './sample.js';
import type { WorkerReply, WorkerRequest } from './worker.js';

export interface LoaderOptions extends SampleOptions {
  batchSize: number;
  shuffle: boolean;
  seed: number;
  /** Worker threads; 0 decodes on the calling thread (sharp still decodes off it). */
  workers?: number;
  /** Batches requested ahead of the one being consumed. */
  prefetch?: number;
  dropLast?: boolean;
  /** Fail on an unreadable image instead of skipping it. */
  strict?: boolean;
  /**
   * This rank's part of every epoch in data-parallel training, as PyTorch's DistributedSampler: the
   * epoch's order (the same on every rank) is cut into `size` interleaved shards, rank r taking
   * positions r, r + size, ...; `pad` repeats the first samples so that every shard has the same
   * length (training: every rank takes the same number of steps).
   */
  shard?: { rank: number; size: number; pad: boolean };
}

export interface Batch {
  x: Tensor;
  y: Tensor<'int64'>;
  /** Position of this batch in the epoch. */
  index: number;
  skipped: { name: string; reason: string }[];
}

interface Pending {
  resolve: (b: BatchData) => void;
  reject: (e: Error) => void;
}

export class DataLoader {
  private readonly builder: SampleBuilder;
  private workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private nextWorker = 0;

  constructor(
    readonly dataset: Dataset,
    readonly options: LoaderOptions,
  ) {
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
      throw new RangeError(`batch size must be a positive integer, got ${options.batchSize}`);
    }
    if (dataset.length === 0) throw new Error('the dataset is empty');
    this.builder = new SampleBuilder(dataset, options);
    const wanted = options.workers ?? 1;
    const script = join(packageRoot(), 'dist', 'src', 'data', 'worker.js');
    if (wanted > 0 && existsSync(script)) {
      const spec = dataset.spec();
      const init: WorkerRequest = {
        type: 'init',
        spec,
        options: {
          transforms: options.transforms,
          mean: options.mean,
          std: options.std,
          outputShape: options.outputShape,
          decode: options.decode,
        },
      };
      for (let i = 0; i < wanted; i++) {
        const w = new Worker(script);
        w.on('message', (msg: WorkerReply) => this.onReply(msg));
        w.on('error', (err) => this.failAll(err));
        w.unref();
        w.postMessage(init);
        this.workers.push(w);
      }
    }
  }

  /** Samples this loader gives per epoch: the dataset, or this rank's shard of it. */
  get samplesPerEpoch(): number {
    const shard = this.options.shard;
    if (!shard || shard.size === 1) return this.dataset.length;
    const n = this.dataset.length;
    return shard.pad
      ? Math.ceil(n / shard.size)
      : Math.floor(n / shard.size) + (shard.rank < n % shard.size ? 1 : 0);
  }

  get batchesPerEpoch(): number {
    const n = this.samplesPerEpoch / this.options.batchSize;
    return this.options.dropLast ? Math.floor(n) : Math.ceil(n);
  }

  get workerCount(): number {
    return this.workers.length;
  }

  /** The dataset indices of each batch of an epoch, in order. */
  epochBatches(epoch: number): number[][] {
    let order = Array.from({ length: this.dataset.length }, (_, i) => i);
    if (this.options.shuffle) new Generator(this.options.seed * 1000003 + epoch).shuffle(order);
    const shard = this.options.shard;
    if (shard && shard.size > 1) {
      const padded = shard.pad ? this.samplesPerEpoch * shard.size : order.length;
      for (let i = 0; order.length < padded; i++) order.push(order[i]!);
      order = order.filter((_, i) => i % shard.size === shard.rank);
    }
    const batches: number[][] = [];
    for (let b = 0; b < this.batchesPerEpoch; b++) {
      batches.push(order.slice(b * this.options.batchSize, (b + 1) * this.options.batchSize));
    }
    return batches;
  }

  /** The batches of `epoch`, from `startBatch` on, prefetched. */
  async *epoch(epoch: number, startBatch = 0): AsyncGenerator<Batch> {
    const batches = this.epochBatches(epoch);
    const ahead = Math.max(1, this.options.prefetch ?? 2 * Math.max(1, this.workers.length));
    const inflight: Promise<BatchData>[] = [];
    let requested = startBatch;
    const request = (): void => {
      if (requested < batches.length) inflight.push(this.load(batches[requested++]!, epoch));
    };
    for (let i = 0; i < ahead; i++) request();
    for (let b = startBatch; b < batches.length; b++) {
      const data = await inflight.shift()!;
      request();
      const [C, H, W] = this.options.outputShape;
      yield {
        x: new Tensor(data.data, [data.count, C, H, W], 'float32'),
        y: Tensor.int64(data.labels),
        index: b,
        skipped: data.skipped,
      };
    }
  }

  private load(indices: number[], epoch: number): Promise<BatchData> {
    const strict = this.options.strict ?? false;
    if (this.workers.length === 0) return this.builder.batch(indices, epoch, this.options.seed, strict);
    const id = this.nextId++;
    const worker = this.workers[this.nextWorker++ % this.workers.length]!;
    // Workers keep the process alive only while they owe a batch.
    worker.ref();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const msg: WorkerRequest = { type: 'batch', id, indices, epoch, seed: this.options.seed, strict };
      worker.postMessage(msg);
    });
  }

  private onReply(msg: WorkerReply): void {
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (this.pending.size === 0) for (const w of this.workers) w.unref();
    if (msg.type === 'error') p.reject(new Error(msg.message));
    else p.resolve({ data: msg.data, labels: msg.labels, count: msg.count, skipped: msg.skipped });
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  async close(): Promise<void> {
    const workers = this.workers;
    this.workers = [];
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
