export {
  parseSafetensors,
  serializeSafetensors,
  loadSafetensors,
  loadSafetensorsSync,
  saveSafetensors,
  SafetensorsError,
  MAX_HEADER_BYTES,
  type SafetensorsContent,
  type SafetensorsDType,
  type FloatStorage,
  type SerializeOptions,
} from './safetensors.js';
export { writeFileAtomic, writeFileAtomicSync } from './atomic.js';
export { FolderLock, FolderLockedError, LOCK_NAME, type LockHolder } from './lock.js';
