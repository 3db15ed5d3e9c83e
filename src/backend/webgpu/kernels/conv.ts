/**
 * 2-D convolution on NHWC activations as implicit GEMM, one workgroup column of tiles per group
 * (workgroup id z), each group with its own weights.
 * Shapes: x [N, H, W, C], w [K, cpg, kh, kw] (PyTorch's layout), y [N, Ho, Wo, K];
 * group g reads input channels [g·cpg, +cpg) and writes output channels [g·kpg, +kpg).
 *   forward          M = N·Ho·Wo pixels, N = kpg, k = (tap, j):  y = Σ x[p ⊕ tap][g·cpg + j] · w[g·kpg + n][j][tap]
 *                    (+ bias, + residual, ReLU fused into the store)
 *   backward input   M = N·H·W pixels, N = cpg, k = (tap, n): dx = Σ dy[q ⊖ tap][g·kpg + n] · w[g·kpg + n][j][tap]
 *                    (the output pixel q ⊖ tap exists only where the stride divides)
 *   backward weight  M = kpg, N = cpg·taps, k = pixels, split over z into `splits` ranges of pixels whose
 *                    partial products are then added in order (deterministic)
 * Tile shapes follow the channels per group (kpg or cpg) so small groups do not idle threads.
 */
import type { Conv2dGeometry } from '../../backend.js';
import type { GpuBuffer } from '../buffer.js';
import { gridFor, type GpuRuntime, type Kernel } from '../runtime.js';
import { perElement, perRuntime } from './common.js';
import { gemmGrid, tiledGemm } from './gemm.js';
import { CONV_WORDS, convWords, wordSlots } from './geometry.js';
import { columnKernel, reduceKernels } from './reduce.js';

// Parameter words: the geometry, then each kernel's own words.
const FORWARD_WORDS = [...CONV_WORDS, 'hasBias', 'hasResidual', 'relu'];
const BACKWARD_WEIGHT_WORDS = [...CONV_WORDS, 'splits', 'pixelsPerSplit'];

const GEOMETRY = `var<private> gN: u32;
var<private> gH: u32;
var<private> gW: u32;
var<private> gC: u32;
var<private> gK: u32;
var<private> gHo: u32;
var<private> gWo: u32;
var<private> gkh: u32;
var<private> gkw: u32;
var<private> gsh: u32;
var<private> gsw: u32;
var<private> gph: u32;
var<private> gpw: u32;
var<private> gdh: u32;
var<private> gdw: u32;
var<private> cpg: u32;
var<private> kpg: u32;
var<private> taps: u32;
var<private> grp: u32;
fn readGeometry(group: u32) {
  gN = p[conv_batch]; gC = p[conv_inChannels]; gH = p[conv_inHeight]; gW = p[conv_inWidth];
  gK = p[conv_outChannels]; gHo = p[conv_outHeight]; gWo = p[conv_outWidth];
  gkh = p[conv_kernelH]; gkw = p[conv_kernelW]; gsh = p[conv_strideH]; gsw = p[conv_strideW];
  gph = p[conv_padH]; gpw = p[conv_padW]; gdh = p[conv_dilationH]; gdw = p[conv_dilationW];
  cpg = gC / p[conv_groups]; kpg = gK / p[conv_groups]; taps = gkh * gkw; grp = group;
}`;

const INPUT_AT = `// x at output pixel m (flat over N·Ho·Wo), tap t, channel j of the group; 0 in the padding.
fn inputAt(m: u32, t: u32, j: u32) -> f32 {
  let n = m / (gHo * gWo);
  let oy = (m / gWo) % gHo;
  let ox = m % gWo;
  let iy = i32(oy * gsh + (t / gkw) * gdh) - i32(gph);
  let ix = i32(ox * gsw + (t % gkw) * gdw) - i32(gpw);
  if (iy < 0 || ix < 0 || iy >= i32(gH) || ix >= i32(gW)) { return 0.0; }
  return x[((n * gH + u32(iy)) * gW + u32(ix)) * gC + grp * cpg + j];
}`;

const WEIGHT_AT = `fn weightAt(k: u32, j: u32, t: u32) -> f32 {
  return w[((grp * kpg + k) * cpg + j) * taps + t];
}`;

function tileFor(channels: number): { wx: number; wy: number } {
  if (channels <= 16) return { wx: 4, wy: 64 };
  if (channels <= 32) return { wx: 8, wy: 32 };
  return { wx: 16, wy: 16 };
}

function forwardKernel(wx: number, wy: number): Kernel {
  return tiledGemm({
    name: `conv2d_forward_${wx}x${wy}`,
    buffers: ['x', 'w', 'bias', 'res', 'out y'],
    wx,
    wy,
    helpers: `${wordSlots('conv', FORWARD_WORDS)}\n${GEOMETRY}\n${INPUT_AT}\n${WEIGHT_AT}`,
    prologue: `  readGeometry(wg.z);
  M = gN * gHo * gWo; N = kpg; kBegin = 0u; kEnd = taps * cpg;`,
    loadA: `  return inputAt(m, k / cpg, k % cpg);`,
    loadB: `  return weightAt(n, k % cpg, k / cpg);`,
    store: `  let co = grp * kpg + n;
  let at = m * gK + co;
  var r = v;
  if (p[conv_hasBias] != 0u) { r += bias[co]; }
  if (p[conv_hasResidual] != 0u) { r += res[at]; }
  if (p[conv_relu] != 0u) { r = select(r, 0.0, r <= 0.0); }
  y[at] = r;`,
  });
}

function backwardInputKernel(wx: number, wy: number): Kernel {
  return tiledGemm({
    name: `conv2d_backward_input_${wx}x${wy}`,
    buffers: ['dy', 'w', 'out dx'],
    wx,
    wy,
    helpers: `${wordSlots('conv', CONV_WORDS)}\n${GEOMETRY}\n${WEIGHT_AT}`,
    prologue: `  readGeometry(wg.z);
  M = gN * gH * gW; N = cpg; kBegin = 0u; kEnd = taps * kpg;`,
    // m: input pixel; k = (tap, output channel of the group)
    loadA: `  let t = k / kpg;
  let kk = k % kpg;
  let n = m / (gH * gW);
  let ty = i32((m / gW) % gH + gph) - i32((t / gkw) * gdh);
  let tx = i32(m % gW + gpw) - i32((t % gkw) * gdw);
  if (ty < 0 || tx < 0) { return 0.0; }
  let uy = u32(ty);
  let ux = u32(tx);
  if (uy % gsh != 0u || ux % gsw != 0u) { return 0.0; }
  let oy = uy / gsh;
  let ox = ux / gsw;
  if (oy >= gHo || ox >= gWo) { return 0.0; }
  return dy[((n * gHo + oy) * gWo + ox) * gK + grp * kpg + kk];`,
    loadB: `  return weightAt(k % kpg, n, k / kpg);`,
    store: `  dx[m * gC + grp * cpg + n] = v;`,
  });
}

function backwardWeightKernel(wx: number, wy: number): Kernel {
  return tiledGemm({
    name: `conv2d_backward_weight_${wx}x${wy}`,
    buffers: ['dy', 'x', 'out dw'],
    wx,
    wy,
    helpers: `${wordSlots('conv', BACKWARD_WEIGHT_WORDS)}\n${GEOMETRY}\n${INPUT_AT}\nvar<private> split: u32;`,
    // z = split · groups + group
    prologue: `  readGeometry(wg.z % p[conv_groups]);
  split = wg.z / p[conv_groups];
  M = kpg; N = cpg * taps;
  kBegin = split * p[conv_pixelsPerSplit];
  kEnd = min(gN * gHo * gWo, kBegin + p[conv_pixelsPerSplit]);`,
    loadA: `  return dy[k * gK + grp * kpg + m];`,
    loadB: `  return inputAt(k, n / cpg, n % cpg);`,
    store: `  let t = n / cpg;
  let j = n % cpg;
  dw[split * gK * cpg * taps + ((grp * kpg + m) * cpg + j) * taps + t] = v;`,
  });
}

// dw[i] = Σ_s partial[s·len + i], p: [len, splits]
const addSplits = perElement(
  'conv2d_backward_weight_splits',
  ['partial', 'out dw'],
  `  var s = 0.0;
  for (var k = 0u; k < p[1]; k++) { s += partial[k * p[0] + i]; }
  dw[i] = s;`,
);

const biasGrad = columnKernel('conv_bias_grad', ['dy'], ['dy[at]']);

export interface Scratch {
  take(length: number): GpuBuffer;
  give(buffer: GpuBuffer): void;
  /** A 16-byte buffer bound where an optional operand is absent. */
  readonly dummy: GpuBuffer;
}

export const convKernels = perRuntime((rt: GpuRuntime) => {
  const kernels = new Map<string, Kernel>();
  const cached = (key: string, make: () => Kernel): Kernel => {
    let k = kernels.get(key);
    if (!k) kernels.set(key, (k = make()));
    return k;
  };
  return {
    forward(
      x: GpuBuffer,
      w: GpuBuffer,
      bias: GpuBuffer | null,
      g: Conv2dGeometry,
      y: GpuBuffer,
      residual: GpuBuffer | null,
      relu: boolean,
      scratch: Scratch,
    ): void {
      const kpg = g.outChannels / g.groups;
      const { wx, wy } = tileFor(kpg);
      const kernel = cached(`f${wx}`, () => forwardKernel(wx, wy));
      const M = g.batch * g.outHeight * g.outWidth;
      rt.dispatch(
        kernel,
        [x.buffer, w.buffer, (bias ?? scratch.dummy).buffer, (residual ?? scratch.dummy).buffer, y.buffer],
        gemmGrid(M, kpg, wx, wy, g.groups),
        [...convWords(g), bias ? 1 : 0, residual ? 1 : 0, relu ? 1 : 0],
      );
    },
    backwardInput(dy: GpuBuffer, w: GpuBuffer, g: Conv2dGeometry, dx: GpuBuffer): void {
      const cpg = g.inChannels / g.groups;
      const { wx, wy } = tileFor(cpg);
      const kernel = cached(`i${wx}`, () => backwardInputKernel(wx, wy));
      const M = g.batch * g.inHeight * g.inWidth;
      rt.dispatch(kernel, [dy.buffer, w.buffer, dx.buffer], gemmGrid(M, cpg, wx, wy, g.groups), convWords(g));
    },
    backwardWeight(
      dy: GpuBuffer,
      x: GpuBuffer,
      g: Conv2dGeometry,
      dw: GpuBuffer,
      dBias: GpuBuffer | null,
      scratch: Scratch,
    ): void {
      const kpg = g.outChannels / g.groups;
      const cols = (g.inChannels / g.groups) * g.kernelH * g.kernelW;
      const { wx, wy } = kpg <= 16 ? { wx: 64, wy: 4 } : { wx: 16, wy: 16 };
      const kernel = cached(`w${wx}`, () => backwardWeightKernel(wx, wy));
      const pixels = g.batch * g.outHeight * g.outWidth;
      const splits = Math.max(1, Math.min(64, Math.floor(pixels / 2048)));
      const perSplit = Math.ceil(pixels / splits);
      const target = splits === 1 ? dw : scratch.take(splits * dw.length);
      rt.dispatch(
        kernel,
        [dy.buffer, x.buffer, target.buffer],
        gemmGrid(kpg, cols, wx, wy, g.groups * splits),
        [...convWords(g), splits, perSplit],
      );
      if (splits > 1) {
        rt.dispatch(addSplits, [target.buffer, dw.buffer], gridFor(dw.length), [dw.length, splits]);
        scratch.give(target);
      }
      if (dBias) {
        reduceKernels(rt).columns(
          biasGrad,
          [dy],
          pixels,
          g.outChannels,
          dBias,
          (n) => scratch.take(n),
          (b) => scratch.give(b),
        );
      }
    },
  };
});
