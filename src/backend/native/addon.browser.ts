/** The native addon's loader in the browser build (scripts/browser-build.mjs swaps it in): there is none. */
export type { NativeAddon } from './addon.js';

export function loadAddon(): { addon: null; reason: string } {
  return { addon: null, reason: 'the native addon runs only in Node' };
}
