/**
 * Throughput and memory benchmark for resnext50_32x4d at 224x224 (see README "Performance"); the
 * options are in USAGE (`npm run bench -- --help`). Rates are reported next to the sgemm rate this
 * same run measures, since the machine is shared and noisy: ratios, medians over repeats, never
 * asserted.
 */
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  backward,
  createModel,
  F,
  foldBatchNorm,
  freshFloat32,
  getBackend,
  nativeInfo,
  inferenceMode,
  onMetaDevice,
  setBackend,
  setNativeThreads,
  sgemmGflops,
  SGD,
  summarize,
  Tensor,
  traceInference,
  useBackend,
  type Backend,
  type Conv2dGeometry,
  type InferencePlan,
  type ResNet,
} from '../src/index.js';
import { Conv2d } from '../src/nn/index.js';
import { availableParallelism, cpus } from 'node:os';
import { OrtComparator } from './ort-compare.js';
import { median } from './stats.js';
import { runWebGpuBench } from './webgpu.js';

const USAGE = `Usage: npm run bench -- [options]
Throughput and memory of resnext50_32x4d (native backend unless --backend), rates next to this run's sgemm rate.
  --json                 one JSON object instead of the summary
  --backend <name>       native (default), ts, or webgpu (Node, Dawn; RESNEXT_WEBGPU_SOFTWARE=1 for SwiftShader)
  --threads <n>          OpenMP threads of the native kernels and oneDNN
  --size <px>            input side (default 224)
  --train-batch <n>      training batch (default 16); --layers measures at this batch
  --train-steps <n>      timed training steps (default 3)
  --infer-repeats <n>    timed inference repeats (default 5), eager and traced (traceInference, as serve runs it)
  --layers               per-layer table for every distinct conv shape (forward, backward-input, backward-weight;
                         medians of 9 interleaved calls)
  --profile              time per kernel (convolutions by kind) at inference batch 1 and 8 and in a training step
  --fusion               fused vs unfused tails (BN/bias + residual + ReLU), interleaved
  --rss-steps <n>        trains that many more steps and reports RSS drift
  --compare              the same network exported to ONNX in ONNX Runtime (onnxruntime-node, same threads),
                         rounds alternating with ours
  --thread-scaling       inference (batch 8) and training at 1, 2, 4, ... threads, with the parallel efficiency
  -h, --help             this text
RESNEXT_ISA=portable|avx2|avx512 forces the native kernels' variant.`;

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    layers: { type: 'boolean', default: false },
    backend: { type: 'string', default: 'native' },
    threads: { type: 'string' },
    'train-batch': { type: 'string', default: '16' },
    'train-steps': { type: 'string', default: '3' },
    'infer-repeats': { type: 'string', default: '5' },
    'rss-steps': { type: 'string', default: '0' },
    profile: { type: 'boolean', default: false },
    fusion: { type: 'boolean', default: false },
    size: { type: 'string', default: '224' },
    compare: { type: 'boolean', default: false },
    'thread-scaling': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (args.help) {
  console.log(USAGE);
  process.exit(0);
}

const log = (line: string): void => {
  if (!args.json) console.log(line);
};

function time(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return (performance.now() - t0) / 1000;
}

const rssMB = (): number => process.memoryUsage.rss() / 2 ** 20;
const peakRssMB = (): number => process.resourceUsage().maxRSS / 1024;

if (args.backend === 'webgpu') {
  await runWebGpuBench({
    size: Number(args.size),
    trainBatch: Number(args['train-batch']),
    trainSteps: Number(args['train-steps']),
    inferRepeats: Number(args['infer-repeats']),
    json: args.json ?? false,
  });
  process.exit(0);
}
useBackend(args.backend === 'ts' ? 'ts' : 'native');
if (args.threads) setNativeThreads(Number(args.threads));
const backend: Backend = getBackend();

/** Convolutions are profiled by kind: their kernels differ (GEMM, grouped direct, im2col). */
function isConvGeometry(value: unknown): value is Conv2dGeometry {
  return typeof value === 'object' && value !== null && 'groups' in value && 'kernelH' in value;
}
function convKind(g: Conv2dGeometry): string {
  if (g.groups > 1) return `${g.kernelH}x${g.kernelW} grouped`;
  return `${g.kernelH}x${g.kernelW}`;
}

/** Seconds spent in each backend kernel, when --profile wraps them. */
const kernelSeconds = new Map<string, number>();
if (args.profile) {
  const timed = Object.fromEntries(
    Object.entries(backend).map(([name, value]) => {
      if (typeof value !== 'function') return [name, value];
      const fn = value as (...a: unknown[]) => unknown;
      return [
        name,
        (...a: unknown[]) => {
          const t0 = performance.now();
          const r = fn(...a);
          const geometry = name.startsWith('conv2d') ? a.find(isConvGeometry) : undefined;
          const key = geometry ? `${name} ${convKind(geometry)}` : name;
          kernelSeconds.set(key, (kernelSeconds.get(key) ?? 0) + (performance.now() - t0) / 1000);
          return r;
        },
      ];
    }),
  ) as unknown as Backend;
  setBackend(timed);
}
const size = Number(args.size);
const arch = 'resnext50_32x4d';
const macs = summarize(
  onMetaDevice(() => createModel(arch)),
  [3, size, size],
).macsPerImage;
const forwardGflop = (2 * macs) / 1e9;

const sgemm = sgemmGflops(2048, 7) ?? NaN;
const cpu = `${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${availableParallelism()} cores`;
const native = nativeInfo();
log(
  `${native?.cpu ?? cpu}, ${availableParallelism()} cores; backend ${backend.name}` +
    (native
      ? `: ${native.kernels} kernels (CPU supports ${native.cpuIsa}; build carries up to ${native.kernelVariants}), ` +
        `oneDNN GEMM on ${native.gemmIsa}, ${native.threads} threads`
      : ''),
);
log(`sgemm 2048x2048x2048: ${sgemm.toFixed(1)} GFLOP/s (best of 7)`);
log(`${arch} at ${size}x${size}: ${(macs / 1e9).toFixed(2)} GMACs per image forward`);

const model = createModel(arch);

/**
 * The network as predict and serve run it: a copy in eval mode with batch norm folded into the
 * convs, its weights constant (repacked once), buffers recycled. One copy serves every inference
 * measurement, and is dropped before training.
 */
let deployed: ResNet | null = null;
function deployedCopy(): ResNet {
  if (deployed) return deployed;
  // Folding reads the model in eval mode; it goes back to the mode it was in, so that a copy made
  // between training steps (--thread-scaling) does not leave them training in eval mode.
  const training = model.training;
  const folded = foldBatchNorm(model.eval());
  model.train(training);
  if (folded === model) throw new Error('bench: expected batch norm to fold into a copy');
  return (deployed = folded.freezeForInference());
}

function inferRate(batch: number, repeats: number): number {
  const net = deployedCopy();
  const x = Tensor.randn([batch, 3, size, size]);
  inferenceMode(() => net.forward(x));
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) times.push(time(() => inferenceMode(() => net.forward(x))));
  return batch / median(times);
}

/** The deployed copy traced once per batch size (traceInference), replayed as serve runs it. */
const plans = new Map<number, InferencePlan>();
function tracedRate(batch: number, repeats: number): number {
  const x = Tensor.randn([batch, 3, size, size]);
  let plan = plans.get(batch);
  if (!plan) plans.set(batch, (plan = traceInference(deployedCopy(), x)));
  plan.run(x);
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) times.push(time(() => plan.run(x)));
  return batch / median(times);
}

const inferRepeats = Number(args['infer-repeats']);
const ort = args.compare ? await OrtComparator.create(model, size) : null;
const bs8Repeats = Math.max(2, Math.ceil(inferRepeats / 2));
const inferBs1 = inferRate(1, inferRepeats);
const tracedBs1 = tracedRate(1, inferRepeats);
const inferBs8 = inferRate(8, bs8Repeats);
const tracedBs8 = tracedRate(8, bs8Repeats);
const ofSgemm = (rate: number): string => `${(((rate * forwardGflop) / sgemm) * 100).toFixed(0)}% of sgemm`;
for (const [batch, eager, traced] of [
  [1, inferBs1, tracedBs1],
  [8, inferBs8, tracedBs8],
] as const) {
  log(
    `inference batch ${batch}: ${eager.toFixed(2)} img/s (${ofSgemm(eager)}); traced ${traced.toFixed(2)} img/s (${ofSgemm(traced)})`,
  );
}

/**
 * Ours against ONNX Runtime at batch 1 and 8, in two alternating rounds (medians of each side), so
 * that the machine's noise falls on both alike.
 */
let comparison: Record<string, number> | null = null;
if (ort) {
  const ours = { 1: [inferBs1], 8: [inferBs8] } as Record<number, number[]>;
  const traced = { 1: [tracedBs1], 8: [tracedBs8] } as Record<number, number[]>;
  const theirs = { 1: [] as number[], 8: [] as number[] } as Record<number, number[]>;
  for (let round = 0; round < 2; round++) {
    for (const batch of [1, 8]) {
      const repeats = batch === 1 ? inferRepeats : bs8Repeats;
      theirs[batch]!.push(await ort.rate(batch, repeats));
      if (round === 1) {
        ours[batch]!.push(inferRate(batch, repeats));
        traced[batch]!.push(tracedRate(batch, repeats));
      }
    }
  }
  comparison = { ort_threads: ort.threads };
  for (const batch of [1, 8]) {
    comparison[`ours_bs${batch}_img_s`] = median(ours[batch]!);
    comparison[`ours_traced_bs${batch}_img_s`] = median(traced[batch]!);
    comparison[`ort_bs${batch}_img_s`] = median(theirs[batch]!);
    comparison[`ratio_bs${batch}`] = median(ours[batch]!) / median(theirs[batch]!);
    comparison[`ratio_traced_bs${batch}`] = median(traced[batch]!) / median(theirs[batch]!);
  }
  const ratios = (batch: number): string =>
    `${comparison![`ratio_bs${batch}`]!.toFixed(2)}x eager, ${comparison![`ratio_traced_bs${batch}`]!.toFixed(2)}x traced at batch ${batch}`;
  log(
    `ONNX Runtime ${ort.version} (${ort.threads} threads): batch 1 ${comparison.ort_bs1_img_s!.toFixed(2)} img/s, ` +
      `batch 8 ${comparison.ort_bs8_img_s!.toFixed(2)} img/s; ours / ORT: ${ratios(1)}; ${ratios(8)}`,
  );
}

/** Prints kernelSeconds per `per` (steps or batches) with a heading, largest first. */
function printProfile(heading: string, per: number, wall: number): void {
  const rows = [...kernelSeconds].sort((a, b) => b[1] - a[1]);
  const inKernels = rows.reduce((a, [, t]) => a + t, 0) / per;
  log(`${heading} (${wall.toFixed(3)} s, of which kernels ${inKernels.toFixed(3)} s):`);
  for (const [name, t] of rows) log(`  ${name.padEnd(34)} ${(t / per).toFixed(3)} s`);
}

if (args.profile) {
  const net = deployedCopy();
  for (const batch of [1, 8]) {
    const x = Tensor.randn([batch, 3, size, size]);
    inferenceMode(() => net.forward(x));
    kernelSeconds.clear();
    const batches = batch === 1 ? 8 : 3;
    const wall = time(() => {
      for (let b = 0; b < batches; b++) inferenceMode(() => net.forward(x));
    });
    printProfile(`kernel time per inference batch of ${batch}`, batches, wall / batches);
  }
}

// The native backend frees a frozen copy's repacked weights from the weight arrays' finalizers,
// which run on a turn of the event loop once the arrays are collected: the copy is collected and
// its finalizers run before training is measured (so the peak RSS is training's own), and training
// steps yield a turn.
const yieldTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
deployed = null;
plans.clear();
v8.setFlagsFromString('--expose-gc');
(runInNewContext('gc') as () => void)();
await yieldTurn();

const trainBatch = Number(args['train-batch']);
model.train();
const optimizer = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
const xTrain = Tensor.randn([trainBatch, 3, size, size]);
const yTrain = Tensor.int64(Array.from({ length: trainBatch }, (_, i) => i % 1000));
const phases = { forward: [] as number[], backward: [] as number[], step: [] as number[] };
function trainStep(): number {
  return time(() => {
    optimizer.zeroGrad();
    let loss!: Tensor;
    phases.forward.push(time(() => (loss = F.crossEntropy(model.forward(xTrain), yTrain))));
    phases.backward.push(time(() => backward(loss)));
    phases.step.push(time(() => optimizer.step()));
  });
}
trainStep();
await yieldTurn();
kernelSeconds.clear();
const trainTimes: number[] = [];
for (let s = 0; s < Number(args['train-steps']); s++) {
  trainTimes.push(trainStep());
  await yieldTurn();
}
const trainRate = trainBatch / median(trainTimes);
const trainFraction = (trainRate * 3 * forwardGflop) / sgemm;
log(
  `training batch ${trainBatch}: ${trainRate.toFixed(2)} img/s (${(trainFraction * 100).toFixed(0)}% of sgemm); ` +
    `step ${median(trainTimes).toFixed(2)} s = forward ${median(phases.forward).toFixed(2)} + backward ` +
    `${median(phases.backward).toFixed(2)} + SGD ${median(phases.step).toFixed(2)}`,
);
log(`peak RSS: ${peakRssMB().toFixed(0)} MB`);
if (args.profile) {
  const steps = trainTimes.length;
  printProfile('kernel time per training step', steps, trainTimes.reduce((a, b) => a + b, 0) / steps);
}

let rssDrift: { steps: number; first: number; last: number; max: number } | null = null;
const rssSteps = Number(args['rss-steps']);
if (rssSteps > 0) {
  const samples: number[] = [];
  for (let s = 0; s < rssSteps; s++) {
    trainStep();
    samples.push(rssMB());
  }
  const first = median(samples.slice(0, Math.min(10, samples.length)));
  const last = median(samples.slice(-Math.min(10, samples.length)));
  rssDrift = { steps: rssSteps, first, last, max: Math.max(...samples) };
  log(
    `RSS over ${rssSteps} steps: first ${first.toFixed(0)} MB, last ${last.toFixed(0)} MB (${(((last - first) / first) * 100).toFixed(1)}%), max ${rssDrift.max.toFixed(0)} MB`,
  );
}

/** Fused vs unfused tails (Module.fusion), interleaved so that both see the same machine load. */
let fusion: { infer_bs8_ms: [number, number]; train_bs16_ms: [number, number] } | null = null;
if (args.fusion) {
  const unfusedWhile = <T>(net: typeof model, unfused: boolean, fn: () => T): T => {
    net.setFusion(!unfused);
    try {
      return fn();
    } finally {
      net.setFusion(true);
    }
  };
  const repeats = 5;
  const folded = foldBatchNorm(model.eval());
  const x8 = Tensor.randn([8, 3, size, size]);
  const infer: [number[], number[]] = [[], []];
  const train: [number[], number[]] = [[], []];
  for (let r = 0; r <= repeats; r++) {
    for (const unfused of [false, true]) {
      const t = time(() => unfusedWhile(folded, unfused, () => inferenceMode(() => folded.forward(x8))));
      if (r > 0) infer[unfused ? 1 : 0].push(t * 1e3);
    }
  }
  model.train();
  for (let r = 0; r <= repeats; r++) {
    for (const unfused of [false, true]) {
      const t = unfusedWhile(model, unfused, trainStep);
      if (r > 0) train[unfused ? 1 : 0].push(t * 1e3);
    }
  }
  fusion = {
    infer_bs8_ms: [median(infer[0]), median(infer[1])],
    train_bs16_ms: [median(train[0]), median(train[1])],
  };
  log(
    `fused vs unfused tails (median of ${repeats}, interleaved): inference batch 8 ${fusion.infer_bs8_ms[0].toFixed(0)} vs ` +
      `${fusion.infer_bs8_ms[1].toFixed(0)} ms (${((fusion.infer_bs8_ms[1] / fusion.infer_bs8_ms[0] - 1) * 100).toFixed(1)}% slower unfused), ` +
      `training batch ${trainBatch} ${fusion.train_bs16_ms[0].toFixed(0)} vs ${fusion.train_bs16_ms[1].toFixed(0)} ms ` +
      `(${((fusion.train_bs16_ms[1] / fusion.train_bs16_ms[0] - 1) * 100).toFixed(1)}%)`,
  );
}

interface LayerRow {
  shape: string;
  groups: number;
  count: number;
  forwardMs: number;
  backwardInputMs: number;
  backwardWeightMs: number;
  gflops: { forward: number; backwardInput: number; backwardWeight: number; total: number };
}

/** Repeats per op in the --layers table; each figure is their median. */
const LAYER_REPEATS = 9;

function layerTable(batch: number): LayerRow[] {
  const traced = onMetaDevice(() => createModel(arch));
  const shapes = new Map<string, { g: Conv2dGeometry; count: number }>();
  for (const [, m] of traced.namedModules()) {
    if (!(m instanceof Conv2d)) continue;
    m.registerForwardHook((mod, input, output) => {
      const c = mod as Conv2d;
      const g: Conv2dGeometry = {
        batch,
        inChannels: c.inChannels,
        inHeight: input.shape[2]!,
        inWidth: input.shape[3]!,
        outChannels: c.outChannels,
        outHeight: output.shape[2]!,
        outWidth: output.shape[3]!,
        kernelH: c.kernelSize[0],
        kernelW: c.kernelSize[1],
        strideH: c.stride[0],
        strideW: c.stride[1],
        padH: c.padding[0],
        padW: c.padding[1],
        dilationH: 1,
        dilationW: 1,
        groups: c.groups,
      };
      const key = `${g.inChannels}x${g.inHeight}x${g.inWidth} -> ${g.outChannels}x${g.outHeight}x${g.outWidth} k${g.kernelH} s${g.strideH} g${g.groups}`;
      const entry = shapes.get(key);
      if (entry) entry.count++;
      else shapes.set(key, { g, count: 1 });
    });
  }
  traced.forward(Tensor.meta([2, 3, size, size]));
  const rows: LayerRow[] = [];
  for (const [shape, { g, count }] of shapes) {
    const x = Tensor.randn([g.batch * g.inChannels * g.inHeight * g.inWidth]).dataSync();
    const w = Tensor.randn([(g.outChannels * g.inChannels * g.kernelH * g.kernelW) / g.groups]).dataSync();
    // Outputs come from the pool's source, so they sit on the same boundaries as in the network.
    const y = freshFloat32(g.batch * g.outChannels * g.outHeight * g.outWidth);
    const dy = Tensor.randn([y.length]).dataSync();
    const dx = freshFloat32(x.length);
    const dw = freshFloat32(w.length);
    const ops = [
      () => backend.conv2d(x, w, null, g, y),
      () => backend.conv2dBackwardInput(dy, w, g, dx),
      () => backend.conv2dBackwardWeight(dy, x, g, dw, null),
    ];
    // One warm-up round, then the three ops interleaved so that they see the same machine load.
    const samples: number[][] = ops.map(() => []);
    for (let r = 0; r <= LAYER_REPEATS; r++) {
      ops.forEach((op, i) => {
        const t = time(op);
        if (r > 0) samples[i]!.push(t);
      });
    }
    const [f, bi, bw] = samples.map(median) as [number, number, number];
    const flop = (2 * y.length * (g.inChannels / g.groups) * g.kernelH * g.kernelW) / 1e9;
    rows.push({
      shape,
      groups: g.groups,
      count,
      forwardMs: f * 1e3,
      backwardInputMs: bi * 1e3,
      backwardWeightMs: bw * 1e3,
      gflops: {
        forward: flop / f,
        backwardInput: flop / bi,
        backwardWeight: flop / bw,
        total: (3 * flop) / (f + bi + bw),
      },
    });
  }
  return rows;
}

/** Rates at 1, 2, 4, ... threads (and the core count): efficiency = rate(n) / (n x rate(1)). */
let scaling: { threads: number; infer_bs8_img_s: number; train_img_s: number }[] | null = null;
if (args['thread-scaling']) {
  const cores = availableParallelism();
  const counts = [
    ...new Set([...Array.from({ length: 8 }, (_, i) => 2 ** i).filter((n) => n < cores), cores]),
  ];
  scaling = [];
  for (const threads of counts) {
    setNativeThreads(threads);
    const infer = inferRate(8, 2);
    trainStep();
    const train = trainBatch / median([trainStep(), trainStep()]);
    scaling.push({ threads, infer_bs8_img_s: infer, train_img_s: train });
  }
  setNativeThreads(args.threads ? Number(args.threads) : cores);
  const one = scaling[0]!;
  log('');
  log('thread scaling (img/s, and efficiency against 1 thread):');
  for (const r of scaling)
    log(
      `  ${String(r.threads).padStart(3)} threads: inference batch 8 ${r.infer_bs8_img_s.toFixed(2)} (${((100 * r.infer_bs8_img_s) / (r.threads * one.infer_bs8_img_s)).toFixed(0)}%), ` +
        `training batch ${trainBatch} ${r.train_img_s.toFixed(2)} (${((100 * r.train_img_s) / (r.threads * one.train_img_s)).toFixed(0)}%)`,
    );
}

let layers: LayerRow[] | null = null;
if (args.layers) {
  layers = layerTable(trainBatch);
  log('');
  log(`per-layer convolution, batch ${trainBatch} (ms and GFLOP/s; % is forward+backward vs sgemm):`);
  log(
    `${'shape'.padEnd(44)} ${'n'.padStart(2)} ${'fwd ms'.padStart(8)} ${'bwd-in ms'.padStart(9)} ${'bwd-w ms'.padStart(9)}  ${'fwd'.padStart(6)} ${'bwd-in'.padStart(6)} ${'bwd-w'.padStart(6)} ${'total'.padStart(6)}  %sgemm`,
  );
  for (const r of layers) {
    log(
      `${r.shape.padEnd(44)} ${String(r.count).padStart(2)} ${r.forwardMs.toFixed(1).padStart(8)} ${r.backwardInputMs.toFixed(1).padStart(9)} ${r.backwardWeightMs.toFixed(1).padStart(9)}  ` +
        `${r.gflops.forward.toFixed(1).padStart(6)} ${r.gflops.backwardInput.toFixed(1).padStart(6)} ${r.gflops.backwardWeight.toFixed(1).padStart(6)} ${r.gflops.total.toFixed(1).padStart(6)}  ${((r.gflops.total / sgemm) * 100).toFixed(0).padStart(5)}%`,
    );
  }
}

if (args.json) {
  console.log(
    JSON.stringify(
      {
        cpu,
        backend: backend.name,
        native,
        threads: native?.threads ?? 1,
        arch,
        image_size: size,
        gmacs_per_image: macs / 1e9,
        sgemm_gflops: sgemm,
        infer_bs1_img_s: inferBs1,
        infer_bs8_img_s: inferBs8,
        infer_traced_bs1_img_s: tracedBs1,
        infer_traced_bs8_img_s: tracedBs8,
        infer_gflops_fraction: (inferBs8 * forwardGflop) / sgemm,
        train_batch: trainBatch,
        train_bs16_img_s: trainRate,
        train_gflops_fraction: trainFraction,
        train_step_s: {
          forward: median(phases.forward),
          backward: median(phases.backward),
          sgd: median(phases.step),
        },
        peak_rss_mb: peakRssMB(),
        rss_drift: rssDrift,
        onnxruntime: comparison,
        thread_scaling: scaling,
        fusion,
        layers,
      },
      null,
      2,
    ),
  );
}
