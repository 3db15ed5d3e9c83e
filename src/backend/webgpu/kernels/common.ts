/**
 * WGSL building blocks shared by the kernel files. Conventions: every kernel has one entry point
 * `main`; storage bindings 0..n-1 in the order the backend passes buffers; then the parameter
 * words `p` (u32; floats bit-cast, read with pf()). One-dimensional kernels run 256 threads per
 * workgroup over a 2-D grid of workgroups (gridFor), flattened by `flatIndex`.
 */
import type { Kernel } from '../runtime.js';

export function paramsAt(binding: number): string {
  return `@group(0) @binding(${binding}) var<storage, read> p: array<u32>;
fn pf(i: u32) -> f32 { return bitcast<f32>(p[i]); }`;
}

/** `read` or `read_write` storage arrays of f32 (or i32 with a `:i32` suffix on the name). */
export function bindings(names: readonly string[]): string {
  return names
    .map((spec, i) => {
      const [rw, rest] = spec.startsWith('out ') ? ['read_write', spec.slice(4)] : ['read', spec];
      const [name, type = 'f32'] = rest.split(':');
      return `@group(0) @binding(${i}) var<storage, ${rw}> ${name}: array<${type}>;`;
    })
    .join('\n');
}

/**
 * A kernel with one thread per index i < p[0]; `body` uses `i` (u32). The parameter words after
 * p[0] are the kernel's own.
 */
export function perElement(name: string, buffers: readonly string[], body: string, helpers = ''): Kernel {
  return {
    name,
    code: `${bindings(buffers)}
${paramsAt(buffers.length)}
${helpers}
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = gid.x + gid.y * nw.x * 256u;
  if (i >= p[0]) { return; }
${body}
}`,
  };
}

/** Caches one set of kernels per runtime (pipelines are compiled once per device). */
export function perRuntime<R extends object, T>(make: (runtime: R) => T): (runtime: R) => T {
  const cache = new WeakMap<R, T>();
  return (runtime) => {
    let value = cache.get(runtime);
    if (value === undefined) {
      value = make(runtime);
      cache.set(runtime, value);
    }
    return value;
  };
}
