export { Optimizer, type ParamGroup } from './optimizer.js';
export { SGD, type SGDOptions } from './sgd.js';
export { Adam, AdamW, type AdamOptions } from './adam.js';
export { LRSchedule, type ScheduleName, type ScheduleOptions } from './schedule.js';
