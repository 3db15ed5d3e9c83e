/**
 * The tiled matrix-product skeleton every GEMM-shaped kernel (linear, convolution as implicit GEMM)
 * is generated from: C[M, N] = Σ_k A[m, k]·B[k, n] over k in [kBegin, kEnd).
 *
 * A workgroup of WX × WY threads owns a BM × BN tile (BM = 4·WY rows, BN = 4·WX columns, 4 × 4 per
 * thread) and walks k in steps of BK (16, or 8 for the tall tiles) through workgroup memory: As[BK][BM], Bs[BK][BN]. The
 * kernel supplies WGSL for the shape (a prologue that sets the private M, N, kBegin, kEnd from p and
 * the workgroup id), the loads (returning 0 outside the operand, so tiles need no edge cases) and
 * the store of each finished C element (where bias, residual and ReLU are fused).
 */
import type { Kernel } from '../runtime.js';
import { bindings, paramsAt } from './common.js';

export interface GemmSpec {
  readonly name: string;
  /** Storage bindings, as for bindings(): inputs, then outputs. */
  readonly buffers: readonly string[];
  /** Threads per workgroup along columns (WX) and rows (WY): WX·WY = 256. */
  readonly wx: number;
  readonly wy: number;
  /** Module-scope helpers and `var<private>` shape values. */
  readonly helpers?: string;
  /** Statements in main that set M, N, kBegin, kEnd (and any private the loads use); `wg` is the workgroup id. */
  readonly prologue: string;
  /** Body of fn loadA(m: u32, k: u32) -> f32, with m < M and kBegin ≤ k < kEnd checked by the caller. */
  readonly loadA: string;
  /** Body of fn loadB(k: u32, n: u32) -> f32, likewise. */
  readonly loadB: string;
  /** Body of fn store(m: u32, n: u32, v: f32), called for m < M, n < N. */
  readonly store: string;
}

export function tiledGemm(spec: GemmSpec): Kernel {
  const { wx, wy } = spec;
  if (wx * wy !== 256) throw new Error(`${spec.name}: ${wx} x ${wy} threads is not 256`);
  const BM = 4 * wy;
  const BN = 4 * wx;
  // Workgroup memory (BM + BN)·BK floats stays within WebGPU's default 16 KiB.
  const BK = (BM + BN) * 16 * 4 > 12288 ? 8 : 16;
  return {
    name: spec.name,
    code: `${bindings(spec.buffers)}
${paramsAt(spec.buffers.length)}
const BM = ${BM}u;
const BN = ${BN}u;
const BK = ${BK}u;
var<private> M: u32;
var<private> N: u32;
var<private> kBegin: u32;
var<private> kEnd: u32;
var<workgroup> kRange: vec2<u32>;
var<workgroup> As: array<f32, ${BM * BK}>;
var<workgroup> Bs: array<f32, ${BN * BK}>;
${spec.helpers ?? ''}
fn loadA(m: u32, k: u32) -> f32 {
${spec.loadA}
}
fn loadB(k: u32, n: u32) -> f32 {
${spec.loadB}
}
fn store(m: u32, n: u32, v: f32) {
${spec.store}
}
@compute @workgroup_size(${wx}, ${wy})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
${spec.prologue}
  let row0 = wg.y * BM;
  let col0 = wg.x * BN;
  var acc: array<array<f32, 4>, 4>;
  // The k loop holds barriers, so its bounds must be provably uniform: pass them through workgroup memory.
  if (lid == 0u) { kRange = vec2<u32>(kBegin, kEnd); }
  let ks = workgroupUniformLoad(&kRange);
  for (var k0 = ks.x; k0 < ks.y; k0 += BK) {
    for (var e = lid; e < BM * BK; e += 256u) {
      let m = row0 + e / BK;
      let k = k0 + e % BK;
      var v = 0.0;
      if (m < M && k < kEnd) { v = loadA(m, k); }
      As[(e % BK) * BM + e / BK] = v;
    }
    for (var e = lid; e < BK * BN; e += 256u) {
      let k = k0 + e / BN;
      let n = col0 + e % BN;
      var v = 0.0;
      if (n < N && k < kEnd) { v = loadB(k, n); }
      Bs[e] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      var a: array<f32, 4>;
      var b: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) { a[i] = As[kk * BM + l.y * 4u + i]; }
      for (var j = 0u; j < 4u; j++) { b[j] = Bs[kk * BN + l.x * 4u + j]; }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i][j] = fma(a[i], b[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let m = row0 + l.y * 4u + i;
    if (m >= M) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let n = col0 + l.x * 4u + j;
      if (n < N) { store(m, n, acc[i][j]); }
    }
  }
}`,
  };
}

/** Workgroups covering an M × N result for a kernel generated with (wx, wy). */
export function gemmGrid(M: number, N: number, wx: number, wy: number, z = 1): [number, number, number] {
  return [Math.ceil(N / (4 * wx)), Math.ceil(M / (4 * wy)), z];
}
