import { backendFor } from '../backend/index.js';
import type { Parameter } from '../nn/parameter.js';
import { Tensor } from '../tensor/tensor.js';
import { formatShape, sameShape } from '../tensor/shape.js';
import { Optimizer } from './optimizer.js';

export interface AdamOptions {
  lr?: number;
  betas?: readonly [number, number];
  eps?: number;
  weightDecay?: number;
}

interface AdamHyper {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** AdamW: decay the weights directly instead of adding weightDecay·p to the gradient. */
  decoupled: boolean;
}

interface AdamState {
  step: number;
  /** On the parameter's device. */
  expAvg: Tensor;
  expAvgSq: Tensor;
}

/**
 * torch.optim.Adam (and AdamW via `decoupled`), single-tensor semantics:
 *   g = grad (+ wd·p for Adam);  p *= 1 − lr·wd (AdamW)
 *   m = β1·m + (1 − β1)·g;  v = β2·v + (1 − β2)·g²
 *   p −= lr / (1 − β1^t) · m / (sqrt(v) / sqrt(1 − β2^t) + eps)
 * `beta1` of each group may be changed by a scheduler (one-cycle momentum).
 */
export class Adam extends Optimizer<AdamHyper> {
  private readonly state = new Map<Parameter, AdamState>();

  constructor(
    params: Parameter[] | { params: Parameter[]; lr?: number }[],
    options: AdamOptions = {},
    decoupled = false,
  ) {
    const { lr = 1e-3, betas = [0.9, 0.999], eps = 1e-8, weightDecay = decoupled ? 1e-2 : 0 } = options;
    const name = decoupled ? 'AdamW' : 'Adam';
    for (const [i, b] of betas.entries()) {
      if (!(b >= 0 && b < 1)) throw new RangeError(`${name}: invalid beta parameter at index ${i}: ${b}`);
    }
    if (!(eps >= 0)) throw new RangeError(`${name}: invalid epsilon value: ${eps}`);
    if (!(weightDecay >= 0)) throw new RangeError(`${name}: invalid weight_decay value: ${weightDecay}`);
    super(params, lr, { beta1: betas[0], beta2: betas[1], eps, weightDecay, decoupled });
  }

  step(): void {
    for (const group of this.paramGroups) {
      const { beta1, beta2, eps, weightDecay, decoupled } = group.hyper;
      for (const p of group.params) {
        if (p.grad === null) continue;
        let s = this.state.get(p);
        if (!s) {
          s = {
            step: 0,
            expAvg: Tensor.full(p.shape, 0, p.device),
            expAvgSq: Tensor.full(p.shape, 0, p.device),
          };
          this.state.set(p, s);
        }
        s.step++;
        const grad = p.grad.toFormat(p.format);
        backendFor(decoupled ? 'AdamW' : 'Adam', p, grad, s.expAvg).adamStep(
          p.handle,
          grad.handle,
          s.expAvg.handle,
          s.expAvgSq.handle,
          { lr: group.lr, beta1, beta2, eps, weightDecay, decoupled, step: s.step },
        );
      }
    }
  }

  stateTensors(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    this.allParams().forEach((p, i) => {
      const s = this.state.get(p);
      if (!s) return;
      out.set(`state.${i}.step`, Tensor.fromArray([s.step]));
      out.set(`state.${i}.exp_avg`, s.expAvg.clone());
      out.set(`state.${i}.exp_avg_sq`, s.expAvgSq.clone());
    });
    return out;
  }

  loadStateTensors(state: ReadonlyMap<string, Tensor>): void {
    const params = this.allParams();
    this.state.clear();
    const partial = new Map<number, Partial<AdamState>>();
    for (const [key, t] of state) {
      const m = /^state\.(\d+)\.(step|exp_avg|exp_avg_sq)$/.exec(key);
      if (!m) throw new RangeError(`Adam: unexpected optimizer state key "${key}"`);
      const index = Number(m[1]);
      const p = params[index];
      if (!p)
        throw new RangeError(
          `Adam: optimizer state key "${key}" refers to parameter ${index}, but there are ${params.length}`,
        );
      const entry = partial.get(index) ?? {};
      if (m[2] === 'step') entry.step = t.item();
      else {
        if (!sameShape(p.shape, t.shape)) {
          throw new RangeError(
            `Adam: "${key}" has shape ${formatShape(t.shape)} but the parameter has ${formatShape(p.shape)}`,
          );
        }
        const copy = new Tensor(t.dataSync().slice(), p.shape, 'float32').to(p.device);
        if (m[2] === 'exp_avg') entry.expAvg = copy;
        else entry.expAvgSq = copy;
      }
      partial.set(index, entry);
    }
    for (const [index, entry] of partial) {
      if (entry.step === undefined || !entry.expAvg || !entry.expAvgSq) {
        throw new RangeError(
          `Adam: optimizer state for parameter ${index} is incomplete (needs step, exp_avg, exp_avg_sq)`,
        );
      }
      this.state.set(params[index]!, entry as AdamState);
    }
  }
}

/** torch.optim.AdamW: Adam with decoupled weight decay (default 1e-2). */
export class AdamW extends Adam {
  constructor(params: Parameter[] | { params: Parameter[]; lr?: number }[], options: AdamOptions = {}) {
    super(params, options, true);
  }
}
