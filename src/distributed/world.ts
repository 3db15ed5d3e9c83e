/**
 * The ranks of a data-parallel run. Under `mpirun` (Open MPI sets OMPI_COMM_WORLD_SIZE) every process
 * joins MPI_COMM_WORLD through the resnext_mpi addon; otherwise, or with one rank, the world is this
 * process alone and every collective is the identity, so single-process training is unchanged.
 * RESNEXT_MPI_ADDON names another build of the addon. Collectives are bounded by a timeout (RESNEXT_MPI_TIMEOUT_S, default 600 s): a rank whose peer
 * hangs fails with a message instead of waiting for ever.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../util/package-root.js';

type Floats = Float32Array | Float64Array;

export interface World {
  readonly rank: number;
  readonly size: number;
  /** The rank among those on this machine (one per socket or GPU is how they are placed). */
  readonly localRank: number;
  /** The MPI library, e.g. "Open MPI v4.1.4"; null for a single process. */
  readonly library: string | null;
  /** Sums `values` over the ranks, in place. */
  allreduceSum(values: Floats): void;
  /** The largest of `values` over the ranks, in place. */
  allreduceMax(values: Float64Array): void;
  /** Copies rank `root`'s `values` to every rank, in place. */
  broadcast(values: Floats | Uint8Array, root: number): void;
  /** Ends every rank of the job with `code` (MPI_Abort): nobody waits on a rank that failed. */
  abort(code: number): never;
}

interface MpiAddon {
  init():
    | { available: false }
    | { available: true; rank: number; size: number; localRank: number; library: string };
  allreduceSum(values: Floats, timeoutMs: number): void;
  allreduceMax(values: Float64Array, timeoutMs: number): void;
  broadcast(values: Floats | Uint8Array, root: number, timeoutMs: number): void;
  abort(code: number): never;
  finalize(): void;
}

export const SINGLE_PROCESS: World = {
  rank: 0,
  size: 1,
  localRank: 0,
  library: null,
  allreduceSum: () => undefined,
  allreduceMax: () => undefined,
  broadcast: () => undefined,
  abort: (code) => process.exit(code),
};

/** How many ranks the launcher started, from its environment (1 when not launched by mpirun). */
export function launchedRanks(env: NodeJS.ProcessEnv = process.env): number {
  const size = Number(env.OMPI_COMM_WORLD_SIZE ?? env.PMIX_SIZE ?? env.PMI_SIZE ?? 1);
  return Number.isInteger(size) && size > 0 ? size : 1;
}

/** This process's rank as the launcher numbered it (0 when not launched by mpirun). */
export function launchedRank(env: NodeJS.ProcessEnv = process.env): number {
  const rank = Number(env.OMPI_COMM_WORLD_RANK ?? env.PMIX_RANK ?? env.PMI_RANK ?? 0);
  return Number.isInteger(rank) && rank >= 0 ? rank : 0;
}

let joined: { world: World; notice: string | null } | null = null;

function loadAddon(): MpiAddon | null {
  const path = process.env.RESNEXT_MPI_ADDON ?? join(packageRoot(), 'build', 'Release', 'resnext_mpi.node');
  if (!existsSync(path)) return null;
  return createRequire(import.meta.url)(path) as MpiAddon;
}

/**
 * This process's world (joined once). `notice` explains a fall-back: launched on several ranks but
 * built without MPI, each process would train alone, so only the launcher's rank 0 trains.
 */
export function joinWorld(): { world: World; notice: string | null } {
  if (joined) return joined;
  const ranks = launchedRanks();
  if (ranks <= 1) return (joined = { world: SINGLE_PROCESS, notice: null });
  const addon = loadAddon();
  const info = addon?.init();
  if (!addon || !info?.available) {
    return (joined = {
      world: SINGLE_PROCESS,
      notice: `launched on ${ranks} ranks, but resnext was built without MPI (install libopenmpi-dev and rebuild: npm run build:native); rank 0 trains alone`,
    });
  }
  const timeoutMs = 1000 * Number(process.env.RESNEXT_MPI_TIMEOUT_S ?? 600);
  const world: World = {
    rank: info.rank,
    size: info.size,
    localRank: info.localRank,
    library: info.library,
    allreduceSum: (values) => addon.allreduceSum(values, timeoutMs),
    allreduceMax: (values) => addon.allreduceMax(values, timeoutMs),
    broadcast: (values, root) => addon.broadcast(values, root, timeoutMs),
    abort: (code) => addon.abort(code),
  };
  process.once('exit', () => addon.finalize());
  return (joined = { world, notice: null });
}
