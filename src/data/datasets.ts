/**
 * Datasets: an ImageFolder (one sub-folder per class, classes in sorted order, as torchvision's) and
 * the IDX datasets (Fashion-MNIST, MNIST), plus subsets and the stratified, seeded splits used for
 * validation. A dataset can describe itself as plain data (DatasetSpec) so that loader worker threads
 * rebuild it without re-scanning; IDX pixels travel in a SharedArrayBuffer.
 */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Generator } from '../tensor/rng.js';
import {
  decodeImage,
  fromGray8,
  isImageFile,
  probeImage,
  type DecodeOptions,
  type RawImage,
} from './image.js';
import { readIdx } from './idx.js';
import { entryKind, visibleEntries, walkFiles } from './walk.js';

export type DatasetSpec =
  | { kind: 'files'; classes: string[]; files: string[]; labels: number[] }
  | {
      kind: 'pixels';
      classes: string[];
      pixels: SharedArrayBuffer;
      count: number;
      height: number;
      width: number;
      labels: number[];
    };

export interface Dataset {
  readonly classes: readonly string[];
  readonly length: number;
  labelOf(index: number): number;
  /** A name for the sample in messages: its file, or dataset and index. */
  describe(index: number): string;
  load(index: number, options?: DecodeOptions): Promise<RawImage>;
  spec(): DatasetSpec;
}

export class FileDataset implements Dataset {
  constructor(
    readonly classes: readonly string[],
    readonly files: readonly string[],
    readonly labels: readonly number[],
  ) {}

  get length(): number {
    return this.files.length;
  }

  labelOf(index: number): number {
    return this.labels[index]!;
  }

  describe(index: number): string {
    return this.files[index]!;
  }

  load(index: number, options?: DecodeOptions): Promise<RawImage> {
    return decodeImage(this.files[index]!, options);
  }

  spec(): DatasetSpec {
    return { kind: 'files', classes: [...this.classes], files: [...this.files], labels: [...this.labels] };
  }
}

export class PixelDataset implements Dataset {
  private readonly bytes: Uint8Array;

  constructor(
    readonly name: string,
    readonly classes: readonly string[],
    readonly pixels: SharedArrayBuffer,
    readonly count: number,
    readonly height: number,
    readonly width: number,
    readonly labels: readonly number[],
  ) {
    this.bytes = new Uint8Array(pixels);
  }

  get length(): number {
    return this.count;
  }

  labelOf(index: number): number {
    return this.labels[index]!;
  }

  describe(index: number): string {
    return `${this.name}[${index}]`;
  }

  load(index: number): Promise<RawImage> {
    const size = this.height * this.width;
    return Promise.resolve(
      fromGray8(this.bytes.subarray(index * size, (index + 1) * size), this.width, this.height),
    );
  }

  spec(): DatasetSpec {
    return {
      kind: 'pixels',
      classes: [...this.classes],
      pixels: this.pixels,
      count: this.count,
      height: this.height,
      width: this.width,
      labels: [...this.labels],
    };
  }
}

export function datasetFromSpec(spec: DatasetSpec): Dataset {
  return spec.kind === 'files'
    ? new FileDataset(spec.classes, spec.files, spec.labels)
    : new PixelDataset('pixels', spec.classes, spec.pixels, spec.count, spec.height, spec.width, spec.labels);
}

/** A view of some samples of another dataset. */
export class Subset implements Dataset {
  constructor(
    readonly base: Dataset,
    readonly indices: readonly number[],
  ) {}

  get classes(): readonly string[] {
    return this.base.classes;
  }

  get length(): number {
    return this.indices.length;
  }

  labelOf(index: number): number {
    return this.base.labelOf(this.indices[index]!);
  }

  describe(index: number): string {
    return this.base.describe(this.indices[index]!);
  }

  load(index: number, options?: DecodeOptions): Promise<RawImage> {
    return this.base.load(this.indices[index]!, options);
  }

  spec(): DatasetSpec {
    const s = this.base.spec();
    if (s.kind === 'files') {
      return {
        ...s,
        files: this.indices.map((i) => s.files[i]!),
        labels: this.indices.map((i) => s.labels[i]!),
      };
    }
    // Pixels stay shared; the subset is a new dataset over copied rows.
    const size = s.height * s.width;
    const src = new Uint8Array(s.pixels);
    const pixels = new SharedArrayBuffer(this.indices.length * size);
    const dst = new Uint8Array(pixels);
    this.indices.forEach((i, k) => dst.set(src.subarray(i * size, (i + 1) * size), k * size));
    return { ...s, pixels, count: this.indices.length, labels: this.indices.map((i) => s.labels[i]!) };
  }
}

export interface ScanReport {
  dataset: FileDataset;
  /** Files that could not be read as images, with the reason; they are left out. */
  skipped: { file: string; reason: string }[];
}

/**
 * Scans an ImageFolder: every sub-folder is a class (sorted by name); image files are checked by
 * reading their header. Symbolic links to class folders, sub-folders and images are followed (each
 * real folder once per class); links that lead nowhere are skipped and named, like unreadable files.
 * Empty class folders, a single class and a missing path are errors.
 */
export async function scanImageFolder(root: string, options: { strict?: boolean } = {}): Promise<ScanReport> {
  const dir = resolve(root);
  if (!existsSync(dir)) throw new Error(`data folder ${root} does not exist`);
  if (!statSync(dir).isDirectory()) throw new Error(`data path ${root} is not a folder`);
  const skipped: { file: string; reason: string }[] = [];
  const skip = (file: string, reason: string): void => {
    if (options.strict) throw new Error(`${file}: ${reason}`);
    skipped.push({ file, reason });
  };
  const classes: string[] = [];
  for (const name of visibleEntries(dir)) {
    const entry = entryKind(join(dir, name));
    if (entry.kind === 'folder') classes.push(name);
    else if (entry.kind === 'broken') skip(join(dir, name), entry.reason);
  }
  if (classes.length === 0) {
    throw new Error(`data folder ${root} has no class sub-folders (expected ${root}/<class>/<image files>)`);
  }
  if (classes.length === 1)
    throw new Error(`data folder ${root} has a single class (${classes[0]}); at least two are needed`);
  const files: string[] = [];
  const labels: number[] = [];
  for (const [label, name] of classes.entries()) {
    const classDir = join(dir, name);
    const walked = walkFiles(classDir);
    for (const b of walked.broken) skip(b.file, b.reason);
    const candidates = walked.files.filter(isImageFile);
    let kept = 0;
    for (const file of candidates) {
      try {
        await probeImage(file);
        files.push(file);
        labels.push(label);
        kept++;
      } catch (err) {
        if (options.strict) throw err;
        skipped.push({ file, reason: (err as Error).message });
      }
    }
    if (kept === 0) {
      throw new Error(
        `class folder ${classDir} has no readable images (${candidates.length} candidate files)`,
      );
    }
  }
  return { dataset: new FileDataset(classes, files, labels), skipped };
}

export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

/** Where Debian's dataset-fashion-mnist package installs the files. */
export const DEFAULT_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/**
 * An IDX dataset in `dir` (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-...),
 * as Fashion-MNIST and MNIST ship.
 */
export function loadIdxDataset(
  name: 'fashion-mnist' | 'mnist',
  dir: string,
  split: 'train' | 'test',
): PixelDataset {
  const prefix = split === 'train' ? 'train' : 't10k';
  const find = (kind: 'images-idx3' | 'labels-idx1'): string => {
    for (const candidate of [
      `${prefix}-${kind}-ubyte.gz`,
      `${prefix}-${kind}-ubyte`,
      `${prefix}-${kind.replace('-', '.')}-ubyte`,
    ]) {
      const p = join(dir, candidate);
      if (existsSync(p)) return p;
    }
    const hint =
      name === 'fashion-mnist'
        ? ' (apt-get install dataset-fashion-mnist, or pass --data-dir)'
        : ' (pass --data-dir)';
    throw new Error(`${name}: ${join(dir, `${prefix}-${kind}-ubyte[.gz]`)} not found${hint}`);
  };
  const imagesPath = find('images-idx3');
  const labelsPath = find('labels-idx1');
  const images = readIdx(imagesPath);
  const labels = readIdx(labelsPath);
  if (images.shape.length !== 3)
    throw new Error(`${imagesPath}: expected [count, rows, cols], got [${images.shape.join(', ')}]`);
  if (labels.shape.length !== 1 || labels.shape[0] !== images.shape[0]) {
    throw new Error(`${labelsPath}: ${labels.shape[0]} labels for ${images.shape[0]} images`);
  }
  const classes =
    name === 'fashion-mnist' ? FASHION_MNIST_CLASSES : Array.from({ length: 10 }, (_, i) => String(i));
  const labelList = Array.from(labels.data);
  const bad = labelList.findIndex((l) => l >= classes.length);
  if (bad >= 0)
    throw new Error(
      `${labelsPath}: label ${labelList[bad]} at index ${bad} is outside 0..${classes.length - 1}`,
    );
  const pixels = new SharedArrayBuffer(images.data.length);
  new Uint8Array(pixels).set(images.data);
  const [count, height, width] = images.shape as [number, number, number];
  return new PixelDataset(`${name}-${split}`, classes, pixels, count, height, width, labelList);
}

/** Indices of each class, in order. */
function byClass(dataset: Dataset): number[][] {
  const groups: number[][] = dataset.classes.map(() => []);
  for (let i = 0; i < dataset.length; i++) groups[dataset.labelOf(i)]!.push(i);
  return groups;
}

/**
 * A seeded, stratified split: each class contributes round(fraction · its size) samples (at least one
 * when it has two or more) to the second part. Returns [rest, held-out] as index lists.
 */
export function stratifiedSplit(dataset: Dataset, fraction: number, seed: number): [number[], number[]] {
  if (!(fraction > 0 && fraction < 1))
    throw new RangeError(`split fraction must be in (0, 1), got ${fraction}`);
  const gen = new Generator(seed);
  const rest: number[] = [];
  const held: number[] = [];
  for (const group of byClass(dataset)) {
    const shuffled = gen.shuffle([...group]);
    let k = Math.round(shuffled.length * fraction);
    if (shuffled.length >= 2) k = Math.min(shuffled.length - 1, Math.max(1, k));
    held.push(...shuffled.slice(0, k));
    rest.push(...shuffled.slice(k));
  }
  return [rest.sort((a, b) => a - b), held.sort((a, b) => a - b)];
}

/** A seeded, stratified subset of `size` samples (classes in proportion to their sizes). */
export function stratifiedSubset(dataset: Dataset, size: number, seed: number): number[] {
  if (!Number.isInteger(size) || size < 1)
    throw new RangeError(`subset size must be a positive integer, got ${size}`);
  if (size >= dataset.length) return Array.from({ length: dataset.length }, (_, i) => i);
  const [, held] = stratifiedSplit(dataset, size / dataset.length, seed);
  return held;
}
