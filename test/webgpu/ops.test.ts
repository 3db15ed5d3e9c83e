/** Every op's forward and backward on WebGPU in Node (Dawn) against the reference kernels (parity.ts). */
import { describe, expect, it } from 'vitest';
import { webGpu } from '../helpers/webgpu.js';
import { compareOpCase, opCases } from './parity.js';

const context = await webGpu();

describe.skipIf(!context)('webgpu ops against the reference kernels', () => {
  it('reports its adapter', () => {
    expect(context!.adapter.vendor.length + context!.adapter.description.length).toBeGreaterThan(0);
  });

  for (const c of opCases) {
    it(c.name, async () => {
      const comparisons = await compareOpCase(c);
      expect(comparisons.length).toBeGreaterThan(0);
      for (const { what, diff, tolerance } of comparisons) {
        expect(diff, `${what}: max |diff| ${diff} vs tolerance ${tolerance}`).toBeLessThanOrEqual(tolerance);
      }
    });
  }
});
