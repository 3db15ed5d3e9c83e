/**
 * The vector grouped convolutions at every register width against a double-precision reference:
 * the native check program (native/test/grouped_lanes_check.cc, built with the addon) runs the
 * 8-lane AVX2 kernels, the 16-lane kernels of the AVX-512 variant compiled for AVX2 (so their
 * layouts are checked on any AVX2 CPU), and the AVX-512 build itself where the CPU has AVX-512.
 * Forward runs a second time from the packing it kept, with the weights overwritten.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { nativeInfo } from '../../src/index.js';

const program = resolve(dirname(fileURLToPath(import.meta.url)), '../../build/Release/grouped_lanes_check');
const info = nativeInfo();
if (process.env.RESNEXT_REQUIRE_NATIVE === '1' && !existsSync(program))
  throw new Error(`native check program required but missing: ${program}`);

interface CheckResult {
  instance: string;
  shape: string;
  layout: string;
  op: string;
  error: number | null;
}

describe.runIf(info !== null && info.cpuIsa !== 'portable' && existsSync(program))(
  'grouped convolution vector kernels at 8 and 16 lanes',
  () => {
    const run = spawnSync(program, { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '2' } });
    const report = JSON.parse(run.stdout || '{"results": []}') as { cpuIsa: string; results: CheckResult[] };

    it('takes every shape it is given and runs the instances this CPU supports', () => {
      expect(run.status, run.stderr).toBe(0);
      expect(report.cpuIsa).toBe(info!.cpuIsa);
      const instances = new Set(report.results.map((r) => r.instance));
      const expected = [
        'lanes8_avx2',
        'lanes16_avx2',
        ...(info!.cpuIsa === 'avx512' ? ['lanes16_avx512'] : []),
      ];
      expect([...instances].sort()).toEqual(expected.sort());
      expect(report.results.every((r) => r.error !== null)).toBe(true);
    });

    it('covers each lane layout at each width', () => {
      const layouts = (instance: string): string[] =>
        [...new Set(report.results.filter((r) => r.instance === instance).map((r) => r.layout))].sort();
      expect(layouts('lanes8_avx2')).toEqual(['block', 'diagonal 4']);
      expect(layouts('lanes16_avx2')).toEqual(['block', 'diagonal 4', 'diagonal 8']);
    });

    it('matches the reference forward (also from kept weights), backward-input and backward-weight', () => {
      const worst = report.results.filter((r) => r.error === null || r.error > 2e-6);
      expect(worst, JSON.stringify(worst.slice(0, 5))).toEqual([]);
      expect(report.results.length).toBeGreaterThanOrEqual(15 * 4 * 2);
      const ops = new Set(report.results.map((r) => r.op));
      expect([...ops].sort()).toEqual([
        'backward-input',
        'backward-weight',
        'forward',
        'forward, kept weights',
      ]);
    });
  },
);
