/**
 * What the page knows of the served model (GET /v1/model, GET /v1/card) and what a classification
 * gives back, whichever engine ran it.
 */
import type { TransformSpec } from '../data/transforms.js';
import type { ModelCard } from '../train/card.js';
import type { TopK } from '../train/top-k.js';

/** GET /v1/model. */
export interface ModelInfo {
  architecture: string;
  parameters: number;
  classes: string[];
  input_shape: [number, number, number];
  mean: number[];
  std: number[];
  eval_transforms: TransformSpec[];
  /** Where the ONNX export is, or null when the server offers none. */
  onnx: string | null;
}

/** GET /v1/card. */
export type CardInfo = ModelCard;

export type { TopK };

export interface Timings {
  decode_ms: number;
  inference_ms: number;
  total_ms: number;
}

/** One image's result: its top classes, or why there are none. */
export type Outcome =
  { ok: true; top: TopK; timings: Timings; ranOn: string } | { ok: false; error: string; ranOn: string };

/** Something that classifies images: the server's native engine, or ONNX Runtime in this page. */
export interface Engine {
  /** What runs, in words: "server: native engine", "browser: onnxruntime-web wasm, 2 threads". */
  readonly description: string;
  classify(file: File, topK: number): Promise<Outcome>;
}

export async function fetchJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${await errorText(res)}`);
  return (await res.json()) as T;
}

/** The server's JSON error message, or the body as text. */
export async function errorText(res: Response): Promise<string> {
  const text = await res.text();
  try {
    const body = JSON.parse(text) as { error?: unknown };
    if (typeof body.error === 'string') return body.error;
  } catch {
    // not JSON: the text itself
  }
  return text || res.statusText;
}
