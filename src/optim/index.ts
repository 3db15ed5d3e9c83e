export { Optimizer, type ParamGroup } from './optimizer.js';
export { SGD, type SGDOptions } from './sgd.js';
