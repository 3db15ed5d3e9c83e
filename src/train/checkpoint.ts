/**
 * Checkpoints are safetensors files: the model's state_dict under PyTorch's names (so they load in
 * PyTorch with safetensors.torch.load_file), optionally the optimizer state under "optimizer.", and
 * JSON metadata that makes a file self-describing (architecture, class names, input size,
 * normalisation, and for resumable checkpoints the run's position). Written atomically.
 */
import type { DType } from '../tensor/dtype.js';
import type { Tensor } from '../tensor/tensor.js';
import { loadSafetensors, saveSafetensors, type SafetensorsDType } from '../io/safetensors.js';
import { CHECKPOINT_FORMAT, parseModelMeta, type ModelMeta } from './meta.js';

export type { ModelMeta } from './meta.js';

export { CHECKPOINT_FORMAT } from './meta.js';

export interface Checkpoint {
  model: Map<string, Tensor<DType>>;
  /** Each tensor's dtype in the file, by its name there. */
  dtypes: ReadonlyMap<string, SafetensorsDType>;
  optimizer: Map<string, Tensor>;
  meta: ModelMeta | null;
  /** Free-form JSON objects stored next to the model metadata (run state, config). */
  extra: Record<string, unknown>;
}

/** The name of the first float tensor holding a NaN or an infinity (with `prefix`), or null. */
export function firstNonFinite(tensors: ReadonlyMap<string, Tensor<DType>>, prefix = ''): string | null {
  for (const [name, t] of tensors) {
    if (t.dtype === 'int64') continue;
    const data = t.dataSync() as Float32Array;
    for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) return `${prefix}${name}`;
  }
  return null;
}

/** The tensors with any on a device read back to the cpu (cpu ones as they are). */
export async function hostCopies<T extends Tensor<DType>>(
  tensors: ReadonlyMap<string, T>,
): Promise<Map<string, T>> {
  const out = new Map<string, T>();
  for (const [k, v] of tensors) out.set(k, (await v.cpu()) as T);
  return out;
}

/** Writes a checkpoint atomically; refuses (naming the tensor) one holding NaN or infinite values. */
export async function saveCheckpoint(
  path: string,
  model: ReadonlyMap<string, Tensor<DType>>,
  meta: ModelMeta,
  options: { optimizer?: ReadonlyMap<string, Tensor>; extra?: Record<string, unknown> } = {},
): Promise<void> {
  const tensors = await hostCopies(model);
  for (const [k, v] of await hostCopies(options.optimizer ?? new Map())) tensors.set(`optimizer.${k}`, v);
  const bad = firstNonFinite(tensors);
  if (bad) throw new Error(`${path}: not written, because ${bad} holds NaN or infinite values`);
  const metadata: Record<string, string> = { format: CHECKPOINT_FORMAT, model: JSON.stringify(meta) };
  for (const [k, v] of Object.entries(options.extra ?? {})) metadata[k] = JSON.stringify(v);
  await saveSafetensors(path, tensors, { metadata });
}

export async function loadCheckpoint(path: string): Promise<Checkpoint> {
  const { tensors, dtypes, metadata } = await loadSafetensors(path);
  const model = new Map<string, Tensor<DType>>();
  const optimizer = new Map<string, Tensor>();
  for (const [k, v] of tensors) {
    if (k.startsWith('optimizer.')) optimizer.set(k.slice('optimizer.'.length), v as Tensor);
    else model.set(k, v);
  }
  let meta: ModelMeta | null = null;
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(metadata)) {
    if (k === 'format') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(v);
    } catch {
      parsed = v;
    }
    if (k === 'model') meta = parseModelMeta(parsed, path);
    else extra[k] = parsed;
  }
  return { model, dtypes, optimizer, meta, extra };
}
