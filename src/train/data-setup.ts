/**
 * From a --data argument to datasets and transforms: built-in IDX datasets (fashion-mnist, mnist) with
 * the recipe's augmentation, or an ImageFolder with the tutorial's defaults (224x224, ImageNet
 * normalisation, stratified 80/20 split).
 */
import {
  DEFAULT_FASHION_MNIST_DIR,
  loadIdxDataset,
  scanImageFolder,
  stratifiedSplit,
  stratifiedSubset,
  Subset,
  type Dataset,
} from '../data/datasets.js';
import type { TransformSpec } from '../data/transforms.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../models/registry.js';

const FASHION_MNIST_MEAN = [0.286, 0.286, 0.286];
const FASHION_MNIST_STD = [0.353, 0.353, 0.353];
const MNIST_MEAN = [0.1307, 0.1307, 0.1307];
const MNIST_STD = [0.3081, 0.3081, 0.3081];

export interface DataConfig {
  /** A folder, or 'fashion-mnist' / 'mnist'. */
  data: string;
  /** Where the IDX files of a built-in dataset are. */
  dataDir?: string;
  /** A separate validation folder (instead of a split). */
  valData?: string;
  valSplit: number;
  imageSize?: number;
  subset?: number;
  /** Validate on a stratified subset of this many images (quick runs). */
  valSubset?: number;
  seed: number;
  strict: boolean;
  /** 'flip' (default for folders), 'crop-flip' (random resized crop + flip) or 'none'. */
  augment?: 'none' | 'flip' | 'crop-flip';
}

export interface PreparedData {
  kind: 'builtin' | 'folder';
  train: Dataset;
  val: Dataset;
  /** What the validation set is, for messages: 'test split' or 'held-out 20%'. */
  valDescription: string;
  classes: readonly string[];
  trainTransforms: TransformSpec[];
  evalTransforms: TransformSpec[];
  mean: number[];
  std: number[];
  inputShape: [number, number, number];
  skipped: { file: string; reason: string }[];
}

export function isBuiltin(data: string): data is 'fashion-mnist' | 'mnist' {
  return data === 'fashion-mnist' || data === 'mnist';
}

export async function prepareData(c: DataConfig): Promise<PreparedData> {
  const prepared = await prepareFull(c);
  if (c.valSubset && c.valSubset < prepared.val.length) {
    prepared.val = new Subset(prepared.val, stratifiedSubset(prepared.val, c.valSubset, c.seed + 1));
    prepared.valDescription += ` (stratified subset of ${prepared.val.length})`;
  }
  return prepared;
}

/** The folder of a built-in dataset's IDX files: `dataDir`, else Debian's Fashion-MNIST package. */
export function builtinDataDir(data: 'fashion-mnist' | 'mnist', dataDir: string | undefined): string {
  const dir = dataDir ?? (data === 'fashion-mnist' ? DEFAULT_FASHION_MNIST_DIR : undefined);
  if (!dir) throw new Error('mnist: no default folder; give dataDir (--data-dir) with the MNIST IDX files');
  return dir;
}

async function prepareFull(c: DataConfig): Promise<PreparedData> {
  if (isBuiltin(c.data)) {
    const dir = builtinDataDir(c.data, c.dataDir);
    const trainAll = loadIdxDataset(c.data, dir, 'train');
    const test = loadIdxDataset(c.data, dir, 'test');
    const size = c.imageSize ?? 32;
    // 28x28 grey: padded to the size (the recipe's 28 → 32), or resized when smaller or much larger.
    const fit: TransformSpec[] =
      size >= 28 && size <= 40 && (size - 28) % 2 === 0
        ? [{ type: 'pad', padding: (size - 28) / 2 }]
        : [{ type: 'resize', size: [size, size] }];
    const augment: TransformSpec[] =
      c.augment === 'none'
        ? []
        : [
            { type: 'randomCrop', size, padding: 4 },
            ...(c.data === 'fashion-mnist' ? [{ type: 'randomHorizontalFlip' } as const] : []),
          ];
    const train = c.subset ? new Subset(trainAll, stratifiedSubset(trainAll, c.subset, c.seed)) : trainAll;
    return {
      kind: 'builtin',
      train,
      val: test,
      valDescription: `${c.data} test split`,
      classes: trainAll.classes,
      trainTransforms: [...fit, ...augment, { type: 'grayToRgb' }],
      evalTransforms: [...fit, { type: 'grayToRgb' }],
      mean: c.data === 'fashion-mnist' ? FASHION_MNIST_MEAN : MNIST_MEAN,
      std: c.data === 'fashion-mnist' ? FASHION_MNIST_STD : MNIST_STD,
      inputShape: [3, size, size],
      skipped: [],
    };
  }

  const scanned = await scanImageFolder(c.data, { strict: c.strict });
  const skipped = [...scanned.skipped];
  const all = scanned.dataset;
  let train: Dataset;
  let val: Dataset;
  let valDescription: string;
  if (c.valData) {
    const v = await scanImageFolder(c.valData, { strict: c.strict });
    skipped.push(...v.skipped);
    if (v.dataset.classes.join('\n') !== all.classes.join('\n')) {
      throw new Error(
        `validation folder ${c.valData} has classes [${v.dataset.classes.join(', ')}], the training folder [${all.classes.join(', ')}]`,
      );
    }
    train = all;
    val = v.dataset;
    valDescription = `validation folder ${c.valData}`;
  } else {
    const [rest, held] = stratifiedSplit(all, c.valSplit, c.seed);
    train = new Subset(all, rest);
    val = new Subset(all, held);
    valDescription = `stratified ${Math.round(c.valSplit * 100)}% of ${c.data}`;
  }
  if (c.subset) train = new Subset(train, stratifiedSubset(train, c.subset, c.seed));
  const size = c.imageSize ?? 224;
  const augment = c.augment ?? 'flip';
  const trainTransforms: TransformSpec[] =
    augment === 'crop-flip'
      ? [{ type: 'randomResizedCrop', size: [size, size] }, { type: 'randomHorizontalFlip' }]
      : [
          { type: 'resize', size: [size, size] },
          ...(augment === 'flip' ? [{ type: 'randomHorizontalFlip' } as const] : []),
        ];
  return {
    kind: 'folder',
    train,
    val,
    valDescription,
    classes: all.classes,
    trainTransforms,
    evalTransforms: [{ type: 'resize', size: [size, size] }],
    mean: [...IMAGENET_MEAN],
    std: [...IMAGENET_STD],
    inputShape: [3, size, size],
    skipped,
  };
}
