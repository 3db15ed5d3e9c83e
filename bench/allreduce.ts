/**
 * Allreduce bandwidth between the ranks of an MPI job, as data-parallel training uses it: a float32
 * buffer of ResNeXt-50's gradient size summed over the ranks, in 25 MB buckets, repeated; rank 0
 * prints the median time and the bus bandwidth (2 (N - 1) / N x bytes / time, the ring's traffic).
 *   mpirun -np 2 node dist/bench/allreduce.js [--mb 92] [--repeats 10]
 */
import { parseArgs } from 'node:util';
import { joinWorld } from '../src/distributed/world.js';
import { median } from './stats.js';

const { values: args } = parseArgs({
  options: { mb: { type: 'string', default: '92' }, repeats: { type: 'string', default: '10' } },
});
const { world, notice } = joinWorld();
if (notice || world.size < 2) throw new Error(notice ?? 'run under mpirun with 2 or more ranks');
const bytes = Number(args.mb) * 2 ** 20;
const bucket = (25 * 2 ** 20) / 4;
const data = new Float32Array(bytes / 4).fill(world.rank + 1);
const times: number[] = [];
for (let r = 0; r <= Number(args.repeats); r++) {
  const t0 = performance.now();
  for (let i = 0; i < data.length; i += bucket) world.allreduceSum(data.subarray(i, i + bucket));
  if (r > 0) times.push((performance.now() - t0) / 1000);
}
if (world.rank === 0) {
  const t = median(times);
  const bus = ((2 * (world.size - 1)) / world.size) * bytes;
  console.log(
    `${world.size} ranks (${world.library}): allreduce of ${args.mb} MB in ${(t * 1000).toFixed(1)} ms (median of ${times.length}), bus bandwidth ${(bus / t / 1e9).toFixed(2)} GB/s`,
  );
}
