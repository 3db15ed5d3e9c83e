import { beforeAll, describe, expect, it } from 'vitest';
import {
  backward,
  F,
  noGrad,
  resnext101_32x8d,
  resnext50_32x4d,
  Tensor,
  type DType,
  type ResNet,
} from '../../src/index.js';
import { expectClose } from '../helpers/assert.js';
import { fixtureSeed, loadFixture, manifest } from '../helpers/fixtures.js';
import { fillSeeded, seededInput, seededLabels } from '../helpers/seeded.js';
import { testBackends, useBackend } from '../helpers/backends.js';

const STATE_RTOL = 1e-4;
const NORM_RTOL = 1e-3;

/** PyTorch's scalar, stored as shape [1], as a 0-d tensor. */
function scalar(t: Tensor<DType>): Tensor {
  return new Tensor(t.dataSync() as Float32Array, [], 'float32');
}

describe.each(testBackends({ includeNhwcAdapter: false }))(
  'torchvision resnext50_32x4d and resnext101_32x8d parity [$name backend]',
  (backend) => {
    useBackend(backend);
    let expected: Map<string, Tensor<DType>>;
    beforeAll(() => {
      expected = loadFixture('resnext50');
    });

    it('matches resnext50_32x4d eval-mode logits at 224x224', () => {
      const c = manifest().cases.resnext50;
      const seed = fixtureSeed();
      const model = fillSeeded(resnext50_32x4d(), seed).eval();
      const x = seededInput(seed, 'resnext50.x_eval', [c.eval_batch, 3, c.image_size, c.image_size]);
      const logits = noGrad(() => model.forward(x));
      expectClose(logits, expected.get('logits_eval')!, 'logits_eval', { rtol: STATE_RTOL, floor: 1 });
    });

    it('matches resnext50_32x4d train-mode logits, loss and every gradient norm at 224x224', () => {
      const c = manifest().cases.resnext50;
      const seed = fixtureSeed();
      const model: ResNet = fillSeeded(resnext50_32x4d(), seed, c.train_residual_scale).train();
      const x = seededInput(seed, 'resnext50.x_train', [c.train_batch, 3, c.image_size, c.image_size]);
      const y = seededLabels(seed, 'resnext50.y_train', c.train_batch, c.classes);
      const logits = model.forward(x);
      expectClose(logits, expected.get('logits_train')!, 'logits_train', { rtol: STATE_RTOL, floor: 1 });
      const loss = F.crossEntropy(logits, y);
      expectClose(loss, scalar(expected.get('loss_train')!), 'loss_train', { rtol: STATE_RTOL, floor: 1 });
      backward(loss);
      const params = model.namedParameters();
      const names = [...expected.keys()].filter((k) => k.startsWith('grad_norm.'));
      expect(names.map((k) => k.slice('grad_norm.'.length)).sort()).toEqual(params.map(([n]) => n).sort());
      const failures: string[] = [];
      for (const [name, p] of params) {
        let sq = 0;
        for (const v of p.grad!.dataSync()) sq += v * v;
        const norm = Math.sqrt(sq);
        const want = expected.get(`grad_norm.${name}`)!.toArray()[0]!;
        if (!(Math.abs(norm - want) <= NORM_RTOL * want)) failures.push(`${name}: ${norm} vs ${want}`);
      }
      expect(failures).toEqual([]);
    });

    it('matches resnext101_32x8d eval-mode logits', () => {
      const c = manifest().cases.resnext101;
      const seed = fixtureSeed();
      const model = fillSeeded(resnext101_32x8d(), seed).eval();
      const x = seededInput(seed, 'resnext101.x_eval', [c.eval_batch, 3, c.image_size, c.image_size]);
      const logits = noGrad(() => model.forward(x));
      const want = loadFixture('resnext101').get('logits_eval')!;
      expectClose(logits, want, 'resnext101 logits_eval', { rtol: STATE_RTOL, floor: 1 });
    });
  },
);
