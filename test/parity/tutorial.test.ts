import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  createModel,
  fromTutorialStateDict,
  loadPretrained,
  noGrad,
  saveSafetensors,
  type DType,
  type ResNetConfig,
  type Tensor,
} from '../../src/index.js';
import { expectClose, maxAbsDiff } from '../helpers/assert.js';
import { fixtureSeed, loadFixture, manifest, type TutorialVariant } from '../helpers/fixtures.js';
import { seededInput, seededTensor } from '../helpers/seeded.js';
import { testBackends, useBackend } from '../helpers/backends.js';

const STATE_RTOL = 1e-4;

/** The tutorial's constructor options as this library's config overrides. */
function configOf(options: TutorialVariant['options']): Partial<ResNetConfig> {
  const includeTop = options.include_top ?? true;
  return {
    preact: options.preact ?? false,
    stemBias: options.use_bias ?? true,
    includeTop,
    pooling: includeTop ? 'avg' : (options.pooling ?? null),
  };
}

/** The state dict the tutorial's code holds with the fixture's seeded weights (its own names and shapes). */
function tutorialStateDict(variant: TutorialVariant): Map<string, Tensor<DType>> {
  return new Map(variant.state_dict.map(([name, shape]) => [name, seededTensor(fixtureSeed(), name, shape)]));
}

describe.each(testBackends({ includeNhwcAdapter: false }))(
  "the tutorial's own ResNeXt-50, loaded from its state dict [$name backend]",
  (backend) => {
    useBackend(backend);
    const c = manifest().cases.tutorial;
    it.each(Object.entries(c.variants))('%s: our outputs equal its outputs', (key, variant) => {
      const model = createModel('resnext50_32x4d_tutorial', configOf(variant.options));
      const converted = fromTutorialStateDict(tutorialStateDict(variant));
      expect([...converted.keys()].sort()).toEqual([...model.stateDict().keys()].sort());
      model.loadStateDict(converted);
      const x = seededInput(fixtureSeed(), 'tutorial.x_eval', [c.eval_batch, 3, c.image_size, c.image_size]);
      const out = noGrad(() => model.eval().forward(x));
      expectClose(out, loadFixture('tutorial').get(`${key}.out_eval`)!, `${key}.out_eval`, {
        rtol: STATE_RTOL,
        floor: 1,
      });
    });
  },
);

describe('tutorial weights', () => {
  it('load through loadPretrained (resnext train --weights) from a safetensors file', async () => {
    const variant = manifest().cases.tutorial.variants.default!;
    const dir = mkdtempSync(join(tmpdir(), 'tutorial-'));
    const path = join(dir, 'tutorial.safetensors');
    const state = tutorialStateDict(variant);
    await saveSafetensors(path, state);
    const model = createModel('resnext50_32x4d_tutorial');
    const result = await loadPretrained(model, path);
    expect(result.headReplaced).toBe(false);
    const expected = fromTutorialStateDict(state);
    const differing = [...model.stateDict()].filter(
      ([name, t]) => maxAbsDiff(t.dataSync(), expected.get(name)!.dataSync()) !== 0,
    );
    expect(differing.map(([name]) => name)).toEqual([]);
  });

  it('name the key they cannot place, and a shared kernel that does not fit its batch norm', () => {
    const state = tutorialStateDict(manifest().cases.tutorial.variants.default!);
    expect(() =>
      fromTutorialStateDict(
        new Map([...state, ['conv2.conv.0.extra.weight', state.get('conv1.conv.weight')!]]),
      ),
    ).toThrow('tutorial weights: unexpected key "conv2.conv.0.extra.weight"');
    const broken = new Map(state);
    broken.delete('conv2.conv.0.conv2.norm.0.weight');
    expect(() => fromTutorialStateDict(broken)).toThrow(
      /"conv2\.conv\.0\.conv2\.conv\.weight" \[4, 4, 3, 3\]/,
    );
  });
});
