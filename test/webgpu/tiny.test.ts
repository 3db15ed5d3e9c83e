/**
 * The tiny ResNeXt on the WebGPU backend against the PyTorch fixtures, at the tolerances of the
 * other backends: eval and train logits, the loss, every parameter gradient, and the losses and
 * whole state (BN buffers included) after the steps of each optimizer case.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  Adam,
  AdamW,
  backward,
  F,
  noGrad,
  SGD,
  Tensor,
  type DType,
  type Parameter,
} from '../../src/index.js';
import { expectClose } from '../helpers/assert.js';
import { loadFixture, manifest, type OptimizerCase } from '../helpers/fixtures.js';
import { seededTinyModel, tinyBatch } from '../helpers/tiny.js';
import { webGpu } from '../helpers/webgpu.js';

const STATE_RTOL = 1e-4;
const GRAD_RTOL = 1e-3;
const context = await webGpu();

function makeOptimizer(params: Parameter[], c: OptimizerCase): { zeroGrad(): void; step(): void } {
  switch (c.optimizer) {
    case 'SGD':
      return new SGD(params, {
        lr: c.lr,
        momentum: c.momentum ?? 0,
        nesterov: c.nesterov ?? false,
        weightDecay: c.weight_decay,
      });
    case 'Adam':
      return new Adam(params, { lr: c.lr, eps: c.eps, weightDecay: c.weight_decay });
    case 'AdamW':
      return new AdamW(params, { lr: c.lr, eps: c.eps, weightDecay: c.weight_decay });
  }
}

describe.skipIf(!context)('tiny ResNeXt parity with PyTorch [webgpu backend]', () => {
  let x: Tensor;
  let y: Tensor<'int64'>;
  let expected: Map<string, Tensor<DType>>;

  beforeAll(() => {
    const batch = tinyBatch();
    x = batch.x.to('webgpu');
    y = batch.y;
    expected = loadFixture('tiny');
  });

  it('keeps every tensor of the model on the device', () => {
    const model = seededTinyModel().to('webgpu');
    for (const [name, p] of model.namedParameters()) expect(p.device, name).toBe('webgpu');
    expect(model.forward(x).device).toBe('webgpu');
  });

  it('matches eval-mode logits', async () => {
    const model = seededTinyModel().eval().to('webgpu');
    const logits = await noGrad(() => model.forward(x)).cpu();
    expectClose(logits, expected.get('logits_eval')!, 'logits_eval', { rtol: STATE_RTOL, floor: 1 });
  });

  it('matches train-mode logits, loss and every parameter gradient', async () => {
    const model = seededTinyModel().train().to('webgpu');
    const logits = model.forward(x);
    expectClose(await logits.cpu(), expected.get('logits_train')!, 'logits_train', {
      rtol: STATE_RTOL,
      floor: 1,
    });
    const loss = F.crossEntropy(logits, y);
    const wantLoss = expected.get('loss_train')!;
    expectClose(await loss.cpu(), new Tensor(wantLoss.dataSync(), [], wantLoss.dtype), 'loss_train', {
      rtol: STATE_RTOL,
      floor: 1,
    });
    backward(loss);
    await model.cpu();
    for (const [name, p] of model.namedParameters()) {
      expect(p.grad, `gradient of ${name}`).not.toBeNull();
      expectClose(p.grad!, expected.get(`grad.${name}`)!, `grad.${name}`, { rtol: GRAD_RTOL });
    }
  });

  const optimizers = Object.entries(manifest().cases.tiny.optimizers);
  it.each(optimizers)(
    'matches the losses and the whole state after the steps of %s',
    async (key, settings) => {
      const model = seededTinyModel().train().to('webgpu');
      const optimizer = makeOptimizer(model.parameters(), settings);
      const losses: Tensor[] = [];
      for (let step = 0; step < settings.steps; step++) {
        optimizer.zeroGrad();
        const loss = F.crossEntropy(model.forward(x), y);
        losses.push(loss.clone());
        backward(loss);
        optimizer.step();
      }
      const values = await Promise.all(losses.map(async (l) => (await l.data())[0]!));
      expectClose(Tensor.fromArray(values), expected.get(`${key}.losses`)!, `${key}.losses`, {
        rtol: STATE_RTOL,
        floor: 1,
      });
      await model.cpu();
      const state = model.stateDict();
      for (const [name, got] of state) {
        expectClose(got, expected.get(`${key}.state.${name}`)!, `${key}.state.${name}`, {
          rtol: STATE_RTOL,
          floor: 1,
        });
      }
    },
  );
});
