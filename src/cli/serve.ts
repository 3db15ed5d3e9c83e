import type { AddressInfo } from 'node:net';
import { Command } from 'commander';
import { DEFAULT_SERVE_LIMITS, createPredictServer } from '../serve/server.js';
import { exportOnnx } from '../io/onnx.js';
import { modelCard } from '../train/card.js';
import { onnxMetadata } from '../train/export.js';
import { loadTrainedModel } from '../train/model-setup.js';
import { Classifier } from '../train/predict.js';
import { positiveInt } from './args.js';
import { backendOption, deviceFor, type BackendFlag } from './backend.js';

interface ServeFlags {
  weights: string;
  host: string;
  port: number;
  maxBodyMb: number;
  queue: number;
  batch: number;
  timeoutMs: number;
  backend?: BackendFlag;
}

const port = (value: string): number => {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new Error(`--port must be 0-65535, got "${value}"`);
  return n;
};

export function serveCommand(): Command {
  const d = DEFAULT_SERVE_LIMITS;
  return new Command('serve')
    .description(
      'serve a trained model over HTTP: a web page at / (inference in the browser or on the server), /train (training in the browser on WebGPU), /bench (WebGPU benchmark), POST /v1/predict, GET /v1/model, GET /v1/model.onnx, GET /v1/card, GET /healthz',
    )
    .requiredOption('-w, --weights <file>', 'weights written by resnext train (best.safetensors)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port (0: any free one)', port, 8080)
    .option(
      '--max-body-mb <mb>',
      'largest request body, MB',
      positiveInt('--max-body-mb'),
      d.maxBodyBytes / 2 ** 20,
    )
    .option(
      '--queue <n>',
      'requests that may wait for the model (more get 503)',
      positiveInt('--queue'),
      d.queueCapacity,
    )
    .option('--batch <n>', 'images run together in one forward pass', positiveInt('--batch'), d.maxBatch)
    .option(
      '--timeout-ms <ms>',
      'how long a request may wait for the model (504 after)',
      positiveInt('--timeout-ms'),
      d.timeoutMs,
    )
    .addOption(backendOption())
    .action(async (flags: ServeFlags) => {
      const device = await deviceFor(flags.backend);
      const { model, meta } = await loadTrainedModel(flags.weights, { strict: true });
      const service = createPredictServer(
        new Classifier(model, meta, device, { traced: true }),
        {
          meta,
          parameters: model.parameterCount(),
          card: modelCard(model, meta, flags.weights),
          onnx: () =>
            exportOnnx(model, {
              inputShape: meta.inputShape,
              foldBatchNorm: true,
              metadata: onnxMetadata(meta),
              name: meta.arch,
            }),
        },
        {
          maxBodyBytes: flags.maxBodyMb * 2 ** 20,
          queueCapacity: flags.queue,
          maxBatch: flags.batch,
          timeoutMs: flags.timeoutMs,
        },
      );
      await new Promise<void>((resolve, reject) => {
        service.server.once('error', reject);
        service.server.listen(flags.port, flags.host, resolve);
      });
      const address = service.server.address() as AddressInfo;
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      console.log(
        `serving ${meta.arch} (${meta.classes.length} classes) on http://${host}:${address.port}: the pages at /, /train and /bench, POST /v1/predict, GET /v1/model`,
      );
      const stop = (signal: string): void => {
        console.log(`${signal}: finishing the requests in flight, then stopping`);
        void service.close().then(() => console.log('stopped'));
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
}
