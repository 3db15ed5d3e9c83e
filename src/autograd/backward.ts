import { Tensor } from '../tensor/tensor.js';
import { formatShape, sameShape } from '../tensor/shape.js';
import type { GradNode } from './node.js';
import { noGrad } from './grad-mode.js';

/**
 * Reverse-mode differentiation from `root`, like torch.Tensor.backward():
 * gradients accumulate into `.grad` of leaf tensors that require grad.
 * Each node's saved state is released right after it runs, so the activations of the
 * step are unreachable once backward() returns (calling it twice on one graph is an error).
 * Gradient arrays are never modified in place, so one may be shared between several inputs.
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
    seed = Tensor.full(root.shape, 1);
  } else {
    if (!sameShape(gradient.shape, root.shape)) {
      throw new RangeError(
        `backward(): gradient shape ${formatShape(gradient.shape)} does not match output shape ${formatShape(root.shape)}`,
      );
    }
    seed = gradient.toFormat(root.format);
  }

  if (root.gradFn === null) {
    accumulateLeaf(root, seed);
    return;
  }

  const order = topologicalOrder(root.gradFn);
  const pending = new Map<GradNode, Tensor>([[root.gradFn, seed]]);
  noGrad(() => {
    for (const node of order) {
      const gradOut = pending.get(node);
      pending.delete(node);
      const inputs = node.inputs;
      const fn = node.backward;
      node.inputs = [];
      node.backward = null;
      if (gradOut === undefined || fn === null) continue;
      const grads = fn(gradOut);
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
        } else {
          const prev = pending.get(input.gradFn);
          pending.set(input.gradFn, prev === undefined ? g : addGradients(prev, g));
        }
      });
    }
  });
}

function accumulateLeaf(leaf: Tensor, g: Tensor): void {
  if (!leaf.requiresGrad) return;
  leaf.grad = leaf.grad === null ? g : addGradients(leaf.grad, g);
}

function addGradients(a: Tensor, b: Tensor): Tensor {
  const out = Tensor.empty(a.shape, a.format);
  const o = out.data;
  const x = a.data;
  const y = b.toFormat(a.format).data;
  for (let i = 0; i < o.length; i++) o[i] = x[i]! + y[i]!;
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
