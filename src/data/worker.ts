/** Loader worker thread: rebuilds the dataset from its spec and turns index lists into batches. */
import { parentPort } from 'node:worker_threads';
import { datasetFromSpec, type DatasetSpec } from './datasets.js';
import { SampleBuilder, type SampleOptions } from './sample.js';

export type WorkerRequest =
  | { type: 'init'; spec: DatasetSpec; options: SampleOptions }
  | { type: 'batch'; id: number; indices: number[]; epoch: number; seed: number; strict: boolean };

export type WorkerReply =
  | {
      type: 'batch';
      id: number;
      data: Float32Array;
      labels: Int32Array;
      count: number;
      skipped: { name: string; reason: string }[];
    }
  | { type: 'error'; id: number; message: string };

let builder: SampleBuilder | null = null;

parentPort?.on('message', (msg: WorkerRequest) => {
  if (msg.type === 'init') {
    builder = new SampleBuilder(datasetFromSpec(msg.spec), msg.options);
    return;
  }
  if (!builder) throw new Error('loader worker: batch requested before init');
  builder.batch(msg.indices, msg.epoch, msg.seed, msg.strict).then(
    (b) => {
      const reply: WorkerReply = { type: 'batch', id: msg.id, ...b };
      parentPort!.postMessage(reply, [b.data.buffer as ArrayBuffer, b.labels.buffer as ArrayBuffer]);
    },
    (err: Error) => {
      const reply: WorkerReply = { type: 'error', id: msg.id, message: err.message };
      parentPort!.postMessage(reply);
    },
  );
});
