/**
 * A model card for an exported model, as JSON and Markdown: what the network is (architecture,
 * parameters, classes, input, normalisation) and, when the weights sit in their run folder, how it
 * was trained (data, settings, the best epoch and the history).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ResNet } from '../models/resnet.js';
import { parseTrainConfig } from './config.js';
import { formatPercent } from './metrics.js';
import type { ModelMeta } from './meta.js';
import type { EpochRecord } from './report.js';

export interface ModelCard {
  architecture: string;
  parameters: number;
  classes: string[];
  input: {
    shape: [number, number, number];
    mean: number[];
    std: number[];
    transforms: ModelMeta['evalTransforms'];
  };
  training: {
    data: string;
    epochs: number;
    batch_size: number;
    optimizer: string;
    lr: number;
    scheduler: string;
    seed: number;
  } | null;
  best: { epoch: number; val_top1: number } | null;
  history: { epoch: number; train_loss: number; val_loss: number; val_top1: number }[];
}

/** The card of `model` (loaded from `weights`): the training part from config.json and history.json beside the weights. */
export function modelCard(model: ResNet, meta: ModelMeta, weights: string): ModelCard {
  const dir = dirname(weights);
  const configPath = join(dir, 'config.json');
  const historyPath = join(dir, 'history.json');
  const config = existsSync(configPath)
    ? parseTrainConfig(readFileSync(configPath, 'utf-8'), configPath)
    : null;
  let history: EpochRecord[] = [];
  if (existsSync(historyPath)) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(historyPath, 'utf-8'));
      if (Array.isArray(parsed)) history = parsed as EpochRecord[];
    } catch (e) {
      throw new Error(`${historyPath}: not valid JSON (${(e as Error).message})`);
    }
  }
  const best = history.reduce<EpochRecord | null>(
    (b, r) => (b === null || r.valAcc > b.valAcc ? r : b),
    null,
  );
  return {
    architecture: meta.arch,
    parameters: model.parameterCount(),
    classes: [...meta.classes],
    input: { shape: meta.inputShape, mean: meta.mean, std: meta.std, transforms: meta.evalTransforms },
    training: config && {
      data: config.data,
      epochs: config.epochs,
      batch_size: config.batchSize,
      optimizer: config.optimizer,
      lr: config.lr,
      scheduler: config.scheduler,
      seed: config.seed,
    },
    best: best && { epoch: best.epoch, val_top1: best.valAcc },
    history: history.map((r) => ({
      epoch: r.epoch,
      train_loss: r.trainLoss,
      val_loss: r.valLoss,
      val_top1: r.valAcc,
    })),
  };
}

export function cardMarkdown(card: ModelCard): string {
  const [C, H, W] = card.input.shape;
  const lines = [
    `# ${card.architecture}`,
    '',
    `- Parameters: ${card.parameters.toLocaleString('en-US')}`,
    `- Classes (${card.classes.length}): ${card.classes.join(', ')}`,
    `- Input: [batch, ${C}, ${H}, ${W}] float32 NCHW, RGB in [0, 1], normalised by mean ${JSON.stringify(card.input.mean)} and std ${JSON.stringify(card.input.std)}`,
    `- Preprocessing: ${card.input.transforms.map((t) => JSON.stringify(t)).join(', ') || 'none'}`,
  ];
  if (card.training) {
    const t = card.training;
    lines.push(
      '',
      '## Training',
      '',
      `- Data: ${t.data}`,
      `- ${t.epochs} epochs, batch ${t.batch_size}, ${t.optimizer} at lr ${t.lr}, ${t.scheduler} schedule, seed ${t.seed}`,
    );
  }
  if (card.best)
    lines.push(`- Best validation top-1: ${formatPercent(card.best.val_top1)} (epoch ${card.best.epoch})`);
  if (card.history.length) {
    lines.push('', '| epoch | train loss | val loss | val top-1 |', '| ---: | ---: | ---: | ---: |');
    for (const r of card.history)
      lines.push(
        `| ${r.epoch} | ${r.train_loss.toFixed(4)} | ${r.val_loss.toFixed(4)} | ${formatPercent(r.val_top1)} |`,
      );
  }
  return `${lines.join('\n')}\n`;
}
