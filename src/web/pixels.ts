/**
 * An image file to the engine's RawImage in the browser: the browser decodes it (no colour-space
 * conversion, alpha dropped as PIL's convert('RGB') drops it), giving HWC RGB floats in [0, 1], the
 * same pixels sharp gives the server for PNG, WebP lossless and BMP.
 */
import type { RawImage } from '../data/image.js';

export class BrowserDecodeError extends Error {}

export async function decodeInBrowser(file: Blob, name: string): Promise<RawImage> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch (e) {
    throw new BrowserDecodeError(
      `${name}: cannot decode image (${(e as Error).message || 'the browser does not read it'})`,
    );
  }
  const { width, height } = bitmap;
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d', { willReadFrequently: true });
  if (!context) throw new BrowserDecodeError(`${name}: no 2D canvas to read the pixels from`);
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  const rgba = context.getImageData(0, 0, width, height).data;
  const data = new Float32Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    data[i * 3] = rgba[i * 4]! / 255;
    data[i * 3 + 1] = rgba[i * 4 + 1]! / 255;
    data[i * 3 + 2] = rgba[i * 4 + 2]! / 255;
  }
  return { width, height, channels: 3, data };
}
