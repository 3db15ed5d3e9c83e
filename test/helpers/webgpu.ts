/**
 * The WebGPU device for tests in Node: Dawn (the webgpu package) on the machine's GPU, or on
 * SwiftShader where there is none. CI sets RESNEXT_REQUIRE_WEBGPU=1 so a missing adapter fails rather than skips.
 */
import { initNodeWebGpu } from '../../src/backend/webgpu/node.js';
import type { WebGpuContext } from '../../src/backend/webgpu/index.js';

let context: Promise<WebGpuContext | null> | null = null;
let reason = '';

/** The WebGPU context, or null (with a one-line notice) where none can start and none is required. */
export function webGpu(): Promise<WebGpuContext | null> {
  context ??= initNodeWebGpu({ software: 'fallback' }).catch((error: Error) => {
    reason = error.message;
    if (process.env.RESNEXT_REQUIRE_WEBGPU === '1') throw error;
    process.stderr.write(`webgpu tests skipped: ${reason}\n`);
    return null;
  });
  return context;
}

export function webGpuUnavailableReason(): string {
  return reason;
}
