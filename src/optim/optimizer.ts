import type { Parameter } from '../nn/parameter.js';
import type { Tensor } from '../tensor/tensor.js';

/** A set of parameters sharing hyper-parameters (PyTorch's param_groups); `lr` is what schedulers change. */
export interface ParamGroup<H> {
  params: Parameter[];
  lr: number;
  hyper: H;
}

/** Base of optimizers: parameter groups, zeroGrad, and per-parameter state saved by name for resume. */
export abstract class Optimizer<H> {
  readonly paramGroups: ParamGroup<H>[];

  protected constructor(params: Parameter[] | { params: Parameter[]; lr?: number }[], lr: number, hyper: H) {
    if (!(lr >= 0)) throw new RangeError(`invalid learning rate: ${lr}`);
    const groups =
      params.length > 0 && 'params' in params[0]!
        ? (params as { params: Parameter[]; lr?: number }[])
        : [{ params: params as Parameter[] }];
    this.paramGroups = groups.map((g) => ({ params: [...g.params], lr: g.lr ?? lr, hyper: { ...hyper } }));
    const seen = new Set<Parameter>();
    for (const g of this.paramGroups) {
      if (new Set(g.params).size !== g.params.length)
        throw new Error('a parameter group contains the same parameter twice');
      for (const p of g.params) {
        if (seen.has(p)) throw new Error('some parameters appear in more than one parameter group');
        if (p.storage.constant)
          throw new Error(
            'a parameter is constant (Module.freezeForInference): optimise a model that is not frozen',
          );
        seen.add(p);
      }
    }
    if (seen.size === 0) throw new Error('optimizer got an empty parameter list');
  }

  abstract step(): void;

  /**
   * Drops every gradient (set_to_none, PyTorch's default). Their buffers go back to the pool for the
   * next backward(); clone() a gradient first to keep it.
   */
  zeroGrad(): void {
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        p.grad?.storage.recycle();
        p.grad = null;
      }
    }
  }

  /** Per-parameter state tensors keyed `state.<index>.<name>` (index over all groups, in order). */
  abstract stateTensors(): Map<string, Tensor>;

  /** Restores what stateTensors() saved; throws naming a key whose shape does not fit. */
  abstract loadStateTensors(state: ReadonlyMap<string, Tensor>): void;

  protected allParams(): Parameter[] {
    return this.paramGroups.flatMap((g) => g.params);
  }
}
