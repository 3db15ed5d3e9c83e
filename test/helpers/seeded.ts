/**
 * The seeded tensors of the PyTorch fixtures (test/fixtures/generator/seeded.py), recomputed bit for
 * bit: every value is a float64 expression of exactly representable numbers, rounded once to float32.
 * The formula and the state-dict rules are stated in seeded.py.
 */
import { Tensor, type DType, type Module } from '../../src/index.js';

function nameKey(seed: number, name: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(`${seed}/${name}`)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function hashAt(key: number, i: number): number {
  return fmix32(Math.imul(i, 0x9e3779b9) ^ key);
}

/** Uniform on [-1, 1), each a multiple of 2^-23, as float64. */
function signedUniform(seed: number, name: string, n: number): Float64Array {
  const key = nameKey(seed, name);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = (hashAt(key, i) >>> 8) * 2 ** -23 - 1;
  return out;
}

/** The float32 value of state-dict entry `name` of this shape (seeded.py's rules). */
export function seededTensor(
  seed: number,
  name: string,
  shape: readonly number[],
  residualScale = 1,
): Tensor<DType> {
  const n = shape.reduce((a, b) => a * b, 1);
  if (name.endsWith('num_batches_tracked')) return new Tensor(new BigInt64Array(n), shape, 'int64');
  const s = signedUniform(seed, name, n);
  const out = new Float32Array(n);
  let value: (u: number) => number;
  if (name.endsWith('running_mean')) value = (u) => 0.1 * u;
  else if (name.endsWith('running_var')) value = (u) => 1 + 0.5 * u;
  else if (shape.length >= 2) {
    const bound = Math.sqrt(3 / (n / shape[0]!));
    value = (u) => u * bound;
  } else if (name.endsWith('bn3.weight')) value = (u) => residualScale * (1 + 0.25 * u);
  else if (name.endsWith('weight')) value = (u) => 1 + 0.25 * u;
  else if (name.endsWith('bias')) value = (u) => 0.1 * u;
  else throw new Error(`no seeded rule for state-dict entry ${name} [${shape.join(', ')}]`);
  for (let i = 0; i < n; i++) out[i] = value(s[i]!);
  return new Tensor(out, shape, 'float32');
}

/** Uniform on [-1, 1) as float32: a stand-in for a normalised image batch. */
export function seededInput(seed: number, name: string, shape: readonly number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return new Tensor(Float32Array.from(signedUniform(seed, name, n)), shape, 'float32');
}

export function seededLabels(seed: number, name: string, n: number, classes: number): Tensor<'int64'> {
  const key = nameKey(seed, name);
  const out = new BigInt64Array(n);
  for (let i = 0; i < n; i++) out[i] = BigInt(hashAt(key, i) % classes);
  return new Tensor(out, [n], 'int64');
}

/** Every parameter and buffer of `model`, by its state-dict name, with its seeded value. */
export function seededStateDict(model: Module, seed: number, residualScale = 1): Map<string, Tensor<DType>> {
  return new Map(
    [...model.stateDict()].map(([name, t]) => [name, seededTensor(seed, name, t.shape, residualScale)]),
  );
}

/** `model` with every parameter and buffer overwritten by its seeded value. */
export function fillSeeded<M extends Module>(model: M, seed: number, residualScale = 1): M {
  model.loadStateDict(seededStateDict(model, seed, residualScale));
  return model;
}
