/**
 * Data pipeline throughput (decode + augment + batch), to compare with the training rate:
 *   npm run bench:data                      Fashion-MNIST, the recipe's augmentation
 *   npm run bench:data -- --folder DIR      an ImageFolder at 224x224 (resize + flip)
 * Prints images per second for 0, 1 and 2 worker threads.
 */
import { parseArgs } from 'node:util';
import {
  DataLoader,
  loadIdxDataset,
  scanImageFolder,
  type Dataset,
  type TransformSpec,
} from '../src/index.js';
import { DEFAULT_FASHION_MNIST_DIR } from '../src/data/datasets.js';

const { values } = parseArgs({
  options: {
    folder: { type: 'string' },
    images: { type: 'string', default: '20000' },
    json: { type: 'boolean', default: false },
  },
});
let dataset: Dataset;
let transforms: TransformSpec[];
let shape: [number, number, number];
if (values.folder) {
  dataset = (await scanImageFolder(values.folder)).dataset;
  transforms = [{ type: 'resize', size: [224, 224] }, { type: 'randomHorizontalFlip' }];
  shape = [3, 224, 224];
} else {
  dataset = loadIdxDataset('fashion-mnist', DEFAULT_FASHION_MNIST_DIR, 'train');
  transforms = [
    { type: 'pad', padding: 2 },
    { type: 'randomCrop', size: 32, padding: 4 },
    { type: 'randomHorizontalFlip' },
    { type: 'grayToRgb' },
  ];
  shape = [3, 32, 32];
}
const limit = Math.min(Number(values.images), dataset.length);
const results: Record<string, number> = {};
for (const workers of [0, 1, 2]) {
  const loader = new DataLoader(dataset, {
    batchSize: 128,
    shuffle: true,
    seed: 0,
    workers,
    transforms,
    mean: [0.5],
    std: [0.25],
    outputShape: shape,
  });
  const t0 = performance.now();
  let n = 0;
  for await (const b of loader.epoch(0)) {
    n += b.y.numel;
    if (n >= limit) break;
  }
  const rate = n / ((performance.now() - t0) / 1000);
  await loader.close();
  results[`workers_${workers}_img_s`] = rate;
  if (!values.json)
    console.log(`${values.folder ?? 'fashion-mnist'}: ${workers} worker(s): ${rate.toFixed(0)} images/s`);
}
if (values.json) console.log(JSON.stringify(results));
