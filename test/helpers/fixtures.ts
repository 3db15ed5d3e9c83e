/**
 * The PyTorch reference fixtures: test/fixtures/pytorch (the generator's output for seed 0), or the
 * directory in RESNEXT_FIXTURES (the generator's output for another seed). Weights and inputs are not
 * stored: they come from the seeded formula (seeded.ts) with the settings in manifest.json.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSafetensorsSync, type DType, type Tensor } from '../../src/index.js';

const committed = resolve(dirname(fileURLToPath(import.meta.url)), '../fixtures/pytorch');

import type { OptimizerSettings } from './optimizers.js';

/** One optimizer case of the manifest (its settings, as makeOptimizer takes them). */
export type OptimizerCase = OptimizerSettings;

export interface ScheduleCase {
  name: 'onecycle' | 'cosine' | 'step';
  optimizer: 'sgd' | 'adam';
  lr: number;
  momentum?: number;
  pct_start?: number;
  warmup_steps?: number;
  steps_per_epoch?: number;
  step_epochs?: number;
  gamma?: number;
}

export interface TutorialVariant {
  options: { preact?: boolean; use_bias?: boolean; include_top?: boolean; pooling?: 'avg' | 'max' | null };
  state_dict: [string, number[]][];
}

export interface Manifest {
  seed: number;
  torch: string;
  tolerances: { state: number; grad: number; norm: number };
  cases: {
    tiny: {
      image_size: number;
      batch: number;
      /** Which batch of the seeded formula the generator kept (tiny.x.<draw>). */
      draw: number;
      classes: number;
      optimizers: Record<string, OptimizerCase>;
    };
    resnext50: {
      image_size: number;
      eval_batch: number;
      train_batch: number;
      train_residual_scale: number;
      classes: number;
    };
    resnext101: { image_size: number; eval_batch: number; classes: number };
    tutorial: {
      image_size: number;
      eval_batch: number;
      classes: number;
      variants: Record<string, TutorialVariant>;
    };
    cross_entropy: { batch: number; classes: number; label_smoothing: number[] };
    schedules: { steps: number; schedules: Record<string, ScheduleCase> };
  };
}

export function fixturesDir(): string {
  const dir = process.env.RESNEXT_FIXTURES ?? committed;
  if (!existsSync(join(dir, 'manifest.json'))) {
    throw new Error(
      `PyTorch fixtures not found: ${dir} has no manifest.json (RESNEXT_FIXTURES must name a directory written by test/fixtures/generator/generate.py)`,
    );
  }
  return dir;
}

let cachedManifest: { dir: string; manifest: Manifest } | null = null;

export function manifest(): Manifest {
  const dir = fixturesDir();
  if (cachedManifest?.dir !== dir) {
    const parsed = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf-8')) as Manifest;
    cachedManifest = { dir, manifest: parsed };
  }
  return cachedManifest.manifest;
}

/** The seed every weight and input of the fixture set was made from. */
export function fixtureSeed(): number {
  return manifest().seed;
}

/** PyTorch's outputs of one case (tiny, resnext50, ...), by name. */
export function loadFixture(testCase: keyof Manifest['cases']): Map<string, Tensor<DType>> {
  return loadSafetensorsSync(fixturePath(`${testCase}.safetensors`)).tensors;
}

export function fixturePath(file: string): string {
  return join(fixturesDir(), file);
}
