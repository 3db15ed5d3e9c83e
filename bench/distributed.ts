/**
 * Scaling on one machine: the same training (a global batch, one epoch) as 1 rank with every core
 * as threads, and as N ranks under mpirun with cores / N threads each; images/s, and for the ranks
 * the allreduce time and volume per step from the run's epoch line.
 *   npm run bench:distributed                        resnext50_32x4d, Fashion-MNIST 2,560 at 32x32, batch 64
 *   npm run bench:distributed -- --ranks 2 --arch resnext_tiny --subset 10000 --batch 128
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/util/package-root.js';

const { values: args } = parseArgs({
  options: {
    ranks: { type: 'string', default: '2' },
    arch: { type: 'string', default: 'resnext50_32x4d' },
    subset: { type: 'string', default: '2560' },
    batch: { type: 'string', default: '64' },
  },
});
const ranks = Number(args.ranks);
const cores = availableParallelism();
const global = Number(args.batch);
if (global % ranks !== 0) throw new Error(`--batch ${global} does not split over ${ranks} ranks`);
const work = mkdtempSync(join(tmpdir(), 'bench-distributed-'));
const bin = join(packageRoot(), 'bin', 'resnext.js');
const train = (out: string, batch: number): string[] =>
  [bin, 'train', '--data', 'fashion-mnist', '--arch', args.arch, '--image-size', '32'].concat(
    ['--subset', args.subset, '--val-subset', '500', '--epochs', '1', '--optimizer', 'sgd', '--lr', '0.02'],
    ['--batch-size', String(batch), '--workers', '0', '--no-progress', '--out', out],
  );

/** The epoch line's img/s and, for a distributed run, its allreduce seconds and MB per step. */
function epochFigures(stdout: string): { imgPerSec: number; allreduce?: string } {
  const line = /^epoch 1\/1: .*$/m.exec(stdout)?.[0];
  if (!line) throw new Error(`no epoch line in:\n${stdout}`);
  const rate = Number(/\(([\d.]+) img\/s/.exec(line)![1]);
  return { imgPerSec: rate, allreduce: /allreduce ([\d.]+ s, [\d.]+ MB\/step)/.exec(line)?.[1] };
}

const single = spawnSync(process.execPath, train(join(work, 'single'), global), {
  encoding: 'utf-8',
  env: { ...process.env, RESNEXT_THREADS: String(cores) },
});
if (single.status !== 0) throw new Error(single.stderr);
const threads = Math.max(1, Math.floor(cores / ranks));
const mpi = spawnSync(
  'mpirun',
  ['-np', String(ranks), '--oversubscribe', '--bind-to', 'none', '-x', `RESNEXT_THREADS=${threads}`].concat(
    process.execPath,
    train(join(work, 'ranks'), global / ranks),
  ),
  {
    encoding: 'utf-8',
    env: { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' },
  },
);
if (mpi.status !== 0) throw new Error(mpi.stderr + mpi.stdout);
const one = epochFigures(single.stdout);
const many = epochFigures(mpi.stdout);
console.log(`${args.arch}, Fashion-MNIST ${args.subset} at 32x32, one epoch, global batch ${global}:`);
console.log(`  1 rank x ${cores} threads: ${one.imgPerSec.toFixed(1)} img/s`);
console.log(
  `  ${ranks} ranks x ${threads} thread${threads === 1 ? '' : 's'}: ${many.imgPerSec.toFixed(1)} img/s (${(many.imgPerSec / one.imgPerSec).toFixed(2)}x), allreduce ${many.allreduce}`,
);
rmSync(work, { recursive: true, force: true });
