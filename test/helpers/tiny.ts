import { createModel, type ResNet, type Tensor } from '../../src/index.js';
import { fixtureSeed, manifest } from './fixtures.js';
import { fillSeeded, seededInput, seededLabels } from './seeded.js';

/** The tiny fixture network (resnext_tiny with 5 classes), freshly initialised. */
export function tinyModel(): ResNet {
  return createModel('resnext_tiny', { numClasses: 5 });
}

/** The tiny network with the fixture set's seeded weights. */
export function seededTinyModel(): ResNet {
  return fillSeeded(tinyModel(), fixtureSeed());
}

/** The fixture set's batch for the tiny network (the generator's `draw`): x [N, 3, S, S], y [N]. */
export function tinyBatch(): { x: Tensor; y: Tensor<'int64'> } {
  const { batch, draw, image_size: size, classes } = manifest().cases.tiny;
  const seed = fixtureSeed();
  return {
    x: seededInput(seed, `tiny.x.${draw}`, [batch, 3, size, size]),
    y: seededLabels(seed, `tiny.y.${draw}`, batch, classes),
  };
}
