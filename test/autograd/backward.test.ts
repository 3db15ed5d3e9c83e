import { describe, expect, it } from 'vitest';
import { backward, F, Generator, noGrad, SGD, Tensor, type GradNode } from '../../src/index.js';
import { tinyModel } from '../helpers/tiny.js';

const gen = new Generator(5);

describe('backward()', () => {
  it('accumulates into .grad across calls, as PyTorch does, until zeroed', () => {
    const x = Tensor.fromArray([1, 2, 3]).requiresGrad_();
    backward(F.sum(F.scale(x, 2)));
    expect(x.grad!.toArray()).toEqual([2, 2, 2]);
    backward(F.sum(F.scale(x, 3)));
    expect(x.grad!.toArray()).toEqual([5, 5, 5]);
  });

  it('sums the gradients of a tensor used by several ops', () => {
    const x = Tensor.fromArray([1, -2]).requiresGrad_();
    const y = F.add(F.add(x, x), F.scale(x, 4));
    backward(F.sum(y));
    expect(x.grad!.toArray()).toEqual([6, 6]);
  });

  it('needs an explicit gradient for non-scalar outputs and checks its shape', () => {
    const x = Tensor.fromArray([1, 2]).requiresGrad_();
    const y = F.scale(x, 2);
    expect(() => backward(y)).toThrow('only be created implicitly for a one-element output, got shape [2]');
    expect(() => backward(y, Tensor.ones([3]))).toThrow('gradient shape [3] does not match output shape [2]');
    backward(y, Tensor.fromArray([1, 10]));
    expect(x.grad!.toArray()).toEqual([2, 20]);
  });

  it('refuses tensors outside any graph', () => {
    expect(() => backward(Tensor.scalar(1))).toThrow('does not require grad');
  });

  it('records nothing under noGrad()', () => {
    const x = Tensor.fromArray([1, 2]).requiresGrad_();
    const y = noGrad(() => F.scale(x, 2));
    expect(y.requiresGrad).toBe(false);
    expect(y.gradFn).toBeNull();
  });

  it('releases the saved state of every node, so a second backward is an error', () => {
    const x = Tensor.randn([2, 3, 6, 6], { generator: gen });
    const w = Tensor.randn([4, 3, 3, 3], { generator: gen }).requiresGrad_();
    const loss = F.sum(F.relu(F.conv2d(x, w, null, { padding: 1 })));
    const node = loss.gradFn!;
    backward(loss);
    expect(node.inputs).toEqual([]);
    expect(node.backward).toBeNull();
    expect(() => backward(loss)).toThrow('already freed');
  });

  it('leaves no node of a training step reachable after backward and the optimizer step', () => {
    const model = tinyModel();
    const optimizer = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
    const x = Tensor.randn([2, 3, 32, 32], { generator: gen });
    const y = Tensor.int64([1, 3]);
    const loss = F.crossEntropy(model.forward(x), y);
    // Walk the graph before backward: every node holds inputs and a closure.
    const nodes: GradNode[] = [];
    const seen = new Set<GradNode>();
    const stack = [loss.gradFn!];
    while (stack.length) {
      const n = stack.pop()!;
      if (seen.has(n)) continue;
      seen.add(n);
      nodes.push(n);
      for (const t of n.inputs) if (t?.gradFn) stack.push(t.gradFn);
    }
    expect(nodes.length).toBeGreaterThan(40);
    backward(loss);
    optimizer.step();
    for (const n of nodes) {
      expect(n.backward).toBeNull();
      expect(n.inputs.length).toBe(0);
    }
  });
});

describe('memory', () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  /** Full collections with turns of the event loop between them: WeakRef targets stay alive until the
   * current job ends, and ArrayBuffer backing stores are swept concurrently after a GC. */
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 3; i++) {
      gc!();
      await new Promise((resolve) => setImmediate(resolve));
    }
  };

  it.runIf(gc !== undefined)(
    'frees the activations of a step once backward and the optimizer step are done',
    async () => {
      const model = tinyModel();
      const optimizer = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
      const x = Tensor.randn([2, 3, 32, 32], { generator: gen });
      const y = Tensor.int64([0, 4]);
      const refs: WeakRef<Tensor>[] = [];
      model.conv1.registerForwardHook((_m, _input, output) => refs.push(new WeakRef(output)));
      model.stages[3]!.registerForwardHook((_m, _input, output) => refs.push(new WeakRef(output)));
      optimizer.zeroGrad();
      // The loss stays referenced: its graph must no longer hold the activations.
      const loss = F.crossEntropy(model.forward(x), y);
      backward(loss);
      optimizer.step();
      await settle();
      expect(refs.length).toBe(2);
      expect(refs.map((r) => r.deref())).toEqual([undefined, undefined]);
      expect(loss.gradFn).not.toBeNull();
    },
  );

  it.runIf(gc !== undefined)('keeps memory flat over a training loop', async () => {
    const model = tinyModel();
    const optimizer = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
    const x = Tensor.randn([4, 3, 32, 32], { generator: gen });
    const y = Tensor.int64([0, 1, 2, 3]);
    // Every loss tensor is kept, as a training loop's history might: that must not keep its step alive.
    const losses: Tensor[] = [];
    const step = (): void => {
      optimizer.zeroGrad();
      const loss = F.crossEntropy(model.forward(x), y);
      backward(loss);
      optimizer.step();
      losses.push(loss);
    };
    const used = async (): Promise<number> => {
      await settle();
      const m = process.memoryUsage();
      return m.heapUsed + m.arrayBuffers;
    };
    for (let i = 0; i < 3; i++) step();
    const before = await used();
    for (let i = 0; i < 30; i++) step();
    const after = await used();
    // One step's activations and gradients are about 3 MB here; 30 leaked steps would be 90 MB.
    expect(after - before).toBeLessThan(3e6);
  });
});
