import { beforeAll, describe, expect, it } from 'vitest';
import { backward, F, noGrad, Tensor, type DType } from '../../src/index.js';
import { expectClose } from '../helpers/assert.js';
import { fixtureSeed, loadFixture, manifest } from '../helpers/fixtures.js';
import { makeOptimizer } from '../helpers/optimizers.js';
import { seededTensor } from '../helpers/seeded.js';
import { seededTinyModel, tinyBatch, tinyModel } from '../helpers/tiny.js';
import { testBackends, useBackend } from '../helpers/backends.js';

const STATE_RTOL = 1e-4;
const GRAD_RTOL = 1e-3;

describe('the seeded fixture weights', () => {
  it('are recomputed bit for bit as the generator wrote them', () => {
    const expected = loadFixture('tiny');
    const init = tinyModel().stateDict();
    for (const name of ['conv1.weight', 'bn1.running_var', 'fc.bias']) {
      const want = expected.get(`seeded.${name}`)!;
      expect(seededTensor(fixtureSeed(), name, init.get(name)!.shape).toArray(), name).toEqual(
        want.toArray(),
      );
    }
    const { x, y } = tinyBatch();
    expect(x.toArray()).toEqual(expected.get('seeded.x')!.toArray());
    expect(y.toArray()).toEqual(expected.get('seeded.y')!.toArray());
  });
});

describe.each(testBackends())('tiny ResNeXt parity with PyTorch [$name backend]', (backend) => {
  useBackend(backend);
  let x: Tensor;
  let y: Tensor<'int64'>;
  let expected: Map<string, Tensor<DType>>;

  beforeAll(() => {
    ({ x, y } = tinyBatch());
    expected = loadFixture('tiny');
  });

  it('has the fixture state_dict keys', () => {
    const keys = [...tinyModel().stateDict().keys()].sort();
    const fixtureKeys = [...expected.keys()]
      .filter((k) => k.startsWith('sgd.state.'))
      .map((k) => k.slice('sgd.state.'.length))
      .sort();
    expect(keys).toEqual(fixtureKeys);
  });

  it('matches eval-mode logits', () => {
    const model = seededTinyModel().eval();
    const logits = noGrad(() => model.forward(x));
    expectClose(logits, expected.get('logits_eval')!, 'logits_eval', { rtol: STATE_RTOL, floor: 1 });
  });

  it('matches train-mode logits, loss and every parameter gradient', () => {
    const model = seededTinyModel().train();
    const logits = model.forward(x);
    expectClose(logits, expected.get('logits_train')!, 'logits_train', { rtol: STATE_RTOL, floor: 1 });
    const loss = F.crossEntropy(logits, y);
    const wantLoss = expected.get('loss_train')!;
    expectClose(loss, new Tensor(wantLoss.dataSync(), [], wantLoss.dtype), 'loss_train', {
      rtol: STATE_RTOL,
      floor: 1,
    });
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

  const optimizers = Object.entries(manifest().cases.tiny.optimizers);
  it.each(optimizers)(
    'matches the losses and the whole state (BN buffers included) after the steps of %s',
    (key, settings) => {
      const model = seededTinyModel().train();
      const optimizer = makeOptimizer(model.parameters(), settings);
      const losses: number[] = [];
      for (let step = 0; step < settings.steps; step++) {
        optimizer.zeroGrad();
        const loss = F.crossEntropy(model.forward(x), y);
        losses.push(loss.item());
        backward(loss);
        optimizer.step();
      }
      expectClose(Tensor.fromArray(losses), expected.get(`${key}.losses`)!, `${key}.losses`, {
        rtol: STATE_RTOL,
        floor: 1,
      });
      const state = model.stateDict();
      let compared = 0;
      for (const [name, got] of state) {
        const want = expected.get(`${key}.state.${name}`);
        expect(want, `fixture has ${key}.state.${name}`).toBeDefined();
        expectClose(got, want!, `${key}.state.${name}`, { rtol: STATE_RTOL, floor: 1 });
        compared++;
      }
      expect(compared).toBe(state.size);
    },
  );
});
