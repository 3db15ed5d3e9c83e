/**
 * The WebGPU parity checks in a real browser: bundled by test/web/webgpu.test.ts (with the package
 * entry mapped to the browser build), loaded by a page, run by `window.runWebGpuSuite`.
 */
import { initWebGpu, parseSafetensors } from '../../src/browser.js';
import {
  compareOpCase,
  opCases,
  tinyForwardBackward,
  tinyOptimizerSteps,
  type Comparison,
  type TinyCase,
} from '../webgpu/parity.js';

export interface SuiteResult {
  name: string;
  comparisons: Comparison[];
  error?: string;
}

export interface SuiteReport {
  adapter: string;
  results: SuiteResult[];
}

async function attempt(name: string, run: () => Promise<Comparison[]>): Promise<SuiteResult> {
  try {
    return { name, comparisons: await run() };
  } catch (error) {
    return { name, comparisons: [], error: String((error as Error).stack ?? error) };
  }
}

async function runWebGpuSuite(
  tiny: TinyCase,
  fixtureUrl: string,
  optimizers: string[],
): Promise<SuiteReport> {
  const context = await initWebGpu();
  const bytes = new Uint8Array(await (await fetch(fixtureUrl)).arrayBuffer());
  const expected = parseSafetensors(bytes, fixtureUrl).tensors;
  const results: SuiteResult[] = [];
  for (const c of opCases) results.push(await attempt(c.name, () => compareOpCase(c)));
  results.push(await attempt('tiny: logits, loss and gradients', () => tinyForwardBackward(tiny, expected)));
  for (const key of optimizers) {
    results.push(await attempt(`tiny: ${key} steps`, () => tinyOptimizerSteps(tiny, key, expected)));
  }
  const a = context.adapter;
  return { adapter: `${a.vendor} ${a.architecture} ${a.description}`.trim(), results };
}

(globalThis as { runWebGpuSuite?: typeof runWebGpuSuite }).runWebGpuSuite = runWebGpuSuite;
