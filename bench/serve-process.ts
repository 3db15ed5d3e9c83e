/**
 * `resnext serve` in a process of its own for the benchmarks and the screenshot, and the seeded
 * weights they serve when given none: an ImageNet-shaped model (1,000 classes, 224x224).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createModel, saveCheckpoint } from '../src/index.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../src/models/registry.js';
import { packageRoot } from '../src/util/package-root.js';

/** Writes seeded `arch` weights with ImageNet metadata to `dir`/model.safetensors; returns the path. */
export async function seededWeights(arch: string, dir: string): Promise<string> {
  const path = join(dir, 'model.safetensors');
  await saveCheckpoint(path, createModel(arch).stateDict(), {
    arch,
    classes: Array.from({ length: 1000 }, (_, i) => `class${i}`),
    inputShape: [3, 224, 224],
    mean: [...IMAGENET_MEAN],
    std: [...IMAGENET_STD],
    evalTransforms: [{ type: 'resize', size: [224, 224] }],
  });
  return path;
}

/** Starts `resnext serve --weights weights --port 0 ...extra`; resolves once it listens. */
export async function startServer(
  weights: string,
  extra: string[] = [],
): Promise<{ process: ChildProcess; url: string }> {
  const server = spawn(
    process.execPath,
    [join(packageRoot(), 'bin', 'resnext.js'), 'serve', '--weights', weights, '--port', '0', ...extra],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    server.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /on (http:\/\/[^:]+:\d+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    server.on('exit', () => reject(new Error(`serve exited: ${out}`)));
  });
  return { process: server, url };
}
