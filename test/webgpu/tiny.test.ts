/** The tiny ResNeXt on WebGPU in Node (Dawn) against the PyTorch fixtures (parity.ts). */
import { describe, expect, it } from 'vitest';
import { fixtureSeed, loadFixture, manifest } from '../helpers/fixtures.js';
import { seededTinyModel, tinyBatch } from '../helpers/tiny.js';
import { webGpu } from '../helpers/webgpu.js';
import { tinyForwardBackward, tinyOptimizerSteps, type Comparison, type TinyCase } from './parity.js';

const context = await webGpu();

function expectAll(comparisons: Comparison[]): void {
  expect(comparisons.length).toBeGreaterThan(0);
  for (const { what, diff, tolerance } of comparisons) {
    expect(diff, `${what}: max |diff| ${diff} vs tolerance ${tolerance}`).toBeLessThanOrEqual(tolerance);
  }
}

describe.skipIf(!context)('tiny ResNeXt parity with PyTorch [webgpu backend]', () => {
  const tiny: TinyCase = { ...manifest().cases.tiny, seed: fixtureSeed() };
  const expected = loadFixture('tiny');

  it('keeps every tensor of the model on the device', () => {
    const model = seededTinyModel().to('webgpu');
    for (const [name, p] of model.namedParameters()) expect(p.device, name).toBe('webgpu');
    expect(model.forward(tinyBatch().x.to('webgpu')).device).toBe('webgpu');
  });

  it('matches eval and train logits, the loss and every parameter gradient', async () => {
    expectAll(await tinyForwardBackward(tiny, expected));
  });

  it.each(Object.keys(tiny.optimizers))(
    'matches the losses and the whole state after the steps of %s',
    async (key) => {
      expectAll(await tinyOptimizerSteps(tiny, key, expected));
    },
  );
});
