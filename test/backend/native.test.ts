/**
 * The native kernels against the TypeScript reference, op by op, forward and backward, on shapes
 * chosen to hit every code path: odd spatial sizes, stride 1 and 2, padding, groups 1, 2, 32 and 64,
 * channel counts that are not multiples of 8, batch 1 and > 1; the AVX2 kernels also against the
 * portable ones.
 */
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  backward,
  F,
  nn,
  inferenceMode,
  setKernelIsa,
  Generator,
  nativeBackend,
  nativeInfo,
  nchwToNhwc,
  setBackend,
  setHostFormatConverter,
  Tensor,
  tsBackend,
  type Backend,
  type Conv2dGeometry,
} from '../../src/index.js';
import { loadAddon } from '../../src/backend/native/addon.js';
import { allocateFloat32 } from '../../src/tensor/index.js';
import { maxAbs, maxAbsDiff } from '../helpers/assert.js';

const native = nativeBackend();
/** The built library (npm test builds first), for probes in a fresh process. */
const distIndex = resolve(dirname(fileURLToPath(import.meta.url)), '../../dist/src/index.js');
if (!native && process.env.RESNEXT_REQUIRE_NATIVE === '1')
  throw new Error('native addon required but not loadable');

interface Result {
  out: number[];
  grads: number[][];
}

/** Runs f on fresh copies of the inputs with a backend; returns the output and input gradients in NCHW order. */
function run(backend: Backend, inputs: Tensor[], f: (...t: Tensor[]) => Tensor, seed = 3): Result {
  const previous = setBackend(backend);
  try {
    const copies = inputs.map((t) => t.clone().requiresGrad_());
    const y = f(...copies);
    const r = Tensor.randn(y.shape, { generator: new Generator(seed) });
    backward(y, r);
    return { out: y.toArray(), grads: copies.map((c) => c.grad!.toArray()) };
  } finally {
    setBackend(previous);
  }
}

function expectSame(a: Result, b: Result, what: string, rtol = 1e-4): void {
  const tol = (ref: number[]): number => rtol * Math.max(1, maxAbs(ref));
  expect(maxAbsDiff(a.out, b.out), `${what}: output`).toBeLessThanOrEqual(tol(b.out));
  a.grads.forEach((g, i) => {
    expect(maxAbsDiff(g, b.grads[i]!), `${what}: gradient of input ${i}`).toBeLessThanOrEqual(
      tol(b.grads[i]!),
    );
  });
}

const gen = new Generator(2024);
const randn = (...shape: number[]): Tensor => Tensor.randn(shape, { generator: gen });

/** Batch norm of C channels in training mode, fresh running statistics each call: f(x, weight, bias). */
const trainingBatchNorm =
  (C: number, relu = false) =>
  (x: Tensor, g: Tensor, b: Tensor): Tensor =>
    F.batchNorm(x, {
      runningMean: Tensor.zeros([C]),
      runningVar: Tensor.ones([C]),
      weight: g,
      bias: b,
      training: true,
      relu,
    });

/** A batch-1 convolution's geometry, stride 1 and dilation 1, on an H x H map. */
function convGeometry(
  C: number,
  H: number,
  K: number,
  kernel: number,
  pad: number,
  groups: number,
): Conv2dGeometry {
  const out = H + 2 * pad - kernel + 1;
  return {
    batch: 1,
    inChannels: C,
    inHeight: H,
    inWidth: H,
    outChannels: K,
    outHeight: out,
    outWidth: out,
    kernelH: kernel,
    kernelW: kernel,
    strideH: 1,
    strideW: 1,
    padH: pad,
    padW: pad,
    dilationH: 1,
    dilationW: 1,
    groups,
  };
}

/** The kernel variants this CPU runs, portable first. */
const variantsThisCpuRuns = (): ('portable' | 'avx2' | 'avx512')[] =>
  (['portable', 'avx2', 'avx512'] as const).filter((_, i, all) => i <= all.indexOf(nativeInfo()!.cpuIsa));

describe.runIf(native !== null)('native kernels match the reference', () => {
  it('reports its CPU, the kernels chosen for it, and threads', () => {
    const info = nativeInfo()!;
    const levels = ['portable', 'avx2', 'avx512'];
    expect(info.cpu.length).toBeGreaterThan(0);
    expect(levels).toContain(info.cpuIsa);
    // The best level both the CPU and the build have, unless RESNEXT_ISA forced one.
    const forced = process.env.RESNEXT_ISA;
    const expected = forced
      ? levels.indexOf(forced)
      : Math.min(levels.indexOf(info.cpuIsa), levels.indexOf(info.kernelVariants));
    expect(levels.indexOf(info.kernels)).toBe(expected);
    expect(info.gemmIsa).toMatch(/^(sse41|avx|avx2|avx2_vnni|avx512_\w+)$/);
    expect(info.threads).toBeGreaterThanOrEqual(1);
  });

  it('gives op outputs 64-byte-aligned arrays, and names a bad length', () => {
    const addon = loadAddon().addon!;
    for (const length of [0, 1, 4095, 4096, 100_003]) {
      const a = addon.alignedFloat32Array(length);
      expect(a.length).toBe(length);
      expect(addon.byteAlignment(a), `length ${length}`).toBe(0);
      expect(a.every((v) => v === 0)).toBe(true);
      a.fill(1);
      expect(a.buffer.byteLength).toBeGreaterThanOrEqual(a.byteOffset + a.byteLength);
    }
    // Node's own large buffers start 16 bytes past a page boundary.
    expect(addon.byteAlignment(new Float32Array(1 << 20))).not.toBe(0);
    expect(() => addon.alignedFloat32Array(-1)).toThrow(
      'alignedFloat32Array: length must not be negative, got -1',
    );
    // The pool's new arrays come from the addon; small ones stay V8's.
    for (let i = 0; i < 4; i++) expect(addon.byteAlignment(allocateFloat32(50_000 + i))).toBe(0);
    expect(allocateFloat32(100).byteOffset).toBe(0);
  });

  it('switches kernel variants, refusing one the CPU lacks', () => {
    const info = nativeInfo()!;
    const was = setKernelIsa('portable');
    try {
      expect(was).toBe(info.kernels);
      expect(nativeInfo()!.kernels).toBe('portable');
    } finally {
      setKernelIsa(was);
    }
    expect(nativeInfo()!.kernels).toBe(info.kernels);
    expect(info.kernelVariants).toBe('avx512');
    if (info.cpuIsa === 'avx512') {
      setKernelIsa('avx512');
      expect(nativeInfo()!.kernels).toBe('avx512');
      setKernelIsa(info.kernels);
    } else {
      expect(() => setKernelIsa('avx512')).toThrow('avx512: this CPU does not support avx512');
    }
  });

  it('takes the variant from RESNEXT_ISA at load, and names a bad value', () => {
    const probe = (isa: string): ReturnType<typeof spawnSync> =>
      spawnSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `const m = await import(${JSON.stringify(distIndex)}); console.log(m.nativeInfo().kernels);`,
        ],
        { encoding: 'utf-8', env: { ...process.env, RESNEXT_ISA: isa } },
      );
    const portable = probe('portable');
    expect(portable.stderr).toBe('');
    expect(String(portable.stdout).trim()).toBe('portable');
    const bad = probe('sse');
    expect(bad.status).not.toBe(0);
    expect(String(bad.stderr)).toContain('RESNEXT_ISA must be one of portable, avx2, avx512, got "sse"');
  });

  it("every ISA variant the CPU runs gives the portable variant's results bit for bit", () => {
    const levels = variantsThisCpuRuns();
    // Channel counts off every vector width, maps big enough for the threaded paths.
    const [N, C, H, W] = [2, 37, 17, 29];
    const inputs = [randn(N, C, H, W), randn(C), randn(C), randn(N, C, H, W)];
    const rm = randn(C);
    const rv = Tensor.rand([C], { low: 0.5, high: 2, generator: gen });
    const f = (x: Tensor, g: Tensor, b: Tensor, r: Tensor): Tensor => {
      const stats = { runningMean: Tensor.zeros([C]), runningVar: Tensor.ones([C]) };
      const t = F.batchNorm(x, { ...stats, weight: g, bias: b, training: true, residual: r, relu: true });
      const e = F.batchNorm(t, { runningMean: rm, runningVar: rv, weight: g, bias: b, training: false });
      const p = F.add(F.maxPool2d(F.relu(e), 3, { stride: 2, padding: 1 }), F.adaptiveMaxPool2d(e, [9, 15]));
      const v = F.flatten(F.adaptiveAvgPool2d(p, [3, 4]));
      return F.add(F.softmax(v, 1), F.logSoftmax(v, 1));
    };
    const sgdAfter = (): number[] => {
      const seeded = new Generator(7);
      const param = Tensor.randn([70_001], { generator: seeded });
      const grad = Tensor.randn([70_001], { generator: seeded });
      const buf = Tensor.zeros([70_001]);
      const o = { lr: 0.1, momentum: 0.9, dampening: 0.1, weightDecay: 1e-4, nesterov: true };
      native!.sgdStep(param.dataSync(), grad.dataSync(), buf.dataSync(), { ...o, first: true });
      native!.sgdStep(param.dataSync(), grad.dataSync(), buf.dataSync(), { ...o, first: false });
      return [...param.dataSync(), ...buf.dataSync()];
    };
    // Convolutions: the portable grouped loops (5 channels per group), im2col + GEMM with bias, the
    // fused tail of inference (bias, residual, ReLU in the output pass), and linear.
    const convInputs = [randn(2, 10, 9, 11), randn(10, 5, 3, 3), randn(7, 10, 3, 3), randn(7), randn(3, 210)];
    const conv = (x: Tensor, wg: Tensor, wd: Tensor, bd: Tensor, wl: Tensor): Tensor => {
      const a = F.conv2d(x, wg, null, { padding: 1, groups: 2 });
      const d = F.conv2d(F.relu(a), wd, bd, { stride: 2, padding: 1 });
      return F.linear(F.flatten(d), wl);
    };
    const residual = randn(2, 7, 9, 11);
    const fused = (): number[] =>
      inferenceMode(() =>
        F.conv2d(convInputs[0]!, convInputs[2]!, convInputs[3]!, {
          padding: 1,
          residual,
          relu: true,
        }).toArray(),
      );
    const results = levels.map((isa) => {
      const was = setKernelIsa(isa);
      try {
        const c = run(native!, convInputs, conv);
        return {
          isa,
          ...run(native!, inputs, f),
          sgd: sgdAfter(),
          conv: [...c.out, ...c.grads.flat(), ...fused()],
        };
      } finally {
        setKernelIsa(was);
      }
    });
    const [portable, ...others] = results;
    expect(portable!.out.filter((v) => v !== 0).length).toBeGreaterThan(0);
    for (const r of others) {
      expect(r.out.map(String), `${r.isa}: output`).toEqual(portable!.out.map(String));
      r.grads.forEach((g, i) =>
        expect(g.map(String), `${r.isa}: gradient ${i}`).toEqual(portable!.grads[i]!.map(String)),
      );
      expect(r.sgd.map(String), `${r.isa}: sgd`).toEqual(portable!.sgd.map(String));
      expect(r.conv.map(String), `${r.isa}: convolutions and linear`).toEqual(portable!.conv.map(String));
    }
    expect(results.map((r) => r.isa)).toContain(nativeInfo()!.cpuIsa === 'portable' ? 'portable' : 'avx2');
  });

  const convCases = [
    // [name, N, C, H, W, K, k, stride, pad, groups, bias]
    ['ResNeXt stage 1 block (4 per group, pair kernel)', 2, 128, 9, 11, 128, 3, 1, 1, 32, false],
    ['ResNeXt stride-2 block, 8 per group', 2, 256, 11, 9, 256, 3, 2, 1, 32, false],
    ['16 per group, batch 1, odd size', 1, 512, 7, 7, 512, 3, 1, 1, 32, false],
    ['32 per group, stride 2', 3, 1024, 5, 6, 1024, 3, 2, 1, 32, false],
    // Backward-weights through oneDNN in the AVX2 variant (32 per group, maps of 7x7 or more).
    ['32 per group at 7x7', 2, 1024, 7, 7, 1024, 3, 1, 1, 32, false],
    ['64 groups of 4 (resnext101_64x4d)', 2, 256, 6, 5, 256, 3, 1, 1, 64, false],
    ['groups 2, 5 channels per group (portable path)', 2, 10, 7, 5, 6, 3, 2, 1, 2, true],
    ['groups 2, 12 per group in, 8 out', 1, 24, 6, 7, 16, 3, 1, 1, 2, false],
    ['dense 3x3, channels not a multiple of 8', 2, 13, 9, 7, 11, 3, 1, 1, 1, true],
    ['dense 3x3 stride 2 no padding', 1, 6, 10, 9, 7, 3, 2, 0, 1, false],
    ['7x7 stride 2 stem', 2, 3, 23, 19, 16, 7, 2, 3, 1, false],
    ['1x1', 2, 20, 5, 7, 12, 1, 1, 0, 1, true],
    ['1x1 stride 2 projection', 2, 24, 9, 7, 40, 1, 2, 0, 1, false],
    ['grouped 1x1', 1, 12, 4, 5, 8, 1, 1, 0, 4, true],
    // 128 output pixels or more: forward through oneDNN's convolution primitive, bias fused.
    ['1x1 on a large map (oneDNN primitive)', 2, 12, 24, 23, 16, 1, 1, 0, 1, true],
    ['1x1 stride 2 on a large map (oneDNN primitive)', 2, 12, 47, 45, 24, 1, 2, 0, 1, false],
    // 1x1 backward-weight over 1024 pixels or more per thread: each thread a GEMM over its pixels.
    ['1x1 over 40000 pixels, widening (transposed product)', 4, 12, 100, 100, 16, 1, 1, 0, 1, false],
    ['1x1 over 40000 pixels, narrowing', 4, 24, 100, 100, 16, 1, 1, 0, 1, true],
    // 1024 output pixels or more: k×k ungrouped forward through the primitive too.
    ['7x7 stride 2 stem on a large map (oneDNN primitive)', 2, 3, 67, 61, 16, 7, 2, 3, 1, true],
    ['dense 3x3 stride 2 on a large map (oneDNN primitive)', 1, 13, 70, 67, 11, 3, 2, 1, 1, false],
    ['5x5 grouped, pad 2', 1, 16, 8, 9, 16, 5, 1, 2, 2, false],
    // One output pixel per image at 130 of them: the primitive sees one image of 130 rows.
    ['1x1 on one-pixel maps, batch 130 (oneDNN primitive)', 130, 12, 1, 1, 16, 1, 1, 0, 1, true],
    ['1x1 stride 2 onto one-pixel maps, batch 130 (oneDNN primitive)', 130, 12, 2, 2, 16, 1, 2, 0, 1, false],
    // The last stages of a 32x32 input: 2x2, 1x1 and stride 2 onto 1x1.
    ['pair kernel on 1x1 maps', 4, 128, 1, 1, 128, 3, 1, 1, 32, false],
    ['block kernel on 2x2 maps', 4, 512, 2, 2, 512, 3, 1, 1, 32, false],
    ['block kernel, stride 2 from 2x2 to 1x1', 4, 1024, 2, 2, 1024, 3, 2, 1, 32, false],
    ['block kernel on 1x1 maps', 3, 1024, 1, 1, 1024, 3, 1, 1, 32, false],
    ['pair kernel, stride 2 from 3x3', 2, 128, 3, 3, 128, 3, 2, 1, 32, false],
    // Backward-weight tiles of several whole images (the last one shorter); outer kernel rows that
    // never reach the input.
    ['block kernel on 1x1 maps, 37 images', 37, 1024, 1, 1, 1024, 3, 1, 1, 32, true],
    ['block kernel, stride 2 from 2x2 to 1x1, 37 images', 37, 512, 2, 2, 512, 3, 2, 1, 32, false],
    ['pair kernel on 2x2 maps, 37 images', 37, 128, 2, 2, 128, 3, 1, 1, 32, false],
  ] as const;
  for (const [name, N, C, H, W, K, k, stride, pad, groups, bias] of convCases) {
    it(`conv2d: ${name}`, () => {
      const inputs = [randn(N, C, H, W), randn(K, C / groups, k, k).toFormat('nchw')];
      if (bias) inputs.push(randn(K));
      const f = (x: Tensor, w: Tensor, b?: Tensor): Tensor =>
        F.conv2d(x, w, b ?? null, { stride, padding: pad, groups });
      const reference = run(tsBackend, inputs, f);
      expectSame(run(native!, inputs, f), reference, name);
      const was = setKernelIsa('portable');
      try {
        expectSame(run(native!, inputs, f), reference, `${name} (portable kernels)`);
      } finally {
        setKernelIsa(was);
      }
    });
  }

  it('conv2d with constant weights keeps them packed: same values on every call, per weight array', () => {
    // 1x1 on 196 pixels (oneDNN's primitive either way) and on 49 (GEMM unless the weights are constant)
    for (const [H, C, K] of [
      [14, 64, 48],
      [7, 96, 128],
    ] as const) {
      const g = convGeometry(C, H, K, 1, 0, 1);
      const x = randn(1, C, H, H).toFormat('nhwc').dataSync();
      const weights = [randn(K, C, 1, 1).dataSync(), randn(K, C, 1, 1).dataSync()];
      const bias = randn(K).dataSync();
      const conv = (w: Float32Array, constant: boolean): Float32Array => {
        const y = new Float32Array(H * H * K);
        native!.conv2d(x, w, bias, g, y, { relu: true }, constant ? { constant: true } : undefined);
        return y;
      };
      for (const w of weights) {
        const plain = conv(w, false);
        const first = conv(w, true);
        expect(maxAbsDiff([...first], [...plain]), `${H}x${H}`).toBeLessThanOrEqual(
          1e-5 * Math.max(1, maxAbs([...plain])),
        );
        expect(conv(w, true)).toEqual(first);
      }
      // each array keeps its own packed copy
      expect(conv(weights[0]!, true)).toEqual(conv(weights[0]!, true));
      expect(maxAbsDiff([...conv(weights[1]!, true)], [...conv(weights[1]!, false)])).toBeLessThanOrEqual(
        1e-5 * Math.max(1, maxAbs([...conv(weights[1]!, false)])),
      );
    }
  });

  it('conv2d with constant weights follows each call through input sizes, bias and residual', () => {
    // the kept primitive is built for one input size and tail: every change must rebuild it
    const C = 32;
    const K = 48;
    const w = randn(K, C, 1, 1).dataSync();
    const bias = randn(K).dataSync();
    const calls = [
      [14, true, false],
      [7, true, false],
      [14, false, false],
      [14, true, true],
      [7, false, true],
      [14, true, false],
    ] as const;
    for (const [H, withBias, withResidual] of calls) {
      const g = convGeometry(C, H, K, 1, 0, 1);
      const x = randn(1, C, H, H).toFormat('nhwc').dataSync();
      const residual = withResidual ? randn(1, K, H, H).toFormat('nhwc').dataSync() : null;
      const conv = (constant: boolean): number[] => {
        const y = new Float32Array(H * H * K);
        native!.conv2d(
          x,
          w,
          withBias ? bias : null,
          g,
          y,
          { residual },
          constant ? { constant: true } : undefined,
        );
        return [...y];
      };
      const plain = conv(false);
      const label = `${H}x${H}, bias ${withBias}, residual ${withResidual}`;
      expect(maxAbsDiff(conv(true), plain), label).toBeLessThanOrEqual(1e-5 * Math.max(1, maxAbs(plain)));
    }
  });

  it('conv2d with constant weights builds its kept primitive again when the thread count changes', () => {
    // a oneDNN primitive keeps the work split of the thread count it was built under: kept across
    // setNativeThreads(2 -> 1 -> 2), it would run on one thread
    const script = `
      const m = await import(${JSON.stringify(distIndex)});
      const be = m.nativeBackend();
      const [C, K, H] = [32, 48, 14];
      const g = { batch: 1, inChannels: C, inHeight: H, inWidth: H, outChannels: K, outHeight: H, outWidth: H,
        kernelH: 1, kernelW: 1, strideH: 1, strideW: 1, padH: 0, padW: 0, dilationH: 1, dilationW: 1, groups: 1 };
      const x = new Float32Array(H * H * C).fill(1), w = new Float32Array(K * C).fill(0.5);
      const sums = [];
      for (const threads of [2, 2, 1, 1, 2]) {
        m.setNativeThreads(threads);
        const y = new Float32Array(H * H * K);
        be.conv2d(x, w, null, g, y, undefined, { constant: true });
        sums.push(y.reduce((a, b) => a + b, 0));
      }
      console.log(JSON.stringify(sums));`;
    const probe = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf-8',
      env: { ...process.env, ONEDNN_VERBOSE: '2' },
    });
    expect(probe.status, probe.stderr).toBe(0);
    const lines = probe.stdout.split('\n');
    const builds = lines.filter((l) => /^onednn_verbose,create:[a-z_]+,cpu,convolution,/.test(l));
    expect(builds).toHaveLength(3);
    const sums = JSON.parse(lines.filter((l) => l.startsWith('[')).pop()!) as number[];
    expect(sums).toEqual(new Array(5).fill(14 * 14 * 48 * 32 * 0.5));
  });

  it('conv2d writes over its residual when given the residual as y, on every path', () => {
    // [N, C, K, H, W, kernel, groups, constant]: oneDNN with kept weights (a sum post-op into y) and
    // with changing ones, one-pixel maps as one image, GEMM on a small map, the grouped kernels
    const cases = [
      [1, 32, 48, 14, 14, 1, 1, true],
      [2, 16, 24, 8, 8, 1, 1, false],
      [3, 24, 32, 1, 1, 1, 1, true],
      [1, 16, 24, 3, 5, 1, 1, false],
      [2, 16, 16, 6, 7, 3, 4, false],
    ] as const;
    for (const [N, C, K, H, W, k, groups, constant] of cases) {
      const pad = (k - 1) / 2;
      const g = { ...convGeometry(C, H, K, k, pad, groups), batch: N, inWidth: W, outWidth: W };
      const x = randn(N, C, H, W);
      const w = randn(K, C / groups, k, k);
      const bias = randn(K);
      const residual = randn(N, K, H, W);
      const previous = setBackend(tsBackend);
      let reference: Float32Array;
      try {
        reference = F.conv2d(x, w, bias, { padding: pad, groups, residual, relu: true })
          .toFormat('nhwc')
          .dataSync();
      } finally {
        setBackend(previous);
      }
      const y = Float32Array.from(residual.toFormat('nhwc').dataSync());
      native!.conv2d(
        x.toFormat('nhwc').dataSync(),
        w.dataSync(),
        bias.dataSync(),
        g,
        y,
        { residual: y, relu: true },
        constant ? { constant: true } : undefined,
      );
      const label = `${N}x${C}x${H}x${W} -> ${K}, ${k}x${k}, groups ${groups}, constant ${constant}`;
      expect(maxAbsDiff([...y], [...reference]), label).toBeLessThanOrEqual(
        1e-5 * Math.max(1, maxAbs([...reference])),
      );
    }
  });

  it('a 1x1 with weights over 4 MiB adds its residual whichever post-op carries it', () => {
    // On AVX-512 such a residual is copied into y and added by oneDNN's sum post-op: y starts as
    // garbage, and a NaN in the residual must come through the ReLU
    const [N, C, K, H] = [2, 1024, 1032, 8];
    const g = { ...convGeometry(C, H, K, 1, 0, 1), batch: N };
    const x = randn(N, C, H, H);
    const w = randn(K, C, 1, 1);
    const bias = randn(K);
    const residualValues = randn(N, K, H, H).dataSync();
    residualValues[5] = NaN;
    const residual = Tensor.fromArray(residualValues, [N, K, H, H]);
    const previous = setBackend(tsBackend);
    let reference: Float32Array;
    try {
      reference = F.conv2d(x, w, bias, { residual, relu: true }).toFormat('nhwc').dataSync();
    } finally {
      setBackend(previous);
    }
    expect(reference[5 * K]).toBeNaN();
    for (const constant of [false, true]) {
      const y = new Float32Array(N * K * H * H).fill(7);
      native!.conv2d(
        x.toFormat('nhwc').dataSync(),
        w.dataSync(),
        bias.dataSync(),
        g,
        y,
        { residual: residual.toFormat('nhwc').dataSync(), relu: true },
        constant ? { constant: true } : undefined,
      );
      expect(y[5 * K], `constant ${constant}`).toBeNaN();
      y[5 * K] = reference[5 * K] = 0;
      expect(maxAbsDiff([...y], [...reference]), `constant ${constant}`).toBeLessThanOrEqual(
        1e-5 * Math.max(1, maxAbs([...reference])),
      );
    }
  });

  it('conv2d with constant weights on one-pixel maps: batch 1, 3 and 130, stride 1 and 3', () => {
    // batch 1 runs through GEMM, larger batches through the primitive as one image of N rows
    for (const [N, H, W, stride] of [
      [1, 1, 1, 1],
      [3, 1, 1, 1],
      [130, 1, 1, 1],
      [3, 2, 3, 3],
      [130, 3, 2, 3],
    ] as const) {
      const C = 24;
      const K = 32;
      const g = {
        ...convGeometry(C, H, K, 1, 0, 1),
        batch: N,
        inWidth: W,
        outHeight: 1,
        outWidth: 1,
        strideH: stride,
        strideW: stride,
      };
      const x = randn(N, C, H, W);
      const w = randn(K, C, 1, 1);
      const bias = randn(K);
      const residual = randn(N, K, 1, 1);
      const y = new Float32Array(N * K);
      native!.conv2d(
        x.toFormat('nhwc').dataSync(),
        w.dataSync(),
        bias.dataSync(),
        g,
        y,
        {
          residual: residual.toFormat('nhwc').dataSync(),
          relu: true,
        },
        { constant: true },
      );
      const previous = setBackend(tsBackend);
      let reference: Float32Array;
      try {
        reference = F.conv2d(x, w, bias, { stride, residual, relu: true }).toFormat('nhwc').dataSync();
      } finally {
        setBackend(previous);
      }
      expect(
        maxAbsDiff([...y], [...reference]),
        `batch ${N}, ${H}x${W}, stride ${stride}`,
      ).toBeLessThanOrEqual(1e-5 * Math.max(1, maxAbs([...reference])));
    }
  });

  it('1x1 backward-input with its weights at every 4-byte offset (GEMM copies a misaligned B)', () => {
    // 8 offsets cover every address mod 32: the aligned ones run on the weights as they are, the
    // others on an aligned copy, and all agree
    const C = 24;
    const K = 40;
    const H = 12; // 144 pixels: enough rows for the aligned copy
    const g = convGeometry(C, H, K, 1, 0, 1);
    const dy = randn(1, K, H, H).toFormat('nhwc').dataSync();
    const weights = randn(K, C, 1, 1).dataSync();
    const room = new Float32Array(weights.length + 8);
    const results = [...Array(8).keys()].map((offset) => {
      const w = room.subarray(offset, offset + weights.length);
      room.fill(Number.NaN);
      w.set(weights);
      const dx = new Float32Array(H * H * C);
      native!.conv2dBackwardInput(dy, w, g, dx);
      return [...dx];
    });
    const scale = Math.max(1, maxAbs(results[0]!));
    for (const [offset, dx] of results.entries()) {
      expect(dx.every(Number.isFinite), `offset ${offset * 4} bytes: finite`).toBe(true);
      expect(maxAbsDiff(dx, results[0]!), `offset ${offset * 4} bytes`).toBeLessThanOrEqual(1e-5 * scale);
    }
  });

  it('grouped inference convolutions with constant weights match the reference (oneDNN on AVX-512)', () => {
    // [C, H, stride, groups]: 8, 16 and 32 channels per group at stride 1 (the shapes the AVX-512
    // variant runs through oneDNN with constant weights), and one at stride 2 (ours).
    for (const [C, H, stride, groups] of [
      [256, 9, 1, 32],
      [512, 7, 1, 32],
      [1024, 5, 1, 32],
      [512, 8, 2, 32],
    ] as const) {
      const x = randn(2, C, H, H);
      const conv = new nn.Conv2d(C, C, 3, { stride, padding: 1, groups, bias: true }).eval();
      conv.bias!.copy_(randn(C));
      conv.freezeForInference();
      const infer = (backend: Backend): number[] => {
        const previous = setBackend(backend);
        try {
          return inferenceMode(() => conv.forwardFused(x, { relu: true }).toArray());
        } finally {
          setBackend(previous);
        }
      };
      const want = infer(tsBackend);
      for (const isa of variantsThisCpuRuns()) {
        const was = setKernelIsa(isa);
        try {
          expect(
            maxAbsDiff(infer(native!), want),
            `${isa}: ${C}/${groups} at ${H}x${H} stride ${stride}`,
          ).toBeLessThanOrEqual(1e-4 * Math.max(1, maxAbs(want)));
        } finally {
          setKernelIsa(was);
        }
      }
    }
  });

  it('grouped conv2d with constant weights packs them once, in every ISA variant', () => {
    const levels = variantsThisCpuRuns();
    // [C, H, groups]: ResNeXt's 4 and 32 channels per group (diagonal and block layouts), at 7x7
    for (const [C, H, groups] of [
      [128, 7, 32],
      [256, 7, 8],
    ] as const) {
      const g = convGeometry(C, H, C, 3, 1, groups);
      const x = randn(1, C, H, H).toFormat('nhwc').dataSync();
      const weight = randn(C, C / groups, 3, 3).dataSync();
      for (const isa of levels) {
        const was = setKernelIsa(isa);
        try {
          const conv = (w: Float32Array, constant: boolean): Float32Array => {
            const y = new Float32Array(H * H * C);
            native!.conv2d(x, w, null, g, y, undefined, constant ? { constant: true } : undefined);
            return y;
          };
          const w = weight.slice();
          const plain = conv(w, false);
          expect(conv(w, true), `${isa} ${C}/${groups}`).toEqual(plain);
          // the values promised constant are read once: later calls use the kept packing
          w.fill(0);
          expect(conv(w, true), `${isa} ${C}/${groups}, kept`).toEqual(plain);
          expect(conv(w, false).every((v) => v === 0)).toBe(true);
        } finally {
          setKernelIsa(was);
        }
      }
    }
  });

  // Bit-for-bit equality of large arrays (toEqual walks them element by element, slowly).
  const sameBits = (a: Float32Array, b: Float32Array): boolean =>
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
      Buffer.from(b.buffer, b.byteOffset, b.byteLength),
    );
  it("converts memory formats with the addon's transpose, as the TypeScript loops do", () => {
    const installed = setHostFormatConverter(null);
    expect(installed, 'the addon installs its converter when it loads').not.toBeNull();
    try {
      // odd sizes (partial tiles), a 3-channel image, and one image of many channels on a small map
      for (const [N, C, H, W] of [
        [2, 37, 17, 29],
        [1, 3, 224, 224],
        [3, 2048, 7, 7],
      ] as const) {
        const nchw = randn(N, C, H, W).dataSync();
        const byLoops = new Float32Array(nchw.length);
        nchwToNhwc(nchw, N, C, H, W, byLoops);
        const byAddon = new Float32Array(nchw.length);
        installed!(nchw, [N, C, H, W], true, byAddon);
        expect(sameBits(byAddon, byLoops), `${N}x${C}x${H}x${W} to nhwc`).toBe(true);
        const back = new Float32Array(nchw.length);
        installed!(byAddon, [N, C, H, W], false, back);
        expect(sameBits(back, nchw), `${N}x${C}x${H}x${W} back to nchw`).toBe(true);
      }
    } finally {
      setHostFormatConverter(installed);
    }
    const t = randn(2, 37, 17, 29);
    expect(t.toFormat('nhwc').toFormat('nchw').toArray()).toEqual(t.toArray());
  });

  it('conv2d with dilation 2 (pair and block kernels, stride 1 and 2)', () => {
    // [C, H, W, K, stride, pad]; groups 2: 4 per group takes the pair kernel, 16 the block kernel
    for (const [C, H, W, K, stride, pad] of [
      [8, 9, 9, 8, 1, 2],
      [32, 11, 10, 32, 2, 1],
      [32, 7, 12, 16, 1, 3],
    ] as const) {
      const inputs = [randn(2, C, H, W), randn(K, C / 2, 3, 3)];
      const f = (x: Tensor, w: Tensor): Tensor =>
        F.conv2d(x, w, null, { stride, padding: pad, dilation: 2, groups: 2 });
      expectSame(run(native!, inputs, f), run(tsBackend, inputs, f), `dilated ${C}->${K} stride ${stride}`);
    }
  });

  it('batch norm, train and eval, with odd channel counts and spatial sizes', () => {
    for (const [N, C, H, W] of [
      [2, 13, 5, 7],
      [1, 64, 3, 3],
      [4, 3, 1, 2],
    ] as const) {
      const inputs = [randn(N, C, H, W), randn(C), randn(C)];
      const train = trainingBatchNorm(C);
      expectSame(run(native!, inputs, train), run(tsBackend, inputs, train), `bn train ${N}x${C}x${H}x${W}`);
      const rm = randn(C);
      const rv = Tensor.rand([C], { low: 0.5, high: 2, generator: gen });
      const evalFn = (x: Tensor, g: Tensor, b: Tensor): Tensor =>
        F.batchNorm(x, { runningMean: rm, runningVar: rv, weight: g, bias: b, training: false });
      expectSame(run(native!, inputs, evalFn), run(tsBackend, inputs, evalFn), `bn eval ${N}x${C}x${H}x${W}`);
    }
  });

  it('batch norm sums stay accurate over many rows, with a mean far from 0 and with a fused ReLU', () => {
    // 4·19·19 rows: several of the kernel's summation blocks per thread, the last one partial. A mean
    // of 300 against a standard deviation of 1 makes E[x²] − mean² cancel 5 of float's 7 digits. The
    // fused ReLU's sums run at mean 0: far from 0, x·scale + shift rounds differently from the
    // reference's, and a pixel that close to 0 can take the other side of the mask.
    const [N, C, H, W] = [4, 24, 19, 19];
    const own = new Generator(11);
    const noise = Tensor.randn([N, C, H, W], { generator: own });
    const [g, b] = [Tensor.randn([C], { generator: own }), Tensor.randn([C], { generator: own })];
    for (const [mean, relu] of [
      [300, false],
      [0, true],
    ] as const) {
      const inputs = [F.add(noise, Tensor.full([N, C, H, W], mean)), g, b];
      const train = trainingBatchNorm(C, relu);
      const what = `bn train, mean ${mean}, relu ${relu}`;
      expectSame(run(native!, inputs, train), run(tsBackend, inputs, train), what);
    }
  });

  it('batch norm updates the running statistics identically', () => {
    const x = randn(3, 5, 4, 3);
    const stats = (backend: Backend): number[] => {
      const previous = setBackend(backend);
      const rm = Tensor.zeros([5]);
      const rv = Tensor.ones([5]);
      F.batchNorm(x, { runningMean: rm, runningVar: rv, training: true });
      setBackend(previous);
      return [...rm.toArray(), ...rv.toArray()];
    };
    expect(maxAbsDiff(stats(native!), stats(tsBackend))).toBeLessThan(1e-6);
  });

  it('relu, add, pools, linear, softmax and cross-entropy', () => {
    const cases: [string, Tensor[], (...t: Tensor[]) => Tensor][] = [
      ['relu', [randn(2, 5, 3, 3)], (x) => F.relu(x!)],
      ['add', [randn(2, 6, 3, 5), randn(2, 6, 3, 5)], (a, b) => F.add(a!, b!)],
      ['max pool 3/2/1', [randn(2, 10, 9, 7)], (x) => F.maxPool2d(x!, 3, { stride: 2, padding: 1 })],
      ['max pool ceil', [randn(1, 3, 5, 5)], (x) => F.maxPool2d(x!, 2, { ceilMode: true })],
      ['adaptive avg 1x1', [randn(3, 12, 7, 7)], (x) => F.adaptiveAvgPool2d(x!, 1)],
      ['adaptive avg 3x2', [randn(2, 5, 7, 5)], (x) => F.adaptiveAvgPool2d(x!, [3, 2])],
      ['adaptive max 2x3', [randn(2, 5, 7, 5)], (x) => F.adaptiveMaxPool2d(x!, [2, 3])],
      ['linear', [randn(5, 17), randn(9, 17), randn(9)], (x, w, b) => F.linear(x!, w!, b!)],
      ['softmax', [randn(4, 7)], (x) => F.softmax(x!, 1)],
      ['log softmax', [randn(3, 2, 5)], (x) => F.logSoftmax(x!, 1)],
      [
        'cross-entropy with label smoothing',
        [randn(6, 10)],
        (x) => F.crossEntropy(x!, Tensor.int64([0, 9, 3, 3, 5, 1]), { labelSmoothing: 0.1 }),
      ],
    ];
    for (const [name, inputs, f] of cases)
      expectSame(run(native!, inputs, f), run(tsBackend, inputs, f), name);
  });

  it('max pool: NaN wins its window, ties go to the first maximum, as the reference', () => {
    const x = randn(2, 9, 6, 5);
    const v = x.dataSync();
    v[7] = NaN; // channel 0 of image 0
    v[3 * 30 + 12] = NaN; // another plane
    // A tie: two equal maxima in one window of channel 1.
    v[30 + 0] = 50;
    v[30 + 1] = 50;
    const f = (t?: Tensor): Tensor => F.maxPool2d(t!, 3, { stride: 2, padding: 1 });
    const a = run(native!, [x], f);
    const b = run(tsBackend, [x], f);
    expect(a.out.filter(Number.isNaN).length).toBeGreaterThan(0);
    expect(a.out.map(String)).toEqual(b.out.map(String));
    expect(a.grads[0]!.map(String)).toEqual(b.grads[0]!.map(String));
  });

  it('rejects arrays that do not match the geometry, naming them', () => {
    const g = {
      batch: 1,
      inChannels: 4,
      inHeight: 3,
      inWidth: 3,
      outChannels: 4,
      outHeight: 3,
      outWidth: 3,
      kernelH: 3,
      kernelW: 3,
      strideH: 1,
      strideW: 1,
      padH: 1,
      padW: 1,
      dilationH: 1,
      dilationW: 1,
      groups: 2,
    };
    const x = new Float32Array(36);
    const w = new Float32Array(72);
    expect(() => native!.conv2d(x, w, null, g, new Float32Array(35))).toThrow(
      'y has 35 elements, expected 36',
    );
    expect(() => native!.conv2d(x, new Float32Array(10), null, g, new Float32Array(36))).toThrow(
      'weight has 10 elements, expected 72',
    );
    expect(() => native!.conv2d(x, w, null, { ...g, outHeight: 4 }, new Float32Array(36))).toThrow(
      'inconsistent convolution geometry',
    );
  });

  it('reads descriptors by field name and names a missing or wrong field', () => {
    const y = new Float32Array(6);
    const x = new Float32Array(8);
    const w = new Float32Array(12);
    const linear = { rows: 2, inFeatures: 4, outFeatures: 3 };
    native!.linear(Float32Array.from([1, 2, 3, 4, 0, 0, 0, 1]), w.fill(1), null, linear, y);
    expect([...y]).toEqual([10, 10, 10, 1, 1, 1]);
    const noOut = { rows: 2, inFeatures: 4 } as unknown as typeof linear;
    expect(() => native!.linear(x, w, null, noOut, y)).toThrow(
      'linear geometry.outFeatures must be a number',
    );
    expect(() => native!.linear(x, w, null, { ...linear, rows: 1.5 }, y)).toThrow(
      'linear geometry.rows must be an integer',
    );
    expect(() => native!.softmax(x, { outer: 2, dim: 4, inner: 1 }, new Float32Array(7))).toThrow(
      'y has 7 elements, expected 8',
    );
    const sgd = { lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, first: true };
    const noLr = { ...sgd, lr: undefined } as unknown as typeof sgd;
    expect(() => native!.sgdStep(x, x, null, noLr)).toThrow('sgd options.lr must be a number');
    const channels = { batch: 1, channels: 4, spatial: 2 };
    const c = (): Float32Array => new Float32Array(4);
    expect(() =>
      native!.batchNormEval(x, null, null, c(), c(), channels, 1e-5, new Float32Array(8), {
        residual: new Float32Array(3),
      }),
    ).toThrow('epilogue.residual has 3 elements, expected 8');
  });
});
