import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { loadIdxDataset, scanImageFolder, type Dataset } from '../data/datasets.js';
import { DataLoader } from '../data/loader.js';
import { writeFileAtomic } from '../io/atomic.js';
import { builtinDataDir, isBuiltin } from '../train/data-setup.js';
import { evaluate } from '../train/evaluate.js';
import { formatPercent } from '../train/metrics.js';
import { loadTrainedModel } from '../train/model-setup.js';
import { confusionSpec, writeChart } from '../train/report.js';
import { nonNegative, positiveInt } from './args.js';
import { backendOption, deviceFor, type BackendFlag } from './backend.js';

interface EvalFlags {
  weights: string;
  data: string;
  dataDir?: string;
  batchSize: number;
  workers: number;
  out?: string;
  json: boolean;
  strict: boolean;
  backend?: BackendFlag;
}

export function evalCommand(): Command {
  return new Command('eval')
    .description('evaluate trained weights: top-1, top-5, per-class precision and recall, confusion matrix')
    .requiredOption('-w, --weights <file>', 'weights written by resnext train (best.safetensors)')
    .requiredOption(
      '-d, --data <dir|fashion-mnist|mnist>',
      'an image folder (class sub-folders), or a built-in dataset (its test split)',
    )
    .option('--data-dir <dir>', 'folder of the IDX files for fashion-mnist or mnist')
    .option('-b, --batch-size <n>', 'batch size', positiveInt('--batch-size'), 64)
    .option('--workers <n>', 'data loader worker threads', nonNegative('--workers'), 1)
    .option('-o, --out <dir>', 'also write confusion.svg/png and eval.json there')
    .option('--json', 'print the results as JSON', false)
    .option('--strict', 'fail on an unreadable image, or on weights holding NaN or infinite values', false)
    .addOption(backendOption())
    .action(async (flags: EvalFlags) => {
      const device = await deviceFor(flags.backend);
      const { model, meta } = await loadTrainedModel(flags.weights, { strict: flags.strict });
      model.to(device);
      let dataset: Dataset;
      if (isBuiltin(flags.data)) {
        dataset = loadIdxDataset(flags.data, builtinDataDir(flags.data, flags.dataDir), 'test');
      } else {
        const scan = await scanImageFolder(flags.data, { strict: flags.strict });
        for (const s of scan.skipped) console.error(`skipped unreadable image ${s.file}: ${s.reason}`);
        dataset = scan.dataset;
      }
      if (dataset.classes.join('\n') !== meta.classes.join('\n')) {
        throw new Error(
          `the data's classes [${dataset.classes.join(', ')}] differ from the model's [${meta.classes.join(', ')}] (${flags.weights})`,
        );
      }
      const loader = new DataLoader(dataset, {
        transforms: meta.evalTransforms,
        mean: meta.mean,
        std: meta.std,
        outputShape: meta.inputShape,
        batchSize: flags.batchSize,
        shuffle: false,
        seed: 0,
        workers: flags.workers,
        strict: flags.strict,
      });
      let result;
      try {
        result = await evaluate(model, loader, meta.classes);
      } finally {
        await loader.close();
      }
      const { metrics, skipped } = result;
      for (const s of skipped) console.error(`skipped unreadable image ${s.name}: ${s.reason}`);
      const summary = {
        weights: flags.weights,
        data: flags.data,
        images: metrics.count,
        skipped: skipped.length,
        loss: metrics.loss,
        top1: metrics.accuracy,
        top5: meta.classes.length >= 5 ? metrics.top5Accuracy : null,
        perClass: metrics.perClass(),
        confusion: metrics.matrix,
        classes: meta.classes,
      };
      if (flags.out) {
        mkdirSync(flags.out, { recursive: true });
        await writeChart(flags.out, 'confusion', confusionSpec(meta.classes, metrics.matrix));
        await writeFileAtomic(join(flags.out, 'eval.json'), `${JSON.stringify(summary, null, 2)}\n`);
      }
      if (flags.json) {
        console.log(JSON.stringify(summary, null, 2));
        return;
      }
      console.log(
        `${metrics.count} images${skipped.length ? ` (${skipped.length} skipped)` : ''}: loss ${metrics.loss.toFixed(4)}, top-1 ${formatPercent(metrics.accuracy)}${summary.top5 !== null ? `, top-5 ${formatPercent(summary.top5)}` : ''}`,
      );
      const width = Math.max(5, ...meta.classes.map((c) => c.length));
      console.log(`${'class'.padEnd(width)}  precision  recall  support`);
      for (const c of summary.perClass) {
        console.log(
          `${c.name.padEnd(width)}  ${formatPercent(c.precision).padStart(9)}  ${formatPercent(c.recall).padStart(6)}  ${String(c.support).padStart(7)}`,
        );
      }
      console.log(metrics.confusionText());
      if (flags.out) console.log(`wrote ${join(flags.out, 'confusion.png')}, confusion.svg and eval.json`);
    });
}
