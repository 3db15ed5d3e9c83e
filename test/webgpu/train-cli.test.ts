/**
 * `resnext train --backend webgpu` in Node: the whole workflow (data, the loop, validation, the
 * run folder) with the model on the WebGPU device, SwiftShader where there is no GPU; the weights
 * it writes load in `resnext predict` and `resnext eval` on the cpu, and on the device give the
 * same probabilities and metrics.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { makeImageFolder } from '../helpers/image-folder.js';
import { webGpu } from '../helpers/webgpu.js';

const bin = resolve(dirname(fileURLToPath(import.meta.url)), '../../bin/resnext.js');
const context = await webGpu();
const env = {
  ...process.env,
  ...(context?.adapter.architecture === 'swiftshader' ? { RESNEXT_WEBGPU_SOFTWARE: '1' } : {}),
};

describe.skipIf(!context)('resnext train --backend webgpu', () => {
  it('trains on the device, writes the run; predict and eval agree on the cpu and the device', async () => {
    const data = await makeImageFolder(['cat', 'dog'], 6, 24);
    const out = join(mkdtempSync(join(tmpdir(), 'webgpu-cli-')), 'run');
    const args = ['train', '--data', data, '--arch', 'resnext_tiny', '--image-size', '32', '--epochs', '2'];
    const t = spawnSync(
      process.execPath,
      [
        bin,
        ...args,
        '--batch-size',
        '4',
        '--workers',
        '0',
        '--out',
        out,
        '--no-progress',
        '--backend',
        'webgpu',
      ],
      { encoding: 'utf-8', env },
    );
    expect(t.status, t.stderr).toBe(0);
    expect(t.stdout).toContain('backend webgpu');
    expect(t.stdout).toMatch(/epoch 2\/2: train loss \d/);
    const history = JSON.parse(readFileSync(join(out, 'history.json'), 'utf-8')) as { epoch: number }[];
    expect(history.map((h) => h.epoch)).toEqual([1, 2]);
    const weights = join(out, 'best.safetensors');
    const run = (command: string[]): string => {
      const r = spawnSync(process.execPath, [bin, ...command], { encoding: 'utf-8', env });
      expect(r.status, `${command.join(' ')}: ${r.stderr}`).toBe(0);
      return r.stdout;
    };
    type Predictions = { file: string; top: { label: string; probability: number }[] }[];
    const onCpu = JSON.parse(run(['predict', '--weights', weights, '--json', data])) as Predictions;
    expect(onCpu.length).toBe(12);
    for (const r of onCpu) expect(['cat', 'dog']).toContain(r.top[0]!.label);
    const onGpu = JSON.parse(
      run(['predict', '--weights', weights, '--json', '--backend', 'webgpu', data]),
    ) as Predictions;
    expect(onGpu.map((r) => r.file)).toEqual(onCpu.map((r) => r.file));
    const byLabel = (r: Predictions[number]): Map<string, number> =>
      new Map(r.top.map((t) => [t.label, t.probability]));
    onCpu.forEach((cpu, i) => {
      const gpu = byLabel(onGpu[i]!);
      for (const [label, p] of byLabel(cpu)) expect(Math.abs(gpu.get(label)! - p)).toBeLessThan(1e-4);
    });
    type Evaluation = { images: number; loss: number; top1: number; confusion: number[][] };
    const evalCpu = JSON.parse(run(['eval', '--weights', weights, '--data', data, '--json'])) as Evaluation;
    const evalGpu = JSON.parse(
      run(['eval', '--weights', weights, '--data', data, '--json', '--backend', 'webgpu']),
    ) as Evaluation;
    expect(evalGpu.images).toBe(12);
    expect(Math.abs(evalGpu.loss - evalCpu.loss)).toBeLessThan(1e-4 * Math.max(1, evalCpu.loss));
    expect(evalGpu.top1).toBe(evalCpu.top1);
    expect(evalGpu.confusion).toEqual(evalCpu.confusion);
  }, 300_000);
});
