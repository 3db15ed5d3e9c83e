import { readFileSync } from 'node:fs';
import { ResNet } from '../../src/index.js';
import { fixturePath } from './fixtures.js';

interface TinyConfig {
  layers: number[];
  planes: number[];
  stem: number;
  groups: number;
  width_per_group: number;
  num_classes: number;
  sgd: { lr: number; momentum: number; weight_decay: number; nesterov: boolean; steps: number };
}

export function tinyConfig(): TinyConfig {
  return JSON.parse(readFileSync(fixturePath('tiny', 'config.json'), 'utf-8')) as TinyConfig;
}

/** The tiny fixture network, built from its config.json (weights still to be loaded). */
export function tinyModel(): ResNet {
  const c = tinyConfig();
  return new ResNet({
    layers: c.layers,
    planes: c.planes,
    stemWidth: c.stem,
    groups: c.groups,
    widthPerGroup: c.width_per_group,
    numClasses: c.num_classes,
  });
}
