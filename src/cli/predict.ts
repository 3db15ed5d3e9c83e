import { Command } from 'commander';
import { loadTrainedModel } from '../train/model-setup.js';
import { collectImages, predictFiles } from '../train/predict.js';
import { positiveInt } from './args.js';
import { backendOption, deviceFor, type BackendFlag } from './backend.js';

export function predictCommand(): Command {
  return new Command('predict')
    .description('classify images with a trained model (class names come from the weights file)')
    .argument('<inputs...>', 'image files or folders')
    .requiredOption('-w, --weights <file>', 'weights written by resnext train (best.safetensors)')
    .option('-k, --top-k <k>', 'labels to show per image', positiveInt('--top-k'), 5)
    .option('--json', 'print JSON', false)
    .addOption(backendOption())
    .action(
      async (
        inputs: string[],
        flags: { weights: string; topK: number; json: boolean; backend?: BackendFlag },
      ) => {
        const device = await deviceFor(flags.backend);
        const { model, meta } = await loadTrainedModel(flags.weights);
        const files = collectImages(inputs);
        if (files.length === 0) throw new Error(`no image files in ${inputs.join(', ')}`);
        const results = await predictFiles(model, meta, files, { topK: flags.topK, device });
        if (flags.json) {
          console.log(JSON.stringify(results, null, 2));
        } else {
          for (const r of results) {
            if (r.error) {
              console.log(`${r.file}: ${r.error}`);
              continue;
            }
            console.log(
              `${r.file}: ${r.top.map((t) => `${t.label} ${(t.probability * 100).toFixed(1)}%`).join(', ')}`,
            );
          }
        }
        if (results.some((r) => r.error)) process.exitCode = 1;
      },
    );
}
