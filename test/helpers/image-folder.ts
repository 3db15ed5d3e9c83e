import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { encode as encodeBmp } from 'bmp-ts';

/** A solid-colour-ish RGB image (with a gradient, so resizing has something to average). */
function pixels(w: number, h: number, base: [number, number, number], channels = 3): Buffer {
  const buf = Buffer.alloc(w * h * channels);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < channels; c++) {
        const v = c < 3 ? base[c]! + ((x + y) % 16) : 200;
        buf[(y * w + x) * channels + c] = Math.min(255, v);
      }
  return buf;
}

/**
 * A w x h RGB PNG: a base colour plus a texture (base[c] + texture(x, y, c), clipped to 255), so that
 * classes differ in colour and images within one differ in detail.
 */
export async function writeTexturedPng(
  path: string,
  w: number,
  h: number,
  base: [number, number, number],
  texture: (x: number, y: number, c: number) => number,
): Promise<void> {
  const raw = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 3; c++) raw[(y * w + x) * 3 + c] = Math.min(255, base[c]! + texture(x, y, c));
  await sharp(raw, { raw: { width: w, height: h, channels: 3 } })
    .png()
    .toFile(path);
}

export async function writeImage(
  path: string,
  format: 'jpeg' | 'png' | 'webp' | 'gif' | 'bmp' | 'gray-png' | 'rgba-png',
  base: [number, number, number],
  size = 20,
): Promise<void> {
  if (format === 'bmp') {
    const rgba = pixels(size, size, base, 4);
    // bmp-ts encodes ABGR-ordered data; channel order does not matter for these tests.
    writeFileSync(path, encodeBmp({ data: rgba, width: size, height: size, bitPP: 24 }).data);
    return;
  }
  if (format === 'gray-png') {
    await sharp(pixels(size, size, base, 3), { raw: { width: size, height: size, channels: 3 } })
      .grayscale()
      .png()
      .toFile(path);
    return;
  }
  if (format === 'rgba-png') {
    await sharp(pixels(size, size, base, 4), { raw: { width: size, height: size, channels: 4 } })
      .png()
      .toFile(path);
    return;
  }
  const img = sharp(pixels(size, size, base), { raw: { width: size, height: size, channels: 3 } });
  await (
    format === 'jpeg' ? img.jpeg() : format === 'png' ? img.png() : format === 'webp' ? img.webp() : img.gif()
  ).toFile(path);
}

/**
 * A small ImageFolder: `classes` sub-folders with `perClass` images each, cycling through every
 * supported format; each class has its own dominant colour so a model can learn it.
 */
export async function makeImageFolder(classes: string[], perClass: number, size = 20): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), 'imagefolder-'));
  const colours: [number, number, number][] = [
    [200, 30, 30],
    [30, 200, 30],
    [30, 30, 200],
    [200, 200, 30],
  ];
  const formats = ['jpeg', 'png', 'webp', 'gif', 'bmp', 'gray-png', 'rgba-png'] as const;
  const ext = {
    jpeg: 'jpg',
    png: 'png',
    webp: 'webp',
    gif: 'gif',
    bmp: 'bmp',
    'gray-png': 'png',
    'rgba-png': 'png',
  } as const;
  for (const [ci, name] of classes.entries()) {
    mkdirSync(join(root, name));
    for (let i = 0; i < perClass; i++) {
      const format = formats[(i + ci) % formats.length]!;
      await writeImage(
        join(root, name, `img${i}.${ext[format]}`),
        format,
        colours[ci % colours.length]!,
        size,
      );
    }
  }
  return root;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/**
 * A PNG whose header says width x height RGB but whose data holds only the first rows, as a
 * decompression bomb's header would: cheap to write, and what a header probe sees of a huge image.
 */
export function writePngHeaderOnly(path: string, width: number, height: number): void {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, deflate, no filter method, no interlace
  const rows = deflateSync(Buffer.alloc(4 * (1 + width * 3)));
  writeFileSync(
    path,
    Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      pngChunk('IHDR', header),
      pngChunk('IDAT', rows),
      pngChunk('IEND', Buffer.alloc(0)),
    ]),
  );
}
