import type { Tensor } from '../../src/index.js';

/** Direct 7-loop convolution in double precision: the textbook definition, for checking kernels. */
export function naiveConv2d(
  x: Tensor,
  w: Tensor,
  bias: Tensor | null,
  o: { stride: number; padding: number; dilation: number; groups: number },
): { data: Float64Array; shape: number[] } {
  const [N, Cin, H, W] = x.shape as [number, number, number, number];
  const [Cout, cinG, kh, kw] = w.shape as [number, number, number, number];
  const coutG = Cout / o.groups;
  const Ho = Math.floor((H + 2 * o.padding - o.dilation * (kh - 1) - 1) / o.stride) + 1;
  const Wo = Math.floor((W + 2 * o.padding - o.dilation * (kw - 1) - 1) / o.stride) + 1;
  const out = new Float64Array(N * Cout * Ho * Wo);
  for (let n = 0; n < N; n++)
    for (let co = 0; co < Cout; co++) {
      const g = Math.floor(co / coutG);
      for (let oy = 0; oy < Ho; oy++)
        for (let ox = 0; ox < Wo; ox++) {
          let s = bias ? bias.dataSync()[co]! : 0;
          for (let ci = 0; ci < cinG; ci++)
            for (let ky = 0; ky < kh; ky++)
              for (let kx = 0; kx < kw; kx++) {
                const iy = oy * o.stride - o.padding + ky * o.dilation;
                const ix = ox * o.stride - o.padding + kx * o.dilation;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                s +=
                  x.dataSync()[((n * Cin + g * cinG + ci) * H + iy) * W + ix]! *
                  w.dataSync()[((co * cinG + ci) * kh + ky) * kw + kx]!;
              }
          out[((n * Cout + co) * Ho + oy) * Wo + ox] = s;
        }
    }
  void Cin;
  return { data: out, shape: [N, Cout, Ho, Wo] };
}
