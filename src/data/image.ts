/**
 * Decoding images into RawImage: HWC float32 in [0, 1], 1 or 3 channels. JPEG, PNG, WebP, GIF (first
 * frame) and TIFF go through sharp (libvips); BMP, which libvips does not read, through bmp-ts. Every
 * image becomes RGB as PIL's convert('RGB') makes it: grey is repeated, palettes are expanded, alpha
 * is dropped. EXIF orientation is not applied (PIL does not either).
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import type { Sharp } from 'sharp';
import sharp from '../util/sharp.js';
import { decode as decodeBmp } from 'bmp-ts';
import { MAX_IMAGE_PIXELS } from './limits.js';
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
  /** The most pixels (width x height) a file may hold; larger ones are refused. Default MAX_IMAGE_PIXELS. */
  maxPixels?: number;
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
  return decodeImageBytes(bytes, path, options);
}

/**
 * Decodes an image held in memory (an upload, say) to RGB; `name` stands for it in errors, and its
 * extension (if any) marks a BMP. Throws ImageDecodeError when the bytes are no image or a corrupt one.
 */
export async function decodeImageBytes(
  bytes: Buffer,
  name: string,
  options: DecodeOptions = {},
): Promise<RawImage> {
  const maxPixels = options.maxPixels ?? MAX_IMAGE_PIXELS;
  try {
    let pipeline: Sharp;
    if (extname(name).toLowerCase() === '.bmp' || (bytes[0] === 0x42 && bytes[1] === 0x4d)) {
      checkPixels(bmpSize(bytes), maxPixels);
      const bmp = decodeBmp(bytes, { toRGBA: true });
      if (!(bmp.width > 0 && bmp.height > 0) || bmp.data.length < bmp.width * bmp.height * 4) {
        throw new Error('truncated BMP data');
      }
      pipeline = sharp(bmp.data, { raw: { width: bmp.width, height: Math.abs(bmp.height), channels: 4 } });
    } else {
      pipeline = sharp(bytes, { failOn: 'truncated', animated: false, limitInputPixels: maxPixels });
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
    const reason = (err as Error).message.split('\n')[0]!;
    throw new ImageDecodeError(
      name,
      /exceeds pixel limit/.test(reason)
        ? `more than the ${maxPixels.toLocaleString('en-US')} pixels allowed`
        : reason,
    );
  }
}

/** Reads only the header: cheap validation of a file before training (full decoding may still fail). */
export async function probeImage(
  path: string,
  options: Pick<DecodeOptions, 'maxPixels'> = {},
): Promise<{ width: number; height: number }> {
  try {
    let size: { width?: number; height?: number };
    if (extname(path).toLowerCase() === '.bmp') size = bmpSize(await readFile(path));
    else size = await sharp(path).metadata();
    if (!size.width || !size.height) throw new Error('no image dimensions');
    checkPixels(size, options.maxPixels ?? MAX_IMAGE_PIXELS);
    return { width: size.width, height: size.height };
  } catch (err) {
    throw new ImageDecodeError(path, (err as Error).message.split('\n')[0]!);
  }
}

/** Width and height from a BMP's header (BITMAPINFOHEADER: width at byte 18, height at 22, signed). */
function bmpSize(bytes: Uint8Array): { width: number; height: number } {
  if (bytes.length < 26) throw new Error('truncated BMP header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: Math.abs(view.getInt32(18, true)), height: Math.abs(view.getInt32(22, true)) };
}

/** Refuses images over the pixel bound before any pixel is decoded (a decompression bomb costs gigabytes). */
function checkPixels(size: { width?: number; height?: number }, maxPixels: number): void {
  const pixels = (size.width ?? 0) * (size.height ?? 0);
  if (pixels > maxPixels) {
    throw new Error(
      `${size.width}x${size.height} is ${pixels.toLocaleString('en-US')} pixels, more than the ${maxPixels.toLocaleString('en-US')} allowed`,
    );
  }
}

/** A RawImage from 8-bit grey pixels (IDX datasets). */
export function fromGray8(pixels: Uint8Array, width: number, height: number): RawImage {
  const data = new Float32Array(width * height);
  for (let i = 0; i < data.length; i++) data[i] = pixels[i]! / 255;
  return { width, height, channels: 1, data };
}
