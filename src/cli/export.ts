import { Command } from 'commander';
import { exportWeightsToOnnx } from '../train/export.js';

export function exportCommand(): Command {
  return new Command('export')
    .description(
      'write a trained model as ONNX (opset 17, dynamic batch), for ONNX Runtime and other runtimes',
    )
    .requiredOption('-w, --weights <file>', 'weights written by resnext train (best.safetensors)')
    .requiredOption('--onnx <file>', 'the ONNX file to write')
    .option('--fold-bn', 'fold batch norm into the convolutions (fewer nodes, the same outputs)', false)
    .action(async (flags: { weights: string; onnx: string; foldBn: boolean }) => {
      const { meta, bytes } = await exportWeightsToOnnx(flags.weights, flags.onnx, {
        foldBatchNorm: flags.foldBn,
      });
      const [C, H, W] = meta.inputShape;
      console.log(
        `${flags.onnx}: ${meta.arch}, ${meta.classes.length} classes, input [batch, ${C}, ${H}, ${W}], ` +
          `${(bytes / 2 ** 20).toFixed(1)} MB${flags.foldBn ? ', batch norm folded' : ''}`,
      );
    });
}
