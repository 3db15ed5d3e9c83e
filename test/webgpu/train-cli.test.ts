/**
 * `resnext train --backend webgpu` in Node: the whole workflow (data, the loop, validation, the
 * run folder) with the model on the WebGPU device, SwiftShader where there is no GPU; the weights
 * it writes load in `resnext predict` on the cpu.
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
  it('trains on the device, writes the run, and its weights predict on the cpu', async () => {
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
    const p = spawnSync(
      process.execPath,
      [bin, 'predict', '--weights', join(out, 'best.safetensors'), '--json', data],
      {
        encoding: 'utf-8',
      },
    );
    expect(p.status, p.stderr).toBe(0);
    const predictions = JSON.parse(p.stdout) as { top: { label: string }[] }[];
    expect(predictions.length).toBe(12);
    for (const r of predictions) expect(['cat', 'dog']).toContain(r.top[0]!.label);
  }, 300_000);
});
