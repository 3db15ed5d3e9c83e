import { beforeAll, describe, expect, it } from 'vitest';
import {
  backward,
  F,
  noGrad,
  setBackend,
  SGD,
  Tensor,
  tsBackend,
  type DType,
  type ResNet,
} from '../../src/index.js';
import { expectClose } from '../helpers/assert.js';
import { loadFixture } from '../helpers/fixtures.js';
import { tinyConfig, tinyModel } from '../helpers/tiny.js';
import { testBackends, useBackend } from '../helpers/backends.js';

const STATE_RTOL = 1e-4;
const GRAD_RTOL = 1e-3;

describe.each(testBackends())('tiny ResNeXt parity with PyTorch [$name backend]', (backend) => {
  useBackend(backend);
  let init: Map<string, Tensor<DType>>;
  let x: Tensor;
  let y: Tensor<'int64'>;
  let expected: Map<string, Tensor<DType>>;

  const fresh = (): ResNet => {
    const model = tinyModel();
    model.loadStateDict(init);
    return model;
  };

  beforeAll(() => {
    init = loadFixture('tiny', 'init.safetensors');
    const batch = loadFixture('tiny', 'batch.safetensors');
    x = batch.get('x') as Tensor;
    y = batch.get('y') as Tensor<'int64'>;
    expected = loadFixture('tiny', 'expected.safetensors');
  });

  it('has the fixture parameter count and exactly the fixture state_dict keys', () => {
    const model = tinyModel();
    expect(model.parameterCount()).toBe(170965);
    expect([...model.stateDict().keys()].sort()).toEqual([...init.keys()].sort());
  });

  it('matches eval-mode logits', () => {
    const model = fresh().eval();
    const logits = noGrad(() => model.forward(x));
    expectClose(logits, expected.get('logits_eval')!, 'logits_eval', { rtol: STATE_RTOL, floor: 1 });
  });

  it('matches train-mode logits, loss and every parameter gradient', () => {
    const model = fresh().train();
    const logits = model.forward(x);
    expectClose(logits, expected.get('logits_train')!, 'logits_train', { rtol: STATE_RTOL, floor: 1 });
    const loss = F.crossEntropy(logits, y);
    // The fixture stores the scalar loss as shape [1].
    const wantLoss = expected.get('loss_train') as Tensor;
    expectClose(loss, new Tensor(wantLoss.data, [], 'float32'), 'loss_train', { rtol: STATE_RTOL, floor: 1 });
    backward(loss);
    const params = model.namedParameters();
    expect(params.length).toBeGreaterThan(0);
    for (const [name, p] of params) {
      const g = expected.get(`grad.${name}`);
      expect(g, `fixture has grad.${name}`).toBeDefined();
      expect(p.grad, `gradient of ${name}`).not.toBeNull();
      expectClose(p.grad!, g!, `grad.${name}`, { rtol: GRAD_RTOL });
    }
  });

  const sgdRun = (steps: number): { losses: number[]; state: Map<string, Tensor<DType>> } => {
    const { sgd } = tinyConfig();
    const model = fresh().train();
    const optimizer = new SGD(model.parameters(), {
      lr: sgd.lr,
      momentum: sgd.momentum,
      weightDecay: sgd.weight_decay,
      nesterov: sgd.nesterov,
    });
    const losses: number[] = [];
    for (let step = 0; step < steps; step++) {
      optimizer.zeroGrad();
      const loss = F.crossEntropy(model.forward(x), y);
      losses.push(loss.item());
      backward(loss);
      optimizer.step();
    }
    return { losses, state: model.stateDict() };
  };

  it('takes the first SGD step exactly as the reference backend does', () => {
    const mine = sgdRun(1);
    const previous = setBackend(tsBackend);
    const reference = sgdRun(1);
    setBackend(previous);
    expect(Math.abs(mine.losses[0]! - expected.get('sgd3_losses')!.toArray()[0]!)).toBeLessThanOrEqual(
      STATE_RTOL,
    );
    for (const [name, want] of reference.state) {
      expectClose(mine.state.get(name)!, want, `1 step: ${name}`, { rtol: STATE_RTOL, floor: 1 });
    }
  });

  /**
   * PyTorch's 3-step trajectory passes a ReLU input 1.7e-6 from zero (layer2.0.bn2, second step):
   * float32 arithmetic that rounds differently from PyTorch's may land on the other side of that
   * kink, and the third step then differs by up to ~5e-3 (measured: the reference kernels with 1e-7
   * relative noise on the input diverge by 8e-3). The reference backend, which accumulates in double,
   * stays on PyTorch's side and is held to 1e-4 throughout; other backends are held to 1e-4 up to the
   * kink (the first two losses, and the first step above) and to 1e-2 on the final state, which still
   * catches any error in the optimizer or the running statistics.
   */
  it('matches the losses and the whole state after 3 SGD steps', () => {
    const { sgd } = tinyConfig();
    const { losses, state } = sgdRun(sgd.steps);
    const exact = backend === tsBackend;
    const wantLosses = expected.get('sgd3_losses')!.toArray();
    const lossCount = exact ? losses.length : 2;
    expectClose(
      Tensor.fromArray(losses.slice(0, lossCount)),
      Tensor.fromArray(wantLosses.slice(0, lossCount)),
      'sgd3_losses',
      { rtol: STATE_RTOL, floor: 1 },
    );
    const rtol = exact ? STATE_RTOL : 1e-2;
    let compared = 0;
    for (const [key, want] of expected) {
      if (!key.startsWith('sgd3.')) continue;
      const name = key.slice('sgd3.'.length);
      const got = state.get(name);
      expect(got, `model has ${name}`).toBeDefined();
      expectClose(got!, want, key, { rtol, floor: 1 });
      compared++;
    }
    expect(compared).toBe(state.size);
  });
});
