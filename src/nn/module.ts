import type { DType } from '../tensor/dtype.js';
import type { Device } from '../tensor/device.js';
import { Tensor } from '../tensor/tensor.js';
import { formatShape, sameShape } from '../tensor/shape.js';
import { Parameter } from './parameter.js';

/** Tensors by PyTorch state_dict name (`layer1.0.conv2.weight`), in PyTorch's order. */
export type StateDict = Map<string, Tensor<DType>>;

export type ForwardHook = (module: Module, input: Tensor, output: Tensor) => void;

export interface HookHandle {
  remove(): void;
}

export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

/**
 * Activations a container hands from one child to the next with nothing else holding them: the
 * receiving module may write its result over one (a residual block adding into its input's buffer).
 * Only containers mark them, for their own intermediates, and never a child's output that forward
 * hooks could keep.
 */
const handedOver = new WeakSet<Tensor>();

/** Marks an intermediate that only the next child will read. */
export function handOver(t: Tensor): Tensor {
  handedOver.add(t);
  return t;
}

/** Whether `t` was handed over by a container: its receiver may write over it. */
export function isHandedOver(t: Tensor): boolean {
  return handedOver.has(t);
}

/**
 * Base class of layers and models, as torch.nn.Module: owns named parameters, buffers and child
 * modules (registered explicitly, so names are PyTorch's whatever the TypeScript property is called),
 * flips train/eval behaviour, and saves and loads state dicts with PyTorch's dotted names.
 */
export abstract class Module {
  training = true;
  /**
   * Whether forward may run several children in one pass (a conv's or batch norm's output with the
   * residual add and ReLU): the same numbers, fewer passes, but the fused children's forward hooks
   * do not run. Set for a whole model with setFusion(); summary() turns it off while it traces.
   */
  fusion = true;
  private readonly ownParameters = new Map<string, Parameter | null>();
  private readonly ownBuffers = new Map<string, Tensor<DType> | null>();
  private readonly ownModules = new Map<string, Module>();
  private forwardHooks: ForwardHook[] = [];

  abstract forward(input: Tensor): Tensor;

  /** forward, then the forward hooks, as PyTorch's __call__: modules call their children through this. */
  call(input: Tensor): Tensor {
    const output = this.forward(input);
    for (const hook of [...this.forwardHooks]) hook(this, input, output);
    return output;
  }

  /** The class name, as PyTorch prints it (`Conv2d`, `Bottleneck`). */
  get typeName(): string {
    return this.constructor.name;
  }

  protected registerParameter<P extends Parameter | null>(name: string, parameter: P): P {
    this.checkName(name);
    this.ownParameters.set(name, parameter);
    return parameter;
  }

  protected registerBuffer<T extends Tensor<DType> | null>(name: string, buffer: T): T {
    this.checkName(name);
    this.ownBuffers.set(name, buffer);
    return buffer;
  }

  protected registerModule<M extends Module>(name: string, module: M): M {
    this.checkName(name);
    this.ownModules.set(name, module);
    return module;
  }

  /** Replaces an existing child module (e.g. a classifier head), keeping its name and position. */
  protected replaceModule<M extends Module>(name: string, module: M): M {
    if (!this.ownModules.has(name)) throw new Error(`${this.typeName} has no child module named "${name}"`);
    this.ownModules.set(name, module);
    return module;
  }

  private checkName(name: string): void {
    if (name === '' || name.includes('.'))
      throw new Error(`invalid member name "${name}": it must be non-empty and contain no "."`);
    if (this.ownParameters.has(name) || this.ownBuffers.has(name) || this.ownModules.has(name)) {
      throw new Error(`${this.typeName} already has a member named "${name}"`);
    }
  }

  /** Direct children, by name. */
  namedChildren(): [string, Module][] {
    return [...this.ownModules];
  }

  /** This module (name '') and every descendant, depth first, with dotted names. */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [name, child] of this.ownModules) out.push(...child.namedModules(join(prefix, name)));
    return out;
  }

  namedParameters(prefix = ''): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    for (const [modulePrefix, module] of this.namedModules(prefix)) {
      for (const [name, p] of module.ownParameters) if (p) out.push([join(modulePrefix, name), p]);
    }
    return out;
  }

  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  namedBuffers(prefix = ''): [string, Tensor<DType>][] {
    const out: [string, Tensor<DType>][] = [];
    for (const [modulePrefix, module] of this.namedModules(prefix)) {
      for (const [name, b] of module.ownBuffers) if (b) out.push([join(modulePrefix, name), b]);
    }
    return out;
  }

  /**
   * Moves every float32 parameter and buffer (and any gradient) to `device` in place, as
   * torch.nn.Module.to(device); int64 counters (num_batches_tracked) stay on the cpu, where they
   * are counted. Back to the cpu: `await module.cpu()`.
   */
  to(device: Device): this {
    for (const t of this.floatState()) t.storage.moveTo(device);
    return this;
  }

  /** Brings every parameter, buffer and gradient back to the cpu (an async read-back). */
  async cpu(): Promise<this> {
    await Promise.all(this.floatState().map((t) => t.storage.moveToCpu()));
    return this;
  }

  private floatState(): Tensor<DType>[] {
    const out: Tensor<DType>[] = [];
    for (const p of this.parameters()) out.push(p, ...(p.grad ? [p.grad] : []));
    for (const [, b] of this.namedBuffers()) if (b.dtype === 'float32') out.push(b);
    return out;
  }

  /** Parameters then buffers of each module, parents before children: PyTorch's state_dict order. */
  stateDict(): StateDict {
    const out: StateDict = new Map();
    const visit = (module: Module, prefix: string): void => {
      for (const [name, p] of module.ownParameters) if (p) out.set(join(prefix, name), p);
      for (const [name, b] of module.ownBuffers) if (b) out.set(join(prefix, name), b);
      for (const [name, child] of module.ownModules) visit(child, join(prefix, name));
    };
    visit(this, '');
    return out;
  }

  /**
   * Copies tensors from `state` into this module's parameters and buffers, in place.
   * Strict (the default) fails on missing or unexpected keys; a shape mismatch always fails.
   * The error lists every problem by key, as PyTorch's does.
   */
  loadStateDict(state: ReadonlyMap<string, Tensor<DType>>, options: { strict?: boolean } = {}): LoadResult {
    const strict = options.strict ?? true;
    const own = this.stateDict();
    const missingKeys = [...own.keys()].filter((k) => !state.has(k));
    const unexpectedKeys = [...state.keys()].filter((k) => !own.has(k));
    const problems: string[] = [];
    for (const [key, target] of own) {
      const source = state.get(key);
      if (source === undefined) continue;
      if (!sameShape(source.shape, target.shape)) {
        problems.push(
          `size mismatch for ${key}: copying a param with shape ${formatShape(source.shape)} from checkpoint, ` +
            `the shape in current model is ${formatShape(target.shape)}`,
        );
      } else if (target.dtype === 'float32' && source.dtype !== 'float32') {
        // Integers where floats belong are a damaged or foreign file, not weights to cast.
        problems.push(
          `dtype mismatch for ${key}: the checkpoint holds integers, the model's tensor is float32`,
        );
      } else if (target.dtype === 'int64' && source.dtype === 'float32') {
        const values = source.dataSync() as Float32Array;
        if (!values.every((v) => Number.isInteger(v)))
          problems.push(
            `dtype mismatch for ${key}: the checkpoint holds non-integer floats, the model's tensor is int64`,
          );
      }
    }
    if (strict && unexpectedKeys.length > 0) {
      problems.unshift(`Unexpected key(s) in state_dict: ${unexpectedKeys.map((k) => `"${k}"`).join(', ')}`);
    }
    if (strict && missingKeys.length > 0) {
      problems.unshift(`Missing key(s) in state_dict: ${missingKeys.map((k) => `"${k}"`).join(', ')}`);
    }
    if (problems.length > 0) {
      throw new Error(`Error(s) in loading state_dict for ${this.typeName}:\n\t${problems.join('\n\t')}`);
    }
    for (const [key, target] of own) {
      const source = state.get(key);
      if (source !== undefined) target.copy_(source);
    }
    return { missingKeys, unexpectedKeys };
  }

  /** Sets train (true) or eval (false) mode on this module and all descendants. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /**
   * Drops every parameter's gradient (PyTorch's zero_grad(set_to_none=True)); the buffers go back to
   * the pool, so clone() a gradient first to keep it.
   */
  zeroGrad(): void {
    for (const p of this.parameters()) {
      p.grad?.storage.recycle();
      p.grad = null;
    }
  }

  /** Sets requiresGrad on all parameters (false freezes them). */
  requiresGrad_(flag = true): this {
    for (const p of this.parameters()) p.requiresGrad = flag;
    return this;
  }

  /**
   * For a model's inference copy that nothing will train or load into: turns off every parameter's
   * gradient and marks the storage of parameters and buffers constant, so backends may keep
   * repacked forms of the weights between calls (the native backend keeps oneDNN's blocked
   * convolution weights and the grouped kernels' packing, as inference engines prepack at load), and
   * may run them through other kernels: outputs agree with the unfrozen model's to float rounding.
   * Afterwards copy_, loadStateDict and optimizers refuse these tensors.
   */
  freezeForInference(): this {
    for (const p of this.parameters()) {
      p.requiresGrad = false;
      p.storage.constant = true;
    }
    for (const [, b] of this.namedBuffers()) b.storage.constant = true;
    return this;
  }

  /** Calls fn on every module, children first, as torch's Module.apply. */
  apply(fn: (module: Module) => void): this {
    for (const [, child] of this.ownModules) child.apply(fn);
    fn(this);
    return this;
  }

  /** Sets `fusion` on this module and every descendant. */
  setFusion(enabled: boolean): this {
    return this.apply((m) => {
      m.fusion = enabled;
    });
  }

  /** Whether this module or any module inside it has a forward hook. */
  hasForwardHooks(): boolean {
    // Asked on every forward of a container: walks the tree without building names.
    if (this.forwardHooks.length > 0) return true;
    for (const m of this.ownModules.values()) if (m.hasForwardHooks()) return true;
    return false;
  }

  /** Calls hook(module, input, output) after each call() of this module, until removed. */
  registerForwardHook(hook: ForwardHook): HookHandle {
    this.forwardHooks.push(hook);
    return {
      remove: () => {
        this.forwardHooks = this.forwardHooks.filter((h) => h !== hook);
      },
    };
  }

  /** Number of elements across parameters (trainable only when asked). */
  parameterCount(options: { trainableOnly?: boolean } = {}): number {
    return this.parameters()
      .filter((p) => !options.trainableOnly || p.requiresGrad)
      .reduce((n, p) => n + p.numel, 0);
  }
}

function join(prefix: string, name: string): string {
  return prefix === '' ? name : `${prefix}.${name}`;
}

/** Wraps a tensor as a Parameter. */
export function parameter(t: Tensor): Parameter {
  return new Parameter(t);
}

/** The device of a model's parameters ('cpu' for a model without any). */
export function modelDevice(model: Module): Device {
  return model.parameters()[0]?.device ?? 'cpu';
}
