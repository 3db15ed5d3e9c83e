export { backward } from './backward.js';
export { noGrad, inferenceMode, isGradEnabled, setGradEnabled } from './grad-mode.js';
export { record, needsGrad, type GradNode, type BackwardFn } from './node.js';
