import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { backward, F, noGrad, resnext50_32x4d, Tensor, type DType, type ResNet } from '../../src/index.js';
import { expectClose } from '../helpers/assert.js';
import { fixturePath, loadFixture } from '../helpers/fixtures.js';
import { testBackends, useBackend } from '../helpers/backends.js';

const STATE_RTOL = 1e-4;
/**
 * Gradient norms are compared at 2e-2, not the 1e-3 the fixtures README suggests: this fixture is
 * ill-conditioned. In train mode on a batch of 2 at 64x64, layer4's BatchNorm sees 8 values per channel,
 * which amplifies float32 rounding enormously: ±4 ulp of noise on every conv output (the size of
 * PyTorch's own float32 accumulation error) moves the train logits by 2.6e-4 and gradient norms by
 * up to 1.3e-2 (measured with this engine). The reference backend accumulates in double and lands
 * within 9.2e-3 of every fixture norm; a wrong gradient formula is off by far more. Exact per-tensor
 * gradient parity at 1e-3 is checked on the well-conditioned tiny fixture.
 */
const NORM_RTOL = 2e-2;

describe.each(testBackends({ includeNhwcAdapter: false }))(
  'resnext50_32x4d parity with torchvision [$name backend]',
  (backend) => {
    useBackend(backend);
    let model: ResNet;
    let batch: Map<string, Tensor<DType>>;
    let expected: Map<string, Tensor<DType>>;

    beforeAll(() => {
      model = resnext50_32x4d();
      model.loadStateDict(loadFixture('resnext50', 'weights.safetensors'));
      batch = loadFixture('resnext50', 'batch.safetensors');
      expected = loadFixture('resnext50', 'expected.safetensors');
    });

    it('matches eval-mode logits at 64x64', () => {
      const logits = noGrad(() => model.eval().forward(batch.get('x64') as Tensor));
      expectClose(logits, expected.get('logits_eval_64')!, 'logits_eval_64', { rtol: STATE_RTOL, floor: 1 });
    });

    it('matches eval-mode logits at 224x224', () => {
      const logits = noGrad(() => model.eval().forward(batch.get('x224') as Tensor));
      expectClose(logits, expected.get('logits_eval_224')!, 'logits_eval_224', {
        rtol: STATE_RTOL,
        floor: 1,
      });
    });

    it('matches train-mode logits, loss and the L2 norm of every parameter gradient at 64x64', () => {
      model.train();
      model.zeroGrad();
      const logits = model.forward(batch.get('x64') as Tensor);
      expectClose(logits, expected.get('logits_train_64')!, 'logits_train_64', {
        rtol: STATE_RTOL,
        floor: 1,
      });
      const loss = F.crossEntropy(logits, batch.get('y') as Tensor<'int64'>);
      const wantLoss = expected.get('loss_train_64') as Tensor;
      expectClose(loss, new Tensor(wantLoss.data, [], 'float32'), 'loss_train_64', {
        rtol: STATE_RTOL,
        floor: 1,
      });
      backward(loss);

      const norms = JSON.parse(readFileSync(fixturePath('resnext50', 'grad_norms.json'), 'utf-8')) as Record<
        string,
        number
      >;
      const params = model.namedParameters();
      expect(Object.keys(norms).sort()).toEqual(params.map(([name]) => name).sort());
      const failures: string[] = [];
      for (const [name, p] of params) {
        expect(p.grad, `gradient of ${name}`).not.toBeNull();
        let sq = 0;
        for (const v of p.grad!.data) sq += v * v;
        const norm = Math.sqrt(sq);
        const want = norms[name]!;
        if (!(Math.abs(norm - want) <= NORM_RTOL * want)) failures.push(`${name}: ${norm} vs ${want}`);
      }
      expect(failures).toEqual([]);
    });
  },
);
