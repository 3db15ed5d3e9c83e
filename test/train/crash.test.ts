/**
 * Crash safety: a training process killed with SIGKILL at random moments, and the moment a
 * checkpoint write begins, leaves only loadable, finite checkpoints behind, and resuming after each
 * kill reaches the configured end with the history of a run that was never interrupted.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../../src/index.js';
import { firstNonFinite } from '../../src/train/checkpoint.js';
import { Generator } from '../../src/tensor/rng.js';
import { makeImageFolder } from '../helpers/image-folder.js';

const bin = resolve(dirname(fileURLToPath(import.meta.url)), '../../bin/resnext.js');

const EPOCHS = 8;
const trainArgs = (data: string, out: string): string[] => [
  ...['train', '--data', data, '--arch', 'resnext_tiny', '--image-size', '32', '--epochs', String(EPOCHS)],
  ...['--batch-size', '8', '--optimizer', 'sgd', '--lr', '0.01', '--workers', '0', '--out', out],
  '--no-progress',
];

/** Runs the command to the end or until `kill` says so; returns how it ended. */
function runUntil(args: string[], kill: (child: ReturnType<typeof spawn>) => () => void): Promise<string> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const stop = kill(child);
    child.on('exit', (code, signal) => {
      stop();
      done(`${signal ?? code}\n${output}`);
    });
  });
}

/** Every checkpoint in `out` loads and holds finite values only. */
async function expectGoodCheckpoints(out: string): Promise<void> {
  for (const name of ['last.safetensors', 'best.safetensors']) {
    const path = join(out, name);
    if (!existsSync(path)) continue;
    const ckpt = await loadCheckpoint(path);
    expect(ckpt.meta?.arch, path).toBe('resnext_tiny');
    expect(firstNonFinite(ckpt.model), path).toBeNull();
    expect(firstNonFinite(ckpt.optimizer), path).toBeNull();
  }
}

type Record_ = { epoch: number; trainLoss: number; trainAcc: number; valLoss: number; valAcc: number };
const losses = (out: string): number[][] =>
  (JSON.parse(readFileSync(join(out, 'history.json'), 'utf-8')) as Record_[]).map((r) => [
    r.epoch,
    r.trainLoss,
    r.trainAcc,
    r.valLoss,
    r.valAcc,
  ]);

describe('crash safety', () => {
  it('survives kill -9 at random moments and during checkpoint writes; --resume ends as an uninterrupted run', async () => {
    const data = await makeImageFolder(['circle', 'square', 'triangle'], 10, 24);
    const root = mkdtempSync(join(tmpdir(), 'crash-'));
    const reference = join(root, 'reference');
    const whole = spawnSync(process.execPath, [bin, ...trainArgs(data, reference)], { encoding: 'utf-8' });
    expect(whole.status, whole.stderr).toBe(0);

    const out = join(root, 'killed');
    // Made first, so that it can be watched even if the first kill lands before the run makes it.
    mkdirSync(out);
    const finished = (): boolean => existsSync(join(out, 'history.json')) && losses(out).length === EPOCHS;
    const next = (): string[] =>
      existsSync(join(out, 'last.safetensors'))
        ? ['train', '--resume', out, '--no-progress']
        : trainArgs(data, out);
    const rng = new Generator(7);
    const kills = { random: 0, write: 0 };
    for (let k = 0; k < 10 && !finished(); k++) {
      const atWrite = k % 2 === 1;
      const end = await runUntil(next(), (child) => {
        if (!atWrite) {
          // At a random moment: start-up, a training step, validation or a write. A fresh run
          // needs longer than the longest delay, so the first kill always lands.
          const timer = setTimeout(() => child.kill('SIGKILL'), 400 + rng.randint(1500));
          return () => clearTimeout(timer);
        }
        // The moment an atomic write of a checkpoint or the history begins.
        const watcher = watch(out, (_event, name) => {
          if (name && /^\.(last\.safetensors|best\.safetensors|history\.json)\..*\.tmp$/.test(name))
            child.kill('SIGKILL');
        });
        return () => watcher.close();
      });
      if (end.startsWith('SIGKILL')) kills[atWrite ? 'write' : 'random']++;
      await expectGoodCheckpoints(out);
    }
    expect(kills.random).toBeGreaterThanOrEqual(1);
    expect(kills.write).toBeGreaterThanOrEqual(1);

    const last = spawnSync(process.execPath, [bin, ...next()], { encoding: 'utf-8' });
    expect(last.status, last.stdout + last.stderr).toBe(0);
    expect(losses(out).length).toBe(EPOCHS);
    await expectGoodCheckpoints(out);
    expect(losses(out)).toEqual(losses(reference));
    expect(readdirSync(out).filter((n) => n.endsWith('.tmp') || n === '.lock')).toEqual([]);
  });
});
