/**
 * Reductions. `sum`: all of a buffer into one value (one workgroup, 256 strided partial sums, a
 * tree in workgroup memory). Column sums over [rows, C] row-major (NHWC activations as rows =
 * N·H·W): two stages for parallelism over rows — stage 1 gives partial[chunk][C] from 64 channels
 * × 4 row lanes per workgroup (channels contiguous, so loads coalesce), stage 2 adds the chunks in
 * order per channel (deterministic). Each column-sum kernel takes a per-element expression.
 */
import type { GpuBuffer } from '../buffer.js';
import { gridFor, type GpuRuntime, type Kernel } from '../runtime.js';
import { bindings, paramsAt, perElement, perRuntime } from './common.js';

const sumAll: Kernel = {
  name: 'sum',
  code: `${bindings(['x', 'out y'])}
${paramsAt(2)}
var<workgroup> partial: array<f32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  let n = p[0];
  var s = 0.0;
  for (var i = lid; i < n; i += 256u) { s += x[i]; }
  partial[lid] = s;
  workgroupBarrier();
  for (var w = 128u; w > 0u; w >>= 1u) {
    if (lid < w) { partial[lid] += partial[lid + w]; }
    workgroupBarrier();
  }
  if (lid == 0u) { y[0] = partial[0] / pf(1u); }
}`,
};

/**
 * Stage 1 of a column sum: buffers `inputs` (read), then `out partial` [chunks][C]; `term` is the
 * WGSL expression summed for row r, channel c (at = r·C + c). p: [rows, C, rowsPerChunk, ...].
 * `outputs` > 1 sums several terms at once (term0, term1) into partial[(k·chunks + chunk)·C + c].
 */
function columnStage1(
  name: string,
  inputs: readonly string[],
  terms: readonly string[],
  helpers = '',
): Kernel {
  const sums = terms.map((_, k) => `  var s${k} = 0.0;`).join('\n');
  const adds = terms.map((t, k) => `      s${k} += ${t};`).join('\n');
  const shares = terms.map((_, k) => `var<workgroup> w${k}: array<f32, 256>;`).join('\n');
  const stores = terms.map((_, k) => `    w${k}[lid] = s${k};`).join('\n');
  const outs = terms
    .map(
      (_, k) =>
        `    partial[(${k}u * nw.y + chunk) * C + c] = w${k}[lane0] + w${k}[lane0 + 64u] + w${k}[lane0 + 128u] + w${k}[lane0 + 192u];`,
    )
    .join('\n');
  return {
    name,
    code: `${bindings([...inputs, 'out partial'])}
${paramsAt(inputs.length + 1)}
${shares}
${helpers}
@compute @workgroup_size(64, 4)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>,
        @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nw: vec3<u32>) {
  let rows = p[0];
  let C = p[1];
  let perChunk = p[2];
  let c = wg.x * 64u + l.x;
  let chunk = wg.y;
${sums}
  if (c < C) {
    let start = chunk * perChunk;
    let end = min(rows, start + perChunk);
    for (var r = start + l.y; r < end; r += 4u) {
      let at = r * C + c;
${adds}
    }
  }
${stores}
  workgroupBarrier();
  if (l.y == 0u && c < C) {
    let lane0 = l.x;
${outs}
  }
}`,
  };
}

// Stage 2: out[k·C + c] = Σ_chunk partial[(k·chunks + chunk)·C + c] (then the caller's transform).
const columnStage2 = perElement(
  'column_sum_finish',
  ['partial', 'out y'],
  `  let C = p[1];
  let chunks = p[2];
  let k = i / C;
  let c = i % C;
  var s = 0.0;
  for (var j = 0u; j < chunks; j++) { s += partial[(k * chunks + j) * C + c]; }
  y[i] = s;`,
);

/** Chunks of rows per column sum: enough workgroups to fill a GPU, each with ≥ 64 rows. */
function chunking(rows: number): { chunks: number; perChunk: number } {
  const chunks = Math.max(1, Math.min(256, Math.ceil(rows / 64)));
  return { chunks, perChunk: Math.ceil(rows / chunks) };
}

export type ColumnKernel = Kernel & { readonly terms: number };

export function columnKernel(
  name: string,
  inputs: readonly string[],
  terms: readonly string[],
  helpers = '',
): ColumnKernel {
  return { ...columnStage1(name, inputs, terms, helpers), terms: terms.length };
}

export const reduceKernels = perRuntime((rt: GpuRuntime) => ({
  sum(x: GpuBuffer, divisor: number, y: GpuBuffer): void {
    rt.dispatch(sumAll, [x.buffer, y.buffer], [1], [x.length], [divisor]);
  },
  /**
   * Runs a column kernel over [rows, C] and writes its sums to `out` ([terms][C]): `ints` and
   * `floats` follow [rows, C, perChunk] in p. `scratch` allocates the partial sums.
   */
  columns(
    kernel: ColumnKernel,
    inputs: readonly GpuBuffer[],
    rows: number,
    C: number,
    out: GpuBuffer,
    scratch: (length: number) => GpuBuffer,
    release: (b: GpuBuffer) => void,
    ints: readonly number[] = [],
    floats: readonly number[] = [],
  ): void {
    const { chunks, perChunk } = chunking(rows);
    const partial = scratch(kernel.terms * chunks * C);
    rt.dispatch(
      kernel,
      [...inputs.map((b) => b.buffer), partial.buffer],
      [Math.ceil(C / 64), chunks],
      [rows, C, perChunk, ...ints],
      floats,
    );
    rt.dispatch(columnStage2, [partial.buffer, out.buffer], gridFor(kernel.terms * C), [
      kernel.terms * C,
      C,
      chunks,
    ]);
    release(partial);
  },
}));
