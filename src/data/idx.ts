/**
 * IDX files (the MNIST format), optionally gzipped: magic 0x00 0x00 <type> <rank>, then <rank>
 * big-endian uint32 dimensions, then the data. Only unsigned bytes (type 0x08) are used by the
 * datasets here; the reader checks every size against the file.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

export interface IdxArray {
  readonly shape: readonly number[];
  readonly data: Uint8Array;
}

export class IdxError extends Error {
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = 'IdxError';
  }
}

export function parseIdx(bytes: Uint8Array, source = '<buffer>'): IdxArray {
  let b = bytes;
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) {
    try {
      b = gunzipSync(b);
    } catch (err) {
      throw new IdxError(source, `corrupt gzip data (${(err as Error).message})`);
    }
  }
  if (b.length < 4 || b[0] !== 0 || b[1] !== 0)
    throw new IdxError(source, 'not an IDX file (bad magic number)');
  if (b[2] !== 0x08)
    throw new IdxError(source, `unsupported IDX element type 0x${b[2]!.toString(16)} (only unsigned bytes)`);
  const rank = b[3]!;
  if (rank < 1 || rank > 4) throw new IdxError(source, `unsupported IDX rank ${rank}`);
  if (b.length < 4 + 4 * rank) throw new IdxError(source, 'truncated IDX header');
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const shape: number[] = [];
  for (let i = 0; i < rank; i++) shape.push(view.getUint32(4 + 4 * i, false));
  const count = shape.reduce((a, d) => a * d, 1);
  const start = 4 + 4 * rank;
  if (b.length - start !== count) {
    throw new IdxError(
      source,
      `IDX shape [${shape.join(', ')}] needs ${count} bytes of data, the file has ${b.length - start}`,
    );
  }
  return { shape, data: b.subarray(start, start + count) };
}

export function readIdx(path: string): IdxArray {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new IdxError(
      path,
      `cannot read file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
  return parseIdx(bytes, path);
}
