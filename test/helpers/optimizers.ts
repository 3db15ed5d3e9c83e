/** The fixtures' optimizer cases as optimizers (free of Node, so the browser suite uses it too). */
import { Adam, AdamW, SGD, type Parameter } from '../../src/browser.js';

export interface OptimizerSettings {
  optimizer: 'SGD' | 'Adam' | 'AdamW';
  lr: number;
  momentum?: number;
  nesterov?: boolean;
  weight_decay: number;
  eps?: number;
  steps: number;
}

export function makeOptimizer(params: Parameter[], c: OptimizerSettings): { zeroGrad(): void; step(): void } {
  switch (c.optimizer) {
    case 'SGD':
      return new SGD(params, {
        lr: c.lr,
        momentum: c.momentum ?? 0,
        nesterov: c.nesterov ?? false,
        weightDecay: c.weight_decay,
      });
    case 'Adam':
      return new Adam(params, { lr: c.lr, eps: c.eps, weightDecay: c.weight_decay });
    case 'AdamW':
      return new AdamW(params, { lr: c.lr, eps: c.eps, weightDecay: c.weight_decay });
  }
}
