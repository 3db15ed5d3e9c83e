import { Command, Option } from 'commander';
import { createModel, getModelInfo, listModels } from '../models/registry.js';
import { onMetaDevice } from '../nn/parameter.js';
import { summary } from '../summary.js';
import { intList, positiveInt } from './args.js';

export function summaryCommand(): Command {
  return new Command('summary')
    .description(
      'print a torchsummary-style table of an architecture (layers, output shapes, parameter counts)',
    )
    .addOption(
      new Option('-a, --arch <name>', 'architecture').choices(listModels()).default('resnext50_32x4d'),
    )
    .option('-i, --input <c,h,w>', 'input size', intList('--input'), [3, 224, 224])
    .option('-c, --classes <n>', "number of classes (default: the architecture's)", positiveInt('--classes'))
    .option(
      '-b, --batch-size <n>',
      'batch size shown in the shapes (default: -1, as torchsummary)',
      positiveInt('--batch-size'),
    )
    .action((opts: { arch: string; input: number[]; classes?: number; batchSize?: number }) => {
      getModelInfo(opts.arch);
      if (opts.input.length !== 3) {
        throw new Error(`--input must be C,H,W (three numbers), got ${opts.input.join(',')}`);
      }
      // Meta parameters: shapes only, so even ResNeXt-101 is traced instantly.
      const model = onMetaDevice(() => createModel(opts.arch, { numClasses: opts.classes }));
      summary(model, opts.input, { batchSize: opts.batchSize });
    });
}
