import { beforeAll, describe, expect, it } from 'vitest';
import { backward, F, noGrad, SGD, Tensor, type DType, type ResNet } from '../../src/index.js';
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

  it('matches the losses and the whole state after 3 SGD steps', () => {
    const { sgd } = tinyConfig();
    const model = fresh().train();
    const optimizer = new SGD(model.parameters(), {
      lr: sgd.lr,
      momentum: sgd.momentum,
      weightDecay: sgd.weight_decay,
      nesterov: sgd.nesterov,
    });
    const losses: number[] = [];
    for (let step = 0; step < sgd.steps; step++) {
      optimizer.zeroGrad();
      const loss = F.crossEntropy(model.forward(x), y);
      losses.push(loss.item());
      backward(loss);
      optimizer.step();
    }
    expectClose(Tensor.fromArray(losses), expected.get('sgd3_losses')!, 'sgd3_losses', {
      rtol: STATE_RTOL,
      floor: 1,
    });
    const state = model.stateDict();
    let compared = 0;
    for (const [key, want] of expected) {
      if (!key.startsWith('sgd3.')) continue;
      const name = key.slice('sgd3.'.length);
      const got = state.get(name);
      expect(got, `model has ${name}`).toBeDefined();
      expectClose(got!, want, key, { rtol: STATE_RTOL, floor: 1 });
      compared++;
    }
    expect(compared).toBe(state.size);
  });
});
