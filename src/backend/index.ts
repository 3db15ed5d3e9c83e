import type { AcceleratorDevice, Device, DeviceBuffer } from '../tensor/device.js';
import type { DType } from '../tensor/dtype.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Backend } from './backend.js';
import { nativeBackend, nativeUnavailableReason } from './native/index.js';
import { tsBackend } from './ts/index.js';

export type * from './backend.js';
export { tsBackend };
export {
  nativeBackend,
  nativeInfo,
  nativeUnavailableReason,
  setNativeThreads,
  releaseFreeMemory,
  setKernelIsa,
  sgemmGflops,
  type KernelIsa,
  type NativeInfo,
} from './native/index.js';

let current: Backend | null = null;

/**
 * The backend that ops dispatch to. Chosen on first use: native when the addon loads, unless
 * RESNEXT_BACKEND=ts; otherwise the TypeScript kernels, with a one-line notice of why.
 */
export function getBackend(): Backend {
  if (current === null) current = defaultBackend();
  return current;
}

/** Switches the backend for all subsequent ops; returns the previous one. */
export function setBackend(backend: Backend): Backend {
  const previous = getBackend();
  current = backend;
  return previous;
}

/** Selects a backend by name ('native' or 'ts'); 'native' throws with the reason when unavailable. */
export function useBackend(name: 'native' | 'ts'): Backend {
  if (name === 'ts') return setBackend(tsBackend);
  const native = nativeBackend();
  if (!native) throw new Error(`the native backend is unavailable: ${nativeUnavailableReason()}`);
  return setBackend(native);
}

/** Node's process where there is one (the browser build has none). */
const host = (
  globalThis as { process?: { env: Record<string, string | undefined>; stderr?: { write(s: string): void } } }
).process;

function defaultBackend(): Backend {
  const requested = host?.env.RESNEXT_BACKEND;
  if (requested === 'ts') return tsBackend;
  const native = nativeBackend();
  if (native) return native;
  if (requested === 'native') {
    throw new Error(
      `RESNEXT_BACKEND=native, but the native backend is unavailable: ${nativeUnavailableReason()}`,
    );
  }
  host?.stderr?.write(
    `resnext: native kernels unavailable (${nativeUnavailableReason()}); using the TypeScript kernels\n`,
  );
  return tsBackend;
}

/** What ops hand to kernels: a host array or a device buffer, per the tensors' device. */
export type KernelBuffer = Float32Array | DeviceBuffer;
export type KernelIndices = Int32Array | DeviceBuffer;
/** A backend as ops see it, whichever device it serves. */
export type AnyBackend = Backend<KernelBuffer, KernelIndices>;
export type DeviceBackend = Backend<DeviceBuffer, DeviceBuffer>;

const deviceBackends = new Map<AcceleratorDevice, DeviceBackend>();

/** Makes `backend` serve the tensors on its device (done by the device's init, e.g. initWebGpu()). */
export function registerDeviceBackend(backend: DeviceBackend): void {
  if (backend.device === 'cpu') throw new Error('the cpu backend is chosen with setBackend/useBackend');
  deviceBackends.set(backend.device, backend);
}

/** The backend serving `device`: the current host backend for the cpu. */
export function backendOn(device: Device): AnyBackend {
  if (device === 'cpu') return getBackend() as AnyBackend;
  const backend = deviceBackends.get(device);
  if (!backend) throw new Error(`no backend serves device "${device}": initialise it first (initWebGpu())`);
  return backend as AnyBackend;
}

/**
 * The backend for an op's tensors, which must all be on one device (as PyTorch requires);
 * null/undefined entries (absent optional inputs) are skipped.
 */
export function backendFor(op: string, ...tensors: (Tensor<DType> | null | undefined)[]): AnyBackend {
  let device: Device | null = null;
  for (const t of tensors) {
    if (!t || t.isMeta) continue;
    if (device === null) device = t.device;
    else if (t.device !== device) {
      const devices = tensors.filter((x) => x && !x.isMeta).map((x) => x!.device);
      throw new Error(
        `${op}: expected all tensors on one device, got ${devices.join(', ')} (move them with .to(device))`,
      );
    }
  }
  return backendOn(device ?? 'cpu');
}
