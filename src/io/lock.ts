/**
 * An exclusive lock on a folder: a lock file created with O_EXCL that names its holder (pid, host,
 * the process's start time, when). A lock whose holder is gone (no such pid on this host, or the pid
 * now belongs to a process that started later) is stale and is broken; a live one, or one from another
 * host (whose processes cannot be checked from here), refuses the caller with a message naming the
 * holder. Node has no flock(), and a pid-based lock, unlike an mtime-based one, can be broken the
 * moment its holder is killed, so a resume right after a kill -9 need not wait.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, linkSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { processAlive } from '../util/process.js';

export const LOCK_NAME = '.lock';

export interface LockHolder {
  pid: number;
  host: string;
  /** The holder's start time in clock ticks since boot (Linux /proc), or null where unknown. */
  processStart: number | null;
  since: string;
}

export class FolderLockedError extends Error {
  constructor(
    readonly dir: string,
    readonly holder: LockHolder | null,
    purpose: string,
  ) {
    const who = holder
      ? `pid ${holder.pid} on ${holder.host}, since ${holder.since}`
      : 'a holder whose lock file cannot be read';
    super(
      `${dir} is in use by another ${purpose} (${who}); wait for it to finish, or choose another folder. ` +
        `If that process is gone, delete ${join(dir, LOCK_NAME)}.`,
    );
    this.name = 'FolderLockedError';
  }
}

/** Field 22 of /proc/PID/stat (the process's start time), or null where /proc cannot tell. */
function processStartTime(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf-8');
    // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = Number(fields[19]);
    return Number.isFinite(start) ? start : null;
  } catch {
    return null;
  }
}

function readHolder(path: string): LockHolder | null {
  try {
    const h = JSON.parse(readFileSync(path, 'utf-8')) as Partial<LockHolder>;
    if (!Number.isSafeInteger(h.pid) || typeof h.host !== 'string') return null;
    return {
      pid: h.pid!,
      host: h.host,
      processStart: typeof h.processStart === 'number' ? h.processStart : null,
      since: typeof h.since === 'string' ? h.since : '?',
    };
  } catch {
    return null;
  }
}

/** Whether the holder is certainly gone: same host, and its pid dead or reused by a later process. */
function isStale(h: LockHolder): boolean {
  if (h.host !== hostname()) return false;
  if (!processAlive(h.pid)) return true;
  if (h.processStart === null) return false;
  const now = processStartTime(h.pid);
  return now !== null && now !== h.processStart;
}

export class FolderLock {
  private released = false;
  private readonly onExit = (): void => this.release();

  private constructor(readonly path: string) {
    process.once('exit', this.onExit);
  }

  /**
   * Takes the lock on `dir` (which must exist) for `purpose` (named in the refusal), breaking a stale
   * one; `onStale` hears of a broken lock's holder.
   */
  static acquire(dir: string, purpose: string, onStale?: (holder: LockHolder) => void): FolderLock {
    const path = join(dir, LOCK_NAME);
    const me: LockHolder = {
      pid: process.pid,
      host: hostname(),
      processStart: processStartTime(process.pid),
      since: new Date().toISOString(),
    };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = openSync(path, 'wx');
        try {
          writeSync(fd, `${JSON.stringify(me)}\n`);
        } finally {
          closeSync(fd);
        }
        return new FolderLock(path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const holder = readHolder(path);
      if (!holder || !isStale(holder)) throw new FolderLockedError(dir, holder, purpose);
      if (breakStale(path, holder)) onStale?.(holder);
    }
    throw new FolderLockedError(dir, readHolder(path), purpose);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    process.removeListener('exit', this.onExit);
    rmSync(this.path, { force: true });
  }
}

/**
 * Moves a stale lock aside and deletes it. Rename is atomic, so of two processes breaking the same
 * lock one moves it; should the other have moved a fresh lock taken in between, it puts it back.
 */
function breakStale(path: string, stale: LockHolder): boolean {
  const aside = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.broken`;
  try {
    renameSync(path, aside);
  } catch {
    return false;
  }
  const moved = readHolder(aside);
  if (moved && (moved.pid !== stale.pid || moved.since !== stale.since)) {
    try {
      linkSync(aside, path);
    } catch {
      // Another lock was taken meanwhile; that one stands.
    }
    rmSync(aside, { force: true });
    return false;
  }
  rmSync(aside, { force: true });
  return true;
}
