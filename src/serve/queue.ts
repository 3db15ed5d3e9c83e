/**
 * The inference queue of the HTTP endpoint: requests wait in a bounded FIFO, and whatever is waiting
 * when the model is free runs as one batch (up to maxBatch images), so concurrent requests share
 * forward passes. Inference runs on the event loop's thread (a GPU's while its results are read
 * back); between batches the loop turns, so requests keep being read and answered.
 */
import type { RawImage } from '../data/image.js';
import type { Classifier, TopK } from '../train/predict.js';

export class QueueFullError extends Error {
  constructor(size: number) {
    super(`the server is busy: ${size} requests are already waiting; try again shortly`);
    this.name = 'QueueFullError';
  }
}

export class QueueTimeoutError extends Error {
  constructor(ms: number) {
    super(`the request waited more than ${ms} ms for the model`);
    this.name = 'QueueTimeoutError';
  }
}

interface Job {
  images: RawImage[];
  topK: number;
  resolve: (tops: TopK[]) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class InferenceQueue {
  private readonly waiting: Job[] = [];
  private running = false;

  constructor(
    private readonly classifier: Classifier,
    private readonly options: { capacity: number; maxBatch: number; timeoutMs: number },
  ) {}

  get size(): number {
    return this.waiting.length;
  }

  /** The top-k of each image, once the model has run on them; rejects when full or timed out. */
  classify(images: RawImage[], topK: number): Promise<TopK[]> {
    if (this.waiting.length >= this.options.capacity)
      return Promise.reject(new QueueFullError(this.waiting.length));
    return new Promise((resolve, reject) => {
      const job: Job = {
        images,
        topK,
        resolve,
        reject,
        timer: setTimeout(() => {
          const at = this.waiting.indexOf(job);
          if (at >= 0) this.waiting.splice(at, 1);
          reject(new QueueTimeoutError(this.options.timeoutMs));
        }, this.options.timeoutMs),
      };
      this.waiting.push(job);
      if (!this.running) setImmediate(() => void this.drain());
    });
  }

  /** Runs batches while jobs wait, yielding to the event loop between them. */
  private async drain(): Promise<void> {
    if (this.running || this.waiting.length === 0) return;
    this.running = true;
    const batch: Job[] = [];
    let count = 0;
    while (
      this.waiting.length &&
      (batch.length === 0 || count + this.waiting[0]!.images.length <= this.options.maxBatch)
    ) {
      const job = this.waiting.shift()!;
      clearTimeout(job.timer);
      batch.push(job);
      count += job.images.length;
    }
    try {
      const tops = await this.classifier.classify(
        batch.flatMap((j) => j.images),
        Math.max(...batch.map((j) => j.topK)),
      );
      let at = 0;
      for (const job of batch) {
        job.resolve(tops.slice(at, at + job.images.length).map((t) => t.slice(0, job.topK)));
        at += job.images.length;
      }
    } catch (e) {
      for (const job of batch) job.reject(e as Error);
    } finally {
      this.running = false;
      if (this.waiting.length) setImmediate(() => void this.drain());
    }
  }
}
