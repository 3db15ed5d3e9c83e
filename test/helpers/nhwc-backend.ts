import { nchwToNhwc, nhwcToNchw, tsBackend, type Backend, type ChannelGeometry } from '../../src/index.js';
import { applyEpilogue } from '../../src/backend/ts/elementwise.js';

/**
 * A backend that takes NHWC activations by transposing around the reference kernels: it exercises
 * the ops layer's memory-format plumbing without the native addon.
 */
const toNchw = (a: Float32Array, N: number, C: number, H: number, W: number): Float32Array => {
  const out = new Float32Array(a.length);
  nhwcToNchw(a, N, C, H, W, out);
  return out;
};
const toNhwcInto = (a: Float32Array, N: number, C: number, H: number, W: number, out: Float32Array): void =>
  nchwToNhwc(a, N, C, H, W, out);

export const nhwcTestBackend: Backend = {
  ...tsBackend,
  name: 'ts-nhwc-test',
  activationFormat: 'nhwc',
  conv2d(x, w, b, g, y, epilogue) {
    const tmp = new Float32Array(y.length);
    tsBackend.conv2d(toNchw(x, g.batch, g.inChannels, g.inHeight, g.inWidth), w, b, g, tmp);
    toNhwcInto(tmp, g.batch, g.outChannels, g.outHeight, g.outWidth, y);
    applyEpilogue(y, epilogue);
  },
  conv2dBackwardInput(dy, w, g, dx) {
    const tmp = new Float32Array(dx.length);
    tsBackend.conv2dBackwardInput(toNchw(dy, g.batch, g.outChannels, g.outHeight, g.outWidth), w, g, tmp);
    toNhwcInto(tmp, g.batch, g.inChannels, g.inHeight, g.inWidth, dx);
  },
  conv2dBackwardWeight(dy, x, g, dw, db) {
    tsBackend.conv2dBackwardWeight(
      toNchw(dy, g.batch, g.outChannels, g.outHeight, g.outWidth),
      toNchw(x, g.batch, g.inChannels, g.inHeight, g.inWidth),
      g,
      dw,
      db,
    );
  },
  // Batch norm on [rows, C] (channels fastest) is batch norm with batch = rows and spatial = 1.
  batchNormTrain(x, gamma, beta, g, eps, y, mean, variance, invStd, epilogue) {
    tsBackend.batchNormTrain(x, gamma, beta, rows(g), eps, y, mean, variance, invStd, epilogue);
  },
  batchNormEval(x, gamma, beta, rm, rv, g, eps, y, epilogue) {
    tsBackend.batchNormEval(x, gamma, beta, rm, rv, rows(g), eps, y, epilogue);
  },
  batchNormBackward(dy, x, gamma, mean, invStd, g, dx, dGamma, dBeta, fusedRelu) {
    tsBackend.batchNormBackward(dy, x, gamma, mean, invStd, rows(g), dx, dGamma, dBeta, fusedRelu);
  },
  batchNormEvalBackward(dy, x, gamma, rm, invStd, g, dx, dGamma, dBeta) {
    tsBackend.batchNormEvalBackward(dy, x, gamma, rm, invStd, rows(g), dx, dGamma, dBeta);
  },
  maxPool2d(x, g, y, argmax) {
    const tmp = new Float32Array(y.length);
    tsBackend.maxPool2d(toNchw(x, g.batch, g.channels, g.inHeight, g.inWidth), g, tmp, argmax);
    toNhwcInto(tmp, g.batch, g.channels, g.outHeight, g.outWidth, y);
    permuteArgmax(argmax, g.batch, g.channels, g.outHeight * g.outWidth);
  },
  adaptiveMaxPool2d(x, g, y, argmax) {
    const tmp = new Float32Array(y.length);
    tsBackend.adaptiveMaxPool2d(toNchw(x, g.batch, g.channels, g.inHeight, g.inWidth), g, tmp, argmax);
    toNhwcInto(tmp, g.batch, g.channels, g.outHeight, g.outWidth, y);
    permuteArgmax(argmax, g.batch, g.channels, g.outHeight * g.outWidth);
  },
  maxPoolBackward(dy, argmax, g, dx) {
    // argmax is in NHWC output order and holds in-plane indices; scatter into NHWC dx.
    const C = g.channels;
    const outPlane = g.outHeight * g.outWidth;
    const inPlane = g.inHeight * g.inWidth;
    dx.fill(0);
    for (let n = 0; n < g.batch; n++)
      for (let p = 0; p < outPlane; p++)
        for (let c = 0; c < C; c++) {
          const i = (n * outPlane + p) * C + c;
          const at = (n * inPlane + argmax[i]!) * C + c;
          dx[at] = dx[at]! + dy[i]!;
        }
  },
  adaptiveAvgPool2d(x, g, y) {
    const tmp = new Float32Array(y.length);
    tsBackend.adaptiveAvgPool2d(toNchw(x, g.batch, g.channels, g.inHeight, g.inWidth), g, tmp);
    toNhwcInto(tmp, g.batch, g.channels, g.outHeight, g.outWidth, y);
  },
  adaptiveAvgPool2dBackward(dy, g, dx) {
    const tmp = new Float32Array(dx.length);
    tsBackend.adaptiveAvgPool2dBackward(toNchw(dy, g.batch, g.channels, g.outHeight, g.outWidth), g, tmp);
    toNhwcInto(tmp, g.batch, g.channels, g.inHeight, g.inWidth, dx);
  },
};

function rows(g: ChannelGeometry): ChannelGeometry {
  return { batch: g.batch * g.spatial, channels: g.channels, spatial: 1 };
}

/** NCHW-ordered argmax → NHWC order (values stay in-plane indices). */
function permuteArgmax(argmax: Int32Array, N: number, C: number, P: number): void {
  const copy = argmax.slice();
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let p = 0; p < P; p++) argmax[(n * P + p) * C + c] = copy[(n * C + c) * P + p]!;
}
