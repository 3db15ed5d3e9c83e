import type { Parameter } from '../nn/parameter.js';
import { Tensor } from '../tensor/tensor.js';
import { formatShape, sameShape } from '../tensor/shape.js';
import { Optimizer } from './optimizer.js';
import { backendFor } from '../backend/index.js';

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
 * torch.optim.SGD, single-tensor semantics (the update itself is the backend's sgdStep kernel):
 *   d = grad + weightDecay·p
 *   buf = d (first step) | momentum·buf + (1 − dampening)·d
 *   d = nesterov ? d + momentum·buf : buf          (when momentum ≠ 0)
 *   p −= lr·d
 */
export class SGD extends Optimizer<SGDHyper> {
  private readonly momentumBuffers = new Map<Parameter, Tensor>();

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
    for (const group of this.paramGroups) {
      const { momentum, dampening, weightDecay, nesterov } = group.hyper;
      for (const p of group.params) {
        if (p.grad === null) continue;
        let buf = this.momentumBuffers.get(p) ?? null;
        const first = buf === null;
        if (momentum !== 0 && buf === null) {
          buf = Tensor.full(p.shape, 0, p.device);
          this.momentumBuffers.set(p, buf);
        }
        const grad = p.grad.toFormat(p.format);
        const backend = backendFor('SGD', p, grad, buf);
        backend.sgdStep(p.handle, grad.handle, momentum !== 0 && buf ? buf.handle : null, {
          lr: group.lr,
          momentum,
          dampening,
          weightDecay,
          nesterov,
          first,
        });
      }
    }
  }

  stateTensors(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    this.allParams().forEach((p, i) => {
      const buf = this.momentumBuffers.get(p);
      if (buf) out.set(`state.${i}.momentum_buffer`, buf.clone());
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
      this.momentumBuffers.set(p, new Tensor(t.dataSync().slice(), p.shape, 'float32').to(p.device));
    }
  }
}
