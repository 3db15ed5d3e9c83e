/**
 * The HTTP endpoint of a trained model (node:http: the two routes need no framework):
 *   POST /v1/predict   the image as the body (image/*, application/octet-stream) or as
 *                      multipart/form-data files (busboy); ?top_k=K. JSON: label, probability, top,
 *                      timings (ms); several files give { predictions: [...], timings }.
 *   GET  /v1/model     the model's metadata (architecture, classes, input, normalisation)
 *   GET  /healthz      { status, queued }
 *   GET  /v1/model.onnx the network as ONNX (batch norm folded), for the page's in-browser inference
 *   GET  /v1/card      the model card (architecture, classes, input, training data and history)
 *   GET  /             the web page (web/index.html; its assets under /app/ and /ort/, see static.ts)
 * Limits keep it alive: body size (413), decoded pixels and undecodable images (400), a bounded queue
 * (503 when full), a wait limit (504); every error is JSON { error }.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import busboy from 'busboy';
import { decodeImageBytes, ImageDecodeError, type RawImage } from '../data/image.js';
import { MAX_IMAGE_PIXELS } from '../data/limits.js';
import type { ModelCard } from '../train/card.js';
import type { ModelMeta } from '../train/meta.js';
import type { Classifier } from '../train/predict.js';
import { InferenceQueue, QueueFullError, QueueTimeoutError } from './queue.js';
import { ISOLATION_HEADERS, StaticFiles } from './static.js';

export interface ServeLimits {
  /** Largest request body (all files together), bytes. Default 20 MB. */
  maxBodyBytes: number;
  /** Most pixels an uploaded image may decode to. Default MAX_IMAGE_PIXELS. */
  maxPixels: number;
  /** Most images in one request. Default 16. */
  maxFiles: number;
  /** Requests that may wait for the model; more get 503. Default 64. */
  queueCapacity: number;
  /** Images run together in one forward pass. Default 8. */
  maxBatch: number;
  /** How long a request may wait for the model, ms (504 after). Default 30,000. */
  timeoutMs: number;
}

export const DEFAULT_SERVE_LIMITS: ServeLimits = {
  maxBodyBytes: 20 * 2 ** 20,
  maxPixels: MAX_IMAGE_PIXELS,
  maxFiles: 16,
  queueCapacity: 64,
  maxBatch: 8,
  timeoutMs: 30_000,
};

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...ISOLATION_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** The body as one buffer, refused past `limit` bytes. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit)
      return reject(new HttpError(413, `the body is ${declared} bytes, over the ${limit}-byte limit`));
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new HttpError(413, `the body is over the ${limit}-byte limit`));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** The files of a multipart/form-data body, within the limits. */
function readMultipart(
  req: IncomingMessage,
  limits: ServeLimits,
): Promise<{ name: string; bytes: Buffer }[]> {
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: req.headers,
        limits: { fileSize: limits.maxBodyBytes, files: limits.maxFiles },
      });
    } catch (e) {
      return reject(new HttpError(400, `bad multipart request (${(e as Error).message})`));
    }
    const files: { name: string; bytes: Buffer }[] = [];
    let total = 0;
    parser.on('file', (field, stream, info) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => {
        total += chunk.length;
        chunks.push(chunk);
      });
      stream.on('limit', () =>
        reject(
          new HttpError(413, `file ${info.filename ?? field} is over the ${limits.maxBodyBytes}-byte limit`),
        ),
      );
      stream.on('end', () => files.push({ name: info.filename || field, bytes: Buffer.concat(chunks) }));
    });
    parser.on('filesLimit', () =>
      reject(new HttpError(413, `more than ${limits.maxFiles} files in one request`)),
    );
    parser.on('error', (e: Error) => reject(new HttpError(400, `bad multipart request (${e.message})`)));
    parser.on('close', () => {
      if (total > limits.maxBodyBytes)
        reject(new HttpError(413, `the files are over the ${limits.maxBodyBytes}-byte limit`));
      else resolve(files);
    });
    req.pipe(parser);
  });
}

const API_PATHS = ['/v1/predict', '/v1/model', '/v1/model.onnx', '/v1/card', '/healthz'];

export interface PredictServer {
  server: Server;
  queue: InferenceQueue;
  /** Stops taking connections, answers what is in flight, then resolves. */
  close(): Promise<void>;
}

/** What the server says about its model besides running it. */
export interface ServedModel {
  meta: ModelMeta;
  parameters: number;
  /** The model card; GET /v1/card answers 404 without one. */
  card?: ModelCard;
  /** The model as ONNX, made on the first GET /v1/model.onnx; without it the page runs on the server only. */
  onnx?: () => Uint8Array;
}

export function createPredictServer(
  classifier: Classifier,
  info: ServedModel,
  limits: Partial<ServeLimits> = {},
): PredictServer {
  const l: ServeLimits = { ...DEFAULT_SERVE_LIMITS, ...limits };
  const queue = new InferenceQueue(classifier, {
    capacity: l.queueCapacity,
    maxBatch: l.maxBatch,
    timeoutMs: l.timeoutMs,
  });
  const { meta } = info;
  const modelInfo = {
    architecture: meta.arch,
    parameters: info.parameters,
    classes: meta.classes,
    input_shape: meta.inputShape,
    mean: meta.mean,
    std: meta.std,
    eval_transforms: meta.evalTransforms,
    onnx: info.onnx ? '/v1/model.onnx' : null,
  };
  const files = new StaticFiles();
  let onnxBytes: Uint8Array | undefined;

  function sendOnnx(res: ServerResponse): void {
    if (!info.onnx) throw new HttpError(404, 'this server was started without an ONNX export of its model');
    onnxBytes ??= info.onnx();
    res.writeHead(200, {
      ...ISOLATION_HEADERS,
      'content-type': 'application/octet-stream',
      'content-length': onnxBytes.byteLength,
      'cache-control': 'no-cache',
    });
    res.end(onnxBytes);
  }

  async function predict(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const started = performance.now();
    const topK = Number(url.searchParams.get('top_k') ?? 5);
    if (!Number.isInteger(topK) || topK < 1)
      throw new HttpError(400, `top_k must be a positive integer, got "${url.searchParams.get('top_k')}"`);
    const type = req.headers['content-type'] ?? '';
    const files = type.startsWith('multipart/form-data')
      ? await readMultipart(req, l)
      : [{ name: 'body', bytes: await readBody(req, l.maxBodyBytes) }];
    if (files.length === 0 || files.every((f) => f.bytes.length === 0))
      throw new HttpError(400, 'no image in the request (send the image as the body, or as multipart files)');
    let images: RawImage[];
    try {
      images = await Promise.all(
        files.map((f) =>
          decodeImageBytes(f.bytes, f.name, { shorterSide: classifier.decodeHint, maxPixels: l.maxPixels }),
        ),
      );
    } catch (e) {
      if (e instanceof ImageDecodeError) throw new HttpError(400, e.message);
      throw e;
    }
    const decoded = performance.now();
    const tops = await queue.classify(images, topK);
    const done = performance.now();
    const timings = { decode_ms: decoded - started, inference_ms: done - decoded, total_ms: done - started };
    const predictions = tops.map((top, i) => ({
      file: files[i]!.name,
      label: top[0]!.label,
      probability: top[0]!.probability,
      top,
    }));
    if (predictions.length === 1) {
      const [{ label, probability, top }] = predictions as [(typeof predictions)[number]];
      sendJson(res, 200, { label, probability, top, timings });
    } else sendJson(res, 200, { predictions, timings });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = `${req.method} ${url.pathname}`;
    if (route === 'POST /v1/predict') return predict(req, res, url);
    if (route === 'GET /v1/model') return sendJson(res, 200, modelInfo);
    if (route === 'GET /v1/model.onnx') return sendOnnx(res);
    if (route === 'GET /v1/card') {
      if (!info.card) throw new HttpError(404, 'this server has no model card');
      return sendJson(res, 200, info.card);
    }
    if (route === 'GET /healthz') return sendJson(res, 200, { status: 'ok', queued: queue.size });
    if ((req.method === 'GET' || req.method === 'HEAD') && files.serve(url.pathname, res)) return;
    if (API_PATHS.includes(url.pathname))
      throw new HttpError(405, `${req.method} is not allowed on ${url.pathname}`);
    throw new HttpError(
      404,
      `no such endpoint: ${url.pathname} (GET / for the page; POST /v1/predict, GET /v1/model, GET /v1/model.onnx, GET /v1/card, GET /healthz)`,
    );
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: Error) => {
      const status =
        e instanceof HttpError
          ? e.status
          : e instanceof QueueFullError
            ? 503
            : e instanceof QueueTimeoutError
              ? 504
              : 500;
      if (res.headersSent) return res.destroy();
      if (status === 413) res.setHeader('connection', 'close');
      sendJson(res, status, { error: e.message });
    });
  });
  server.requestTimeout = l.timeoutMs * 2;

  return {
    server,
    queue,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
