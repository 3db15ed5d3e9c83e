/**
 * safetensors read and write (https://github.com/huggingface/safetensors):
 *   [u64 little-endian header length N][N bytes of JSON header][raw little-endian data]
 *   header: { "<name>": { "dtype": "F32", "shape": [..], "data_offsets": [begin, end] }, "__metadata__": {..} }
 * Offsets are relative to the start of the data. The reader treats the file as hostile: every length and
 * offset is checked before use, and tensors must tile the data exactly (no overlap, no gap), as the
 * reference implementation requires. Floating dtypes load as float32 tensors, integer ones as int64.
 * This module works on bytes only (no file system), so the browser build uses it too.
 */
import type { DType } from '../tensor/dtype.js';
import { Tensor } from '../tensor/tensor.js';
import { formatShape, numel } from '../tensor/shape.js';
import { bf16ToFloat, floatToBf16, floatToHalf, halfToFloat } from './half.js';

/** The format's own limit on the header size (100 MB), which also bounds memory spent on hostile headers. */
export const MAX_HEADER_BYTES = 100_000_000;

const ELEMENT_BYTES = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
} as const;

export type SafetensorsDType = keyof typeof ELEMENT_BYTES;
/** What floats are stored as when writing. */
export type FloatStorage = 'F32' | 'F16' | 'BF16';

export interface SafetensorsContent {
  tensors: Map<string, Tensor<DType>>;
  /** Each tensor's dtype in the file (floats load as float32, integers as int64). */
  dtypes: Map<string, SafetensorsDType>;
  metadata: Record<string, string>;
}

export class SafetensorsError extends Error {
  constructor(source: string, message: string) {
    super(`${source}: ${message}`);
    this.name = 'SafetensorsError';
  }
}

interface Entry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  begin: number;
  end: number;
}

/** Parses a safetensors file's bytes; `source` (usually the path) prefixes every error. */
export function parseSafetensors(bytes: Uint8Array, source = '<buffer>'): SafetensorsContent {
  const fail = (message: string): never => {
    throw new SafetensorsError(source, message);
  };
  if (bytes.length < 8) fail(`file is ${bytes.length} bytes, too short for the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES))
    fail(`header length ${headerLength} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const n = Number(headerLength);
  if (8 + n > bytes.length)
    fail(`header length ${n} runs past the end of the file (${bytes.length} bytes): truncated?`);
  let headerText = '';
  try {
    headerText = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    fail('header is not valid UTF-8');
  }
  if (!headerText.startsWith('{')) fail('header is not a JSON object');
  let header: unknown;
  try {
    header = JSON.parse(headerText);
  } catch (err) {
    fail(`header is not valid JSON (${(err as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    fail('header is not a JSON object');

  const dataStart = 8 + n;
  const dataSize = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
        fail('__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__ value for "${k}" must be a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    entries.push(parseEntry(name, raw, fail));
  }

  for (const e of entries) {
    const count = numel(e.shape);
    const expected = count * ELEMENT_BYTES[e.dtype];
    if (e.end - e.begin !== expected) {
      fail(
        `tensor "${e.name}" (${e.dtype}, shape ${formatShape(e.shape)}) needs ${expected} bytes but data_offsets ` +
          `[${e.begin}, ${e.end}] span ${e.end - e.begin}`,
      );
    }
    if (e.end > dataSize) {
      fail(
        `tensor "${e.name}" data_offsets [${e.begin}, ${e.end}] run past the end of the data (${dataSize} bytes): truncated?`,
      );
    }
  }
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: Entry | null = null;
  for (const e of sorted) {
    if (e.begin < covered) fail(`tensors "${previous!.name}" and "${e.name}" overlap in the data`);
    if (e.begin > covered) fail(`data bytes ${covered}..${e.begin} belong to no tensor (before "${e.name}")`);
    covered = e.end;
    previous = e;
  }
  if (covered !== dataSize) fail(`data has ${dataSize - covered} trailing bytes that belong to no tensor`);

  const tensors = new Map<string, Tensor<DType>>();
  const dtypes = new Map<string, SafetensorsDType>();
  for (const e of entries) {
    tensors.set(e.name, decode(e, bytes.subarray(dataStart + e.begin, dataStart + e.end)));
    dtypes.set(e.name, e.dtype);
  }
  return { tensors, dtypes, metadata };
}

function parseEntry(name: string, raw: unknown, fail: (m: string) => never): Entry {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(`entry "${name}" is not an object`);
  const o = raw as Record<string, unknown>;
  const dtype = o.dtype;
  if (typeof dtype !== 'string' || !(dtype in ELEMENT_BYTES)) {
    fail(
      `tensor "${name}" has unsupported dtype ${JSON.stringify(dtype)} (supported: ${Object.keys(ELEMENT_BYTES).join(', ')})`,
    );
  }
  const shape = o.shape;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    fail(`tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`);
  }
  const count = numel(shape as number[]);
  if (!Number.isSafeInteger(count * 8)) fail(`tensor "${name}" shape ${JSON.stringify(shape)} is too large`);
  const offsets = o.data_offsets;
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((v) => Number.isSafeInteger(v) && v >= 0) ||
    offsets[0] > offsets[1]
  ) {
    fail(`tensor "${name}" has invalid data_offsets ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  return { name, dtype: dtype as SafetensorsDType, shape: shape as number[], begin, end };
}

function decode(e: Entry, raw: Uint8Array): Tensor<DType> {
  // Copy into a fresh, aligned buffer: the data section may start at any byte (and a Node Buffer's
  // slice() would share, not copy).
  const copy = new Uint8Array(raw.length);
  copy.set(raw);
  const buf = copy.buffer;
  const view = new DataView(buf);
  const count = numel(e.shape);
  const le = littleEndianHost;
  switch (e.dtype) {
    case 'F32':
      return new Tensor(
        le ? new Float32Array(buf) : readEach(count, (i) => view.getFloat32(i * 4, true)),
        e.shape,
        'float32',
      );
    case 'F64':
      return new Tensor(
        readEach(count, (i) => view.getFloat64(i * 8, true)),
        e.shape,
        'float32',
      );
    case 'F16':
      return new Tensor(
        readEach(count, (i) => halfToFloat(view.getUint16(i * 2, true))),
        e.shape,
        'float32',
      );
    case 'BF16':
      return new Tensor(
        readEach(count, (i) => bf16ToFloat(view.getUint16(i * 2, true))),
        e.shape,
        'float32',
      );
    case 'I64':
      return new Tensor(
        le
          ? new BigInt64Array(buf)
          : BigInt64Array.from({ length: count }, (_, i) => view.getBigInt64(i * 8, true)),
        e.shape,
        'int64',
      );
    default: {
      const read: (i: number) => number =
        e.dtype === 'I32'
          ? (i) => view.getInt32(i * 4, true)
          : e.dtype === 'I16'
            ? (i) => view.getInt16(i * 2, true)
            : e.dtype === 'I8'
              ? (i) => view.getInt8(i)
              : (i) => view.getUint8(i);
      return new Tensor(
        BigInt64Array.from({ length: count }, (_, i) => BigInt(read(i))),
        e.shape,
        'int64',
      );
    }
  }
}

function readEach(count: number, read: (i: number) => number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = read(i);
  return out;
}

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export interface SerializeOptions {
  metadata?: Record<string, string>;
  /** Storage for float32 tensors. Default F32. */
  floatDtype?: FloatStorage;
}

/** Serialises tensors (int64 as I64, float32 as options.floatDtype) to safetensors bytes, in the map's order. */
export function serializeSafetensors(
  tensors: ReadonlyMap<string, Tensor<DType>>,
  options: SerializeOptions = {},
): Uint8Array {
  const floatDtype = options.floatDtype ?? 'F32';
  const header: Record<string, unknown> = {};
  if (options.metadata && Object.keys(options.metadata).length > 0) header.__metadata__ = options.metadata;
  let offset = 0;
  const layout: { tensor: Tensor<DType>; dtype: SafetensorsDType; begin: number }[] = [];
  for (const [name, tensor] of tensors) {
    if (name === '__metadata__') throw new RangeError('a tensor cannot be named "__metadata__"');
    if (tensor.isMeta)
      throw new RangeError(`tensor "${name}" is a meta tensor (shape only) and has no data to save`);
    const dtype: SafetensorsDType = tensor.dtype === 'int64' ? 'I64' : floatDtype;
    const size = tensor.numel * ELEMENT_BYTES[dtype];
    header[name] = { dtype, shape: [...tensor.shape], data_offsets: [offset, offset + size] };
    layout.push({ tensor, dtype, begin: offset });
    offset += size;
  }
  const utf8 = new TextEncoder().encode(JSON.stringify(header));
  // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
  const headerBytes = new Uint8Array(utf8.length + ((8 - ((utf8.length + 8) % 8)) % 8)).fill(0x20);
  headerBytes.set(utf8);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  const dataStart = 8 + headerBytes.length;
  for (const { tensor, dtype, begin } of layout) {
    const at = dataStart + begin;
    if (dtype === 'I64') {
      const d = tensor.dataSync() as BigInt64Array;
      for (let i = 0; i < d.length; i++) view.setBigInt64(at + i * 8, d[i]!, true);
    } else {
      const d = tensor.dataSync() as Float32Array;
      if (dtype === 'F32') {
        if (littleEndianHost) out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), at);
        else for (let i = 0; i < d.length; i++) view.setFloat32(at + i * 4, d[i]!, true);
      } else {
        const convert = dtype === 'F16' ? floatToHalf : floatToBf16;
        for (let i = 0; i < d.length; i++) view.setUint16(at + i * 2, convert(d[i]!), true);
      }
    }
  }
  return out;
}
