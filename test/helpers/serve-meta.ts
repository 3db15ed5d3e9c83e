import type { ModelMeta } from '../../src/train/meta.js';

/** The model description the endpoint tests serve: resnext_tiny on 32x32 images, 6 classes. */
export const tinyServeMeta: ModelMeta = {
  arch: 'resnext_tiny',
  classes: ['a', 'b', 'c', 'd', 'e', 'f'],
  inputShape: [3, 32, 32],
  mean: [0.5],
  std: [0.25],
  evalTransforms: [{ type: 'resize', size: [32, 32] }],
};
