/**
 * Geometry as the flat u32 parameter words of the WGSL kernels. Each kernel's word list is its
 * descriptor's field names (plus the kernel's own extra words); `wordSlots` declares the WGSL
 * constant naming each word's slot, so shaders read `p[conv_inChannels]`, never a bare index.
 */
import type { Conv2dGeometry, Pool2dGeometry, PoolPlanes } from '../../backend.js';

/** A window's words, in the order both the convolution and the pooling words end with. */
const WINDOW_WORDS = [
  'kernelH',
  'kernelW',
  'strideH',
  'strideW',
  'padH',
  'padW',
  'dilationH',
  'dilationW',
] as const satisfies readonly (keyof Conv2dGeometry & keyof Pool2dGeometry)[];

export const CONV_WORDS = [
  'batch',
  'inChannels',
  'inHeight',
  'inWidth',
  'outChannels',
  'outHeight',
  'outWidth',
  ...WINDOW_WORDS,
  'groups',
] as const satisfies readonly (keyof Conv2dGeometry)[];

/** Adaptive pooling has a 1x1 window of stride 1 here; its windows follow from the sizes. */
export const POOL_WORDS = [
  'batch',
  'channels',
  'inHeight',
  'inWidth',
  'outHeight',
  'outWidth',
  ...WINDOW_WORDS,
] as const satisfies readonly (keyof Pool2dGeometry)[];

const WINDOW_DEFAULTS: Omit<Pool2dGeometry, keyof PoolPlanes> = {
  kernelH: 1,
  kernelW: 1,
  strideH: 1,
  strideW: 1,
  padH: 0,
  padW: 0,
  dilationH: 1,
  dilationW: 1,
};

/** Whether pooling geometry has windows (max_pool2d) rather than adaptive cells. */
export function isWindowed(g: PoolPlanes | Pool2dGeometry): g is Pool2dGeometry {
  return 'kernelH' in g;
}

export function convWords(g: Conv2dGeometry): number[] {
  return CONV_WORDS.map((field) => g[field]);
}

export function poolWords(g: PoolPlanes | Pool2dGeometry): number[] {
  const full: Pool2dGeometry = isWindowed(g) ? g : { ...g, ...WINDOW_DEFAULTS };
  return POOL_WORDS.map((field) => full[field]);
}

/** WGSL constants `<prefix>_<name> = <slot>u`, one per word, in the order the words are passed. */
export function wordSlots(prefix: string, names: readonly string[]): string {
  return names.map((name, slot) => `const ${prefix}_${name} = ${slot}u;`).join('\n');
}
