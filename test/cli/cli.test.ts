import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const bin = resolve(dirname(fileURLToPath(import.meta.url)), '../../bin/resnext.js');
const run = (...args: string[]): { code: number | null; out: string; err: string } => {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf-8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

describe('resnext CLI', () => {
  it('prints the torchsummary table for resnext50_32x4d at 3x224x224', () => {
    const { code, out } = run('summary', '--arch', 'resnext50_32x4d', '--input', '3,224,224');
    expect(code).toBe(0);
    expect(out).toContain('            Conv2d-1         [-1, 64, 112, 112]           9,408');
    expect(out).toContain('Total params: 25,028,904');
    expect(out).toContain('Input size (MB): 0.57');
    expect(out).toContain('Params size (MB): 95.48');
  });

  it('replaces the head with --classes', () => {
    const { out } = run('summary', '--classes', '10', '--input', '3,64,64');
    expect(out).toContain('Linear-174                   [-1, 10]          20,490');
    expect(out).toContain('Total params: 23,000,394');
  });

  it('lists the architectures', () => {
    const { code, out } = run('models');
    expect(code).toBe(0);
    expect(out).toMatch(/resnext101_32x8d\s+88,791,336 params/);
  });

  it('explains bad flags and exits non-zero', () => {
    const arch = run('summary', '--arch', 'resnext51');
    expect(arch.code).not.toBe(0);
    expect(arch.err).toContain(
      "argument 'resnext51' is invalid. Allowed choices are resnet50, resnext50_32x4d",
    );
    const input = run('summary', '--input', '3,224');
    expect(input.code).toBe(1);
    expect(input.err).toContain('--input must be C,H,W (three numbers), got 3,224');
    const bad = run('summary', '--input', 'abc');
    expect(bad.code).not.toBe(0);
    expect(bad.err).toContain(
      '--input must be positive integers separated by commas (e.g. 3,224,224), got "abc"',
    );
    const classes = run('summary', '--classes', '0');
    expect(classes.err).toContain('--classes must be a positive integer, got "0"');
  });

  it('prints help', () => {
    const { code, out } = run('--help');
    expect(code).toBe(0);
    expect(out).toContain('summary');
    expect(out).toContain('models');
  });
});

describe('without the native addon', () => {
  it('runs on the TypeScript kernels and says so once', () => {
    const r = spawnSync(process.execPath, [bin, 'summary', '--arch', 'resnext_tiny', '--input', '3,32,32'], {
      encoding: 'utf-8',
      env: { ...process.env, RESNEXT_ADDON_PATH: '/nonexistent/resnext_native.node', RESNEXT_BACKEND: '' },
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Total params: 426,680');
    const notices = r.stderr.split('\n').filter((l) => l.includes('native kernels unavailable'));
    expect(notices.length).toBe(1);
    expect(notices[0]).toContain('/nonexistent/resnext_native.node is not built');
    expect(notices[0]).toContain('using the TypeScript kernels');
  });
});
