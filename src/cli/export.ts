import { Command } from 'commander';
import { exportWeightsToOnnx } from '../train/export.js';

export function exportCommand(): Command {
  return new Command('export')
    .description(
      'write a trained model as ONNX (opset 17, dynamic batch), for ONNX Runtime and other runtimes',
    )
    .requiredOption('-w, --weights <file>', 'weights written by resnext train (best.safetensors)')
    .requiredOption('--onnx <file>', 'the ONNX file to write')
    .option(
      '--card',
      'also write a model card (OUT.card.json, OUT.card.md) from the run folder of the weights',
      false,
    )
    .option('--fold-bn', 'fold batch norm into the convolutions (fewer nodes, the same outputs)', false)
    .action(async (flags: { weights: string; onnx: string; foldBn: boolean; card: boolean }) => {
      const { meta, bytes, card } = await exportWeightsToOnnx(flags.weights, flags.onnx, {
        foldBatchNorm: flags.foldBn,
        card: flags.card,
      });
      const [C, H, W] = meta.inputShape;
      console.log(
        `${flags.onnx}: ${meta.arch}, ${meta.classes.length} classes, input [batch, ${C}, ${H}, ${W}], ` +
          `${(bytes / 2 ** 20).toFixed(1)} MB${flags.foldBn ? ', batch norm folded' : ''}`,
      );
      for (const file of card) console.log(`model card: ${file}`);
    });
}
