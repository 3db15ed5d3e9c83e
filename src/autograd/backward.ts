import { Tensor } from '../tensor/tensor.js';
import type { Storage } from '../tensor/storage.js';
import { formatShape, sameShape } from '../tensor/shape.js';
import type { GradNode } from './node.js';
import { noGrad } from './grad-mode.js';
import { backendFor } from '../backend/index.js';

/**
 * Reverse-mode differentiation from `root`, like torch.Tensor.backward():
 * gradients accumulate into `.grad` of leaf tensors that require grad.
 *
 * Memory: each node's closure and saved activations are dropped right after it runs (calling
 * backward() twice on one graph is an error), and storage is recycled as soon as it is dead:
 * an activation once every node that saved it has run, a gradient once the node it flowed into has
 * consumed it. Gradients are never modified in place, so one may be shared between several inputs;
 * reference counts on their storage decide when the last holder is done.
 */
export function backward(root: Tensor, gradient?: Tensor): void {
  if (!root.requiresGrad) {
    throw new Error('backward(): the tensor does not require grad and has no grad_fn');
  }
  let seed: Tensor;
  if (gradient === undefined) {
    if (root.numel !== 1) {
      throw new Error(
        `backward(): a gradient can only be created implicitly for a one-element output, got shape ${formatShape(root.shape)}`,
      );
    }
    seed = Tensor.full(root.shape, 1, root.device);
  } else {
    if (!sameShape(gradient.shape, root.shape)) {
      throw new RangeError(
        `backward(): gradient shape ${formatShape(gradient.shape)} does not match output shape ${formatShape(root.shape)}`,
      );
    }
    seed = gradient.toFormat(root.format);
    seed.storage.pinned = true;
  }
  // The caller holds the root: it stays valid whatever saved it.
  root.storage.pinned = true;

  if (root.gradFn === null) {
    accumulateLeaf(root, seed);
    return;
  }

  const order = topologicalOrder(root.gradFn);
  const pending = new Map<GradNode, Tensor>([[root.gradFn, seed]]);
  const refs = new GradientRefs();
  refs.add(seed.storage);
  noGrad(() => {
    for (const node of order) {
      const gradOut = pending.get(node);
      pending.delete(node);
      const inputs = node.inputs;
      const fn = node.backward;
      const saved = node.saved;
      node.inputs = [];
      node.backward = null;
      node.saved = [];
      if (gradOut === undefined || fn === null) {
        releaseSaved(saved);
        continue;
      }
      const grads = fn(gradOut);
      releaseSaved(saved);
      inputs.forEach((input, i) => {
        const g = grads[i];
        if (input === null || g === null || g === undefined) return;
        if (!sameShape(g.shape, input.shape) || g.format !== input.format) {
          throw new Error(
            `internal: ${node.op} backward gave gradient ${formatShape(g.shape)} (${g.format}) ` +
              `for input ${formatShape(input.shape)} (${input.format})`,
          );
        }
        if (input.gradFn === null) {
          accumulateLeaf(input, g);
          return;
        }
        const prev = pending.get(input.gradFn);
        if (prev === undefined) {
          pending.set(input.gradFn, g);
          refs.add(g.storage);
        } else {
          const sum = addGradients(prev, g);
          pending.set(input.gradFn, sum);
          refs.add(sum.storage);
          refs.drop(prev.storage);
        }
      });
      refs.drop(gradOut.storage);
      for (const g of grads) if (g) refs.releaseIfUnused(g.storage);
    }
  });
}

/** Counts the pending-gradient slots that hold each storage; storage no slot holds is released. */
class GradientRefs {
  private readonly counts = new Map<Storage, number>();

  add(s: Storage): void {
    this.counts.set(s, (this.counts.get(s) ?? 0) + 1);
  }

  drop(s: Storage): void {
    const n = (this.counts.get(s) ?? 1) - 1;
    if (n > 0) {
      this.counts.set(s, n);
      return;
    }
    this.counts.delete(s);
    s.release();
  }

  releaseIfUnused(s: Storage): void {
    if (!this.counts.has(s)) s.release();
  }
}

function releaseSaved(saved: readonly Storage[]): void {
  for (const s of saved) {
    s.savedBy--;
    if (s.savedBy === 0) s.release();
  }
}

function accumulateLeaf(leaf: Tensor, g: Tensor): void {
  if (!leaf.requiresGrad) return;
  const grad = leaf.grad === null ? g : addGradients(leaf.grad, g);
  grad.storage.pinned = true;
  leaf.grad = grad;
}

function addGradients(a: Tensor, b: Tensor): Tensor {
  const out = Tensor.output(a.shape, a.format, a.device);
  const other = b.toFormat(a.format);
  backendFor('gradient accumulation', a, other).add(a.handle, other.handle, out.handle);
  return out;
}

/** Nodes reachable from root, each after every node that consumes its output. */
function topologicalOrder(root: GradNode): GradNode[] {
  if (root.backward === null) {
    throw new Error(
      'backward(): this graph was already freed by an earlier backward(); run the forward pass again',
    );
  }
  const visited = new Set<GradNode>();
  const postOrder: GradNode[] = [];
  // Iterative DFS: ResNeXt-101 graphs are deep enough to make recursion risky.
  const stack: { node: GradNode; next: number }[] = [{ node: root, next: 0 }];
  visited.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const inputs = top.node.inputs;
    if (top.next < inputs.length) {
      const child = inputs[top.next++]?.gradFn;
      if (child && !visited.has(child)) {
        visited.add(child);
        stack.push({ node: child, next: 0 });
      }
    } else {
      postOrder.push(top.node);
      stack.pop();
    }
  }
  return postOrder.reverse();
}
