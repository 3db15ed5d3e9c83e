/**
 * Image transforms as torchvision's, on RawImage (HWC, [0, 1]). A pipeline is described as data
 * (TransformSpec[]) so that worker threads can rebuild it; randomness comes from a Generator that the
 * loader seeds per sample, so augmentations are reproducible whatever thread runs them.
 */
import type { Generator } from '../tensor/rng.js';
import type { RawImage } from './image.js';

export type TransformSpec =
  | { type: 'resize'; size: number | readonly [number, number] }
  | { type: 'centerCrop'; size: number | readonly [number, number] }
  | {
      type: 'randomResizedCrop';
      size: number | readonly [number, number];
      scale?: readonly [number, number];
      ratio?: readonly [number, number];
    }
  | { type: 'randomCrop'; size: number | readonly [number, number]; padding?: number }
  | { type: 'pad'; padding: number }
  | { type: 'randomHorizontalFlip'; p?: number }
  | { type: 'grayToRgb' };

export type Transform = (image: RawImage, rng: Generator) => RawImage;

const pair = (size: number | readonly [number, number]): [number, number] =>
  typeof size === 'number' ? [size, size] : [size[0], size[1]];

function make(width: number, height: number, channels: 1 | 3): RawImage & { data: Float32Array } {
  return { width, height, channels, data: new Float32Array(width * height * channels) };
}

/** Sub-rectangle [top, top + h) × [left, left + w); parts outside the image are zero. */
export function crop(img: RawImage, top: number, left: number, h: number, w: number): RawImage {
  const out = make(w, h, img.channels);
  const c = img.channels;
  for (let y = 0; y < h; y++) {
    const sy = top + y;
    if (sy < 0 || sy >= img.height) continue;
    for (let x = 0; x < w; x++) {
      const sx = left + x;
      if (sx < 0 || sx >= img.width) continue;
      for (let k = 0; k < c; k++) out.data[(y * w + x) * c + k] = img.data[(sy * img.width + sx) * c + k]!;
    }
  }
  return out;
}

/**
 * Resampling weights along one axis for bilinear interpolation with antialiasing, as PIL's BILINEAR
 * (and torchvision's antialias=True): a triangle filter widened by the downscale factor.
 */
function axisWeights(
  inSize: number,
  outSize: number,
): { start: Int32Array; count: Int32Array; weights: Float32Array; taps: number } {
  const scale = inSize / outSize;
  const support = Math.max(1, scale);
  const taps = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float32Array(outSize * taps);
  for (let i = 0; i < outSize; i++) {
    const center = (i + 0.5) * scale;
    const lo = Math.max(0, Math.floor(center - support));
    const hi = Math.min(inSize, Math.ceil(center + support));
    let total = 0;
    const n = Math.min(taps, hi - lo);
    for (let j = 0; j < n; j++) {
      const d = Math.abs((lo + j + 0.5 - center) / support);
      const w = Math.max(0, 1 - d);
      weights[i * taps + j] = w;
      total += w;
    }
    for (let j = 0; j < n; j++) weights[i * taps + j] = total > 0 ? weights[i * taps + j]! / total : 1 / n;
    start[i] = lo;
    count[i] = n;
  }
  return { start, count, weights, taps };
}

/** Resizes to exactly h × w (separable antialiased bilinear). */
export function resizeTo(img: RawImage, h: number, w: number): RawImage {
  if (h === img.height && w === img.width) return img;
  const c = img.channels;
  const ax = axisWeights(img.width, w);
  const ay = axisWeights(img.height, h);
  // Horizontal pass: [img.height][w][c]
  const mid = new Float32Array(img.height * w * c);
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < w; x++) {
      for (let k = 0; k < c; k++) {
        let s = 0;
        for (let j = 0; j < ax.count[x]!; j++)
          s += ax.weights[x * ax.taps + j]! * img.data[(y * img.width + ax.start[x]! + j) * c + k]!;
        mid[(y * w + x) * c + k] = s;
      }
    }
  }
  const out = make(w, h, c);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let k = 0; k < c; k++) {
        let s = 0;
        for (let j = 0; j < ay.count[y]!; j++)
          s += ay.weights[y * ay.taps + j]! * mid[((ay.start[y]! + j) * w + x) * c + k]!;
        out.data[(y * w + x) * c + k] = s;
      }
    }
  }
  return out;
}

/** torchvision Resize: an int resizes the shorter side to it (aspect kept), a pair sets [h, w]. */
export function resize(img: RawImage, size: number | readonly [number, number]): RawImage {
  if (typeof size !== 'number') return resizeTo(img, size[0], size[1]);
  if (img.width <= img.height) return resizeTo(img, Math.round((size * img.height) / img.width), size);
  return resizeTo(img, size, Math.round((size * img.width) / img.height));
}

export function centerCrop(img: RawImage, size: number | readonly [number, number]): RawImage {
  const [h, w] = pair(size);
  return crop(img, Math.round((img.height - h) / 2), Math.round((img.width - w) / 2), h, w);
}

/** torchvision RandomResizedCrop: 10 tries at a random area and aspect ratio, else a center crop. */
export function randomResizedCrop(
  img: RawImage,
  size: number | readonly [number, number],
  rng: Generator,
  scale: readonly [number, number] = [0.08, 1],
  ratio: readonly [number, number] = [3 / 4, 4 / 3],
): RawImage {
  const [oh, ow] = pair(size);
  const area = img.width * img.height;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])] as const;
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * (scale[0] + (scale[1] - scale[0]) * rng.uniform());
    const aspect = Math.exp(logRatio[0] + (logRatio[1] - logRatio[0]) * rng.uniform());
    const w = Math.round(Math.sqrt(target * aspect));
    const h = Math.round(Math.sqrt(target / aspect));
    if (w > 0 && h > 0 && w <= img.width && h <= img.height) {
      const top = rng.randint(img.height - h + 1);
      const left = rng.randint(img.width - w + 1);
      return resizeTo(crop(img, top, left, h, w), oh, ow);
    }
  }
  const inRatio = img.width / img.height;
  let w = img.width;
  let h = img.height;
  if (inRatio < ratio[0]) h = Math.round(w / ratio[0]);
  else if (inRatio > ratio[1]) w = Math.round(h * ratio[1]);
  return resizeTo(crop(img, Math.floor((img.height - h) / 2), Math.floor((img.width - w) / 2), h, w), oh, ow);
}

/** torchvision RandomCrop with zero padding. */
export function randomCrop(
  img: RawImage,
  size: number | readonly [number, number],
  rng: Generator,
  padding = 0,
): RawImage {
  const [h, w] = pair(size);
  const H = img.height + 2 * padding;
  const W = img.width + 2 * padding;
  if (h > H || w > W)
    throw new RangeError(`randomCrop: crop ${h}x${w} is larger than the padded image ${H}x${W}`);
  const top = rng.randint(H - h + 1) - padding;
  const left = rng.randint(W - w + 1) - padding;
  return crop(img, top, left, h, w);
}

export function pad(img: RawImage, padding: number): RawImage {
  return crop(img, -padding, -padding, img.height + 2 * padding, img.width + 2 * padding);
}

export function horizontalFlip(img: RawImage): RawImage {
  const out = make(img.width, img.height, img.channels);
  const c = img.channels;
  for (let y = 0; y < img.height; y++)
    for (let x = 0; x < img.width; x++)
      for (let k = 0; k < c; k++)
        out.data[(y * img.width + x) * c + k] = img.data[(y * img.width + img.width - 1 - x) * c + k]!;
  return out;
}

export function grayToRgb(img: RawImage): RawImage {
  if (img.channels === 3) return img;
  const out = make(img.width, img.height, 3);
  for (let i = 0; i < img.width * img.height; i++) {
    const v = img.data[i]!;
    out.data[i * 3] = v;
    out.data[i * 3 + 1] = v;
    out.data[i * 3 + 2] = v;
  }
  return out;
}

export function buildTransform(specs: readonly TransformSpec[]): Transform {
  const steps: Transform[] = specs.map((s): Transform => {
    switch (s.type) {
      case 'resize':
        return (img) => resize(img, s.size);
      case 'centerCrop':
        return (img) => centerCrop(img, s.size);
      case 'randomResizedCrop':
        return (img, rng) => randomResizedCrop(img, s.size, rng, s.scale, s.ratio);
      case 'randomCrop':
        return (img, rng) => randomCrop(img, s.size, rng, s.padding ?? 0);
      case 'pad':
        return (img) => pad(img, s.padding);
      case 'randomHorizontalFlip':
        return (img, rng) => (rng.uniform() < (s.p ?? 0.5) ? horizontalFlip(img) : img);
      case 'grayToRgb':
        return (img) => grayToRgb(img);
    }
  });
  return (img, rng) => steps.reduce((acc, step) => step(acc, rng), img);
}

/** Writes an image as normalised CHW floats: out[c][y][x] = (v − mean[c]) / std[c]. */
export function toTensorInto(
  img: RawImage,
  mean: readonly number[],
  std: readonly number[],
  out: Float32Array,
  offset: number,
): void {
  const plane = img.width * img.height;
  const c = img.channels;
  for (let k = 0; k < c; k++) {
    const m = mean[k] ?? mean[0]!;
    const s = std[k] ?? std[0]!;
    const o = offset + k * plane;
    for (let i = 0; i < plane; i++) out[o + i] = (img.data[i * c + k]! - m) / s;
  }
}

/** The largest output side a pipeline produces: how far decoding may shrink big photos first. */
export function outputSideHint(specs: readonly TransformSpec[]): number | undefined {
  for (const s of specs) {
    if (s.type === 'resize' || s.type === 'randomResizedCrop' || s.type === 'centerCrop') {
      const [h, w] = pair(s.size);
      return Math.max(h, w) * (s.type === 'randomResizedCrop' ? 2 : 1);
    }
  }
  return undefined;
}
