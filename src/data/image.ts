/**
 * Decoding images into RawImage: HWC float32 in [0, 1], 1 or 3 channels. JPEG, PNG, WebP, GIF (first
 * frame) and TIFF go through sharp (libvips); BMP, which libvips does not read, through bmp-ts. Every
 * image becomes RGB as PIL's convert('RGB') makes it: grey is repeated, palettes are expanded, alpha
 * is dropped. EXIF orientation is not applied (PIL does not either).
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { decode as decodeBmp } from 'bmp-ts';
import { entryKind } from './walk.js';

export interface RawImage {
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 3;
  /** [height][width][channels], values in [0, 1]. */
  readonly data: Float32Array;
}

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.bmp', '.tif', '.tiff'] as const;

export function isImageFile(path: string): boolean {
  return (IMAGE_EXTENSIONS as readonly string[]).includes(extname(path).toLowerCase());
}

export interface DecodeOptions {
  /**
   * Shrink (never enlarge) so that the shorter side is this long before any transform: bounds the
   * cost of big photos. The aspect ratio is kept.
   */
  shorterSide?: number;
}

export class ImageDecodeError extends Error {
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`${path}: cannot decode image (${reason})`);
    this.name = 'ImageDecodeError';
  }
}

/** Decodes an image file to RGB. Throws ImageDecodeError naming the file when it is unreadable or corrupt. */
export async function decodeImage(path: string, options: DecodeOptions = {}): Promise<RawImage> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const entry = entryKind(path);
    const reason = entry.kind === 'broken' && entry.link ? entry.reason : undefined;
    throw new ImageDecodeError(path, reason ?? (err as NodeJS.ErrnoException).code ?? (err as Error).message);
  }
  try {
    let pipeline: Sharp;
    if (extname(path).toLowerCase() === '.bmp' || (bytes[0] === 0x42 && bytes[1] === 0x4d)) {
      const bmp = decodeBmp(bytes, { toRGBA: true });
      if (!(bmp.width > 0 && bmp.height > 0) || bmp.data.length < bmp.width * bmp.height * 4) {
        throw new Error('truncated BMP data');
      }
      pipeline = sharp(bmp.data, { raw: { width: bmp.width, height: Math.abs(bmp.height), channels: 4 } });
    } else {
      pipeline = sharp(bytes, { failOn: 'truncated', animated: false });
    }
    pipeline = pipeline.removeAlpha().toColourspace('srgb');
    if (options.shorterSide) {
      pipeline = pipeline.resize({
        width: options.shorterSide,
        height: options.shorterSide,
        fit: 'outside',
        withoutEnlargement: true,
      });
    }
    const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`unexpected ${info.channels} channels after conversion to RGB`);
    const out = new Float32Array(data.length);
    for (let i = 0; i < data.length; i++) out[i] = data[i]! / 255;
    return { width: info.width, height: info.height, channels: 3, data: out };
  } catch (err) {
    if (err instanceof ImageDecodeError) throw err;
    throw new ImageDecodeError(path, (err as Error).message.split('\n')[0]!);
  }
}

/** Reads only the header: cheap validation of a file before training (full decoding may still fail). */
export async function probeImage(path: string): Promise<{ width: number; height: number }> {
  try {
    if (extname(path).toLowerCase() === '.bmp') {
      const bmp = decodeBmp(await readFile(path), { toRGBA: true });
      return { width: bmp.width, height: Math.abs(bmp.height) };
    }
    const meta = await sharp(path).metadata();
    if (!meta.width || !meta.height) throw new Error('no image dimensions');
    return { width: meta.width, height: meta.height };
  } catch (err) {
    throw new ImageDecodeError(path, (err as Error).message.split('\n')[0]!);
  }
}

/** A RawImage from 8-bit grey pixels (IDX datasets). */
export function fromGray8(pixels: Uint8Array, width: number, height: number): RawImage {
  const data = new Float32Array(width * height);
  for (let i = 0; i < data.length; i++) data[i] = pixels[i]! / 255;
  return { width, height, channels: 1, data };
}
