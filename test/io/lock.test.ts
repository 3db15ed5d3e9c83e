import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FolderLock, FolderLockedError, LOCK_NAME, type LockHolder } from '../../src/io/lock.js';

const folder = (): string => mkdtempSync(join(tmpdir(), 'lock-'));
const plant = (dir: string, holder: Partial<LockHolder>): void =>
  writeFileSync(join(dir, LOCK_NAME), JSON.stringify({ host: hostname(), since: 'then', ...holder }));

describe('FolderLock', () => {
  it('is exclusive while held, names its holder, and is free again once released', () => {
    const dir = folder();
    const lock = FolderLock.acquire(dir, 'test');
    const holder = JSON.parse(readFileSync(join(dir, LOCK_NAME), 'utf-8')) as LockHolder;
    expect(holder.pid).toBe(process.pid);
    expect(holder.host).toBe(hostname());
    expect(() => FolderLock.acquire(dir, 'training run')).toThrow(
      new RegExp(`^${dir} is in use by another training run \\(pid ${process.pid} on ${hostname()}, since `),
    );
    lock.release();
    expect(existsSync(join(dir, LOCK_NAME))).toBe(false);
    FolderLock.acquire(dir, 'test').release();
  });

  it('breaks the lock of a process that is gone, or whose pid a later process now has', () => {
    const dir = folder();
    const broken: number[] = [];
    plant(dir, { pid: 999_999_999, processStart: null });
    FolderLock.acquire(dir, 'test', (h) => broken.push(h.pid)).release();
    // This process's pid with another start time: the pid was reused, the holder is gone.
    plant(dir, { pid: process.pid, processStart: 1 });
    FolderLock.acquire(dir, 'test', (h) => broken.push(h.pid)).release();
    expect(broken).toEqual([999_999_999, process.pid]);
  });

  it('refuses a lock from another host or one it cannot read, and says how to clear it', () => {
    const dir = folder();
    plant(dir, { pid: 999_999_999, host: 'elsewhere', processStart: null });
    expect(() => FolderLock.acquire(dir, 'test')).toThrow(FolderLockedError);
    expect(() => FolderLock.acquire(dir, 'test')).toThrow(
      `(pid 999999999 on elsewhere, since then); wait for it to finish, or choose another folder. If that process is gone, delete ${join(dir, LOCK_NAME)}.`,
    );
    writeFileSync(join(dir, LOCK_NAME), 'garbage');
    expect(() => FolderLock.acquire(dir, 'test')).toThrow('a holder whose lock file cannot be read');
  });
});
