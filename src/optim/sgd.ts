import type { Parameter } from '../nn/parameter.js';
import { Tensor } from '../tensor/tensor.js';
import { formatShape, sameShape } from '../tensor/shape.js';
import { Optimizer } from './optimizer.js';

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

interface SGDHyper {
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

/**
 * torch.optim.SGD, single-tensor semantics, each intermediate rounded to float32 as PyTorch does:
 *   d = grad + weightDecay·p
 *   buf = d (first step) | momentum·buf + (1 − dampening)·d
 *   d = nesterov ? d + momentum·buf : buf          (when momentum ≠ 0)
 *   p −= lr·d
 */
export class SGD extends Optimizer<SGDHyper> {
  private readonly momentumBuffers = new Map<Parameter, Float32Array>();

  constructor(params: Parameter[] | { params: Parameter[]; lr?: number }[], options: SGDOptions) {
    const { lr, momentum = 0, dampening = 0, weightDecay = 0, nesterov = false } = options;
    if (!(momentum >= 0)) throw new RangeError(`SGD: invalid momentum ${momentum}`);
    if (!(weightDecay >= 0)) throw new RangeError(`SGD: invalid weight_decay ${weightDecay}`);
    if (nesterov && (momentum <= 0 || dampening !== 0)) {
      throw new RangeError('SGD: nesterov momentum requires a momentum and zero dampening');
    }
    super(params, lr, { momentum, dampening, weightDecay, nesterov });
  }

  step(): void {
    const f = Math.fround;
    for (const group of this.paramGroups) {
      const { momentum, dampening, weightDecay, nesterov } = group.hyper;
      const lr = group.lr;
      for (const p of group.params) {
        if (p.grad === null) continue;
        const w = p.data;
        const g = p.grad.data;
        let buf = this.momentumBuffers.get(p);
        const first = buf === undefined;
        if (momentum !== 0 && buf === undefined) {
          buf = new Float32Array(w.length);
          this.momentumBuffers.set(p, buf);
        }
        for (let i = 0; i < w.length; i++) {
          let d = weightDecay !== 0 ? f(g[i]! + f(weightDecay * w[i]!)) : g[i]!;
          if (buf !== undefined) {
            const b = first ? d : f(f(momentum * buf[i]!) + f((1 - dampening) * d));
            buf[i] = b;
            d = nesterov ? f(d + f(momentum * b)) : b;
          }
          w[i] = f(w[i]! - f(lr * d));
        }
      }
    }
  }

  stateTensors(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    this.allParams().forEach((p, i) => {
      const buf = this.momentumBuffers.get(p);
      if (buf) out.set(`state.${i}.momentum_buffer`, new Tensor(buf.slice(), p.shape, 'float32'));
    });
    return out;
  }

  loadStateTensors(state: ReadonlyMap<string, Tensor>): void {
    const params = this.allParams();
    this.momentumBuffers.clear();
    for (const [key, t] of state) {
      const m = /^state\.(\d+)\.momentum_buffer$/.exec(key);
      if (!m) throw new RangeError(`SGD: unexpected optimizer state key "${key}"`);
      const p = params[Number(m[1])];
      if (!p)
        throw new RangeError(
          `SGD: optimizer state key "${key}" refers to parameter ${m[1]}, but there are ${params.length}`,
        );
      if (!sameShape(p.shape, t.shape)) {
        throw new RangeError(
          `SGD: "${key}" has shape ${formatShape(t.shape)} but the parameter has ${formatShape(p.shape)}`,
        );
      }
      this.momentumBuffers.set(p, t.data.slice());
    }
  }
}
