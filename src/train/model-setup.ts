/** Building models for training, fine-tuning, evaluation and prediction from names and weight files. */
import { loadSafetensors, type SafetensorsDType } from '../io/safetensors.js';
import { createModel } from '../models/registry.js';
import { fromTutorialStateDict, isTutorialStateDict } from '../models/tutorial-weights.js';
import type { ResNet } from '../models/resnet.js';
import type { DType } from '../tensor/dtype.js';
import type { Tensor } from '../tensor/tensor.js';
import { formatShape, sameShape } from '../tensor/shape.js';
import { firstNonFinite, loadCheckpoint, type ModelMeta } from './checkpoint.js';

const FLOAT_STORAGE: readonly SafetensorsDType[] = ['F32', 'F16', 'BF16', 'F64'];

/** How loading treats weights holding NaN or infinite values: `strict` refuses them, else `warn` is told. */
export interface WeightCheckOptions {
  strict?: boolean;
  warn?: (message: string) => void;
}

function checkFinite(
  path: string,
  state: ReadonlyMap<string, Tensor<DType>>,
  options: WeightCheckOptions,
): void {
  const bad = firstNonFinite(state);
  if (!bad) return;
  const message = `${path}: ${bad} holds NaN or infinite values`;
  if (options.strict) throw new Error(`${message} (refused under strict)`);
  (options.warn ?? ((m: string) => process.stderr.write(`warning: ${m}\n`)))(message);
}

/** Strips DataParallel's "module." prefix, so checkpoints saved from wrapped models load too. */
function normalizeKeys(state: ReadonlyMap<string, Tensor<DType>>): Map<string, Tensor<DType>> {
  const all = [...state.keys()];
  const strip = all.length > 0 && all.every((k) => k.startsWith('module.'));
  return new Map([...state].map(([k, v]) => [strip ? k.slice('module.'.length) : k, v]));
}

/**
 * Loads pretrained weights (ours, torchvision/timm converted to safetensors, or the tutorial's) into `model` for
 * fine-tuning. The classifier is kept when its shape fits and left freshly initialised when the class
 * count differs; any other missing, unexpected or mis-shaped key means the file is for another
 * architecture, and the error lists them.
 */
export async function loadPretrained(
  model: ResNet,
  path: string,
  options: WeightCheckOptions = {},
): Promise<{ headReplaced: boolean; from: number | null }> {
  const { tensors } = await loadSafetensors(path);
  let state = normalizeKeys(new Map([...tensors].filter(([k]) => !k.startsWith('optimizer.'))));
  if (isTutorialStateDict(state.keys())) state = fromTutorialStateDict(state);
  const own = model.stateDict();
  const missing = [...own.keys()].filter((k) => !state.has(k) && !k.startsWith('fc.'));
  const unexpected = [...state.keys()].filter((k) => !own.has(k));
  const misfit = [...own]
    .filter(([k, t]) => !k.startsWith('fc.') && state.has(k) && !sameShape(state.get(k)!.shape, t.shape))
    .map(([k, t]) => `${k} (file ${formatShape(state.get(k)!.shape)}, model ${formatShape(t.shape)})`);
  if (missing.length || unexpected.length || misfit.length) {
    const parts = [
      missing.length
        ? `missing ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? `, … (${missing.length})` : ''}`
        : '',
      unexpected.length
        ? `unexpected ${unexpected.slice(0, 5).join(', ')}${unexpected.length > 5 ? `, … (${unexpected.length})` : ''}`
        : '',
      misfit.length ? `mis-shaped ${misfit.slice(0, 5).join(', ')}` : '',
    ].filter(Boolean);
    throw new Error(`weights file ${path} does not fit this architecture: ${parts.join('; ')}`);
  }
  const fcWeight = state.get('fc.weight');
  const headFits =
    model.fc !== null && fcWeight !== undefined && sameShape(fcWeight.shape, model.fc.weight.shape);
  const toLoad = new Map([...state].filter(([k]) => headFits || !k.startsWith('fc.')));
  checkFinite(path, toLoad, options);
  try {
    model.loadStateDict(toLoad, { strict: false });
  } catch (e) {
    throw new Error(`weights file ${path}: ${(e as Error).message}`);
  }
  return { headReplaced: !headFits, from: fcWeight ? fcWeight.shape[0]! : null };
}

/** A model and its metadata from one of our weight files (best.safetensors, last.safetensors). */
export async function loadTrainedModel(
  path: string,
  options: WeightCheckOptions = {},
): Promise<{ model: ResNet; meta: ModelMeta }> {
  const ckpt = await loadCheckpoint(path);
  checkFinite(path, ckpt.model, options);
  if (!ckpt.meta) {
    throw new Error(
      `${path} has no model metadata (architecture, class names); it is not a file written by resnext train. ` +
        'Use it with --weights in resnext train to fine-tune instead.',
    );
  }
  const meta = ckpt.meta;
  const model = createModel(meta.arch, { numClasses: meta.classes.length });
  const fc = ckpt.model.get('fc.weight');
  if (fc && fc.shape[0] !== meta.classes.length) {
    throw new Error(
      `${path}: fc.weight has ${fc.shape[0]} classes but the metadata names ${meta.classes.length}`,
    );
  }
  const own = model.stateDict();
  for (const [key, stored] of ckpt.dtypes) {
    if (own.get(key)?.dtype === 'float32' && !FLOAT_STORAGE.includes(stored)) {
      throw new Error(
        `${path}: tensor "${key}" is stored as ${stored}, but the model's tensor is floating point (${FLOAT_STORAGE.join(', ')})`,
      );
    }
  }
  try {
    model.loadStateDict(ckpt.model);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
  model.eval();
  return { model, meta };
}
