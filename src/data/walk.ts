/**
 * Walking image folders as torchvision's ImageFolder does (os.walk with followlinks=True): symbolic
 * links to folders and files are followed, hidden entries are passed over, and entries come in sorted
 * order. Unlike os.walk, a folder reached twice (a link loop, or two links to one folder) is walked
 * once, and a link that leads nowhere is reported rather than dropped silently.
 */
import { lstatSync, readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';

export type EntryKind =
  { kind: 'file' | 'folder' | 'other' } | { kind: 'broken'; reason: string; link: boolean };

/** What `path` is once symbolic links are followed; `broken` says why a link leads nowhere. */
export function entryKind(path: string): EntryKind {
  try {
    const st = statSync(path);
    return { kind: st.isDirectory() ? 'folder' : st.isFile() ? 'file' : 'other' };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    try {
      if (lstatSync(path).isSymbolicLink()) {
        const reason =
          code === 'ELOOP' ? 'symbolic link loop' : `broken symbolic link to ${readlinkSync(path)} (${code})`;
        return { kind: 'broken', reason, link: true };
      }
    } catch {
      // neither the path nor a link to it exists
    }
    return { kind: 'broken', reason: code, link: false };
  }
}

/** Visible entries of a folder, sorted by name (as ImageFolder sorts). */
export function visibleEntries(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => !name.startsWith('.'))
    .sort();
}

export interface WalkResult {
  /** Files below the folder, links followed, in sorted order (depth first). */
  files: string[];
  /** Links that lead nowhere (or loop), with the reason. */
  broken: { file: string; reason: string }[];
}

/** Every file below `dir`, following symbolic links; each real folder is entered once. */
export function walkFiles(dir: string, seen = new Set<string>()): WalkResult {
  const result: WalkResult = { files: [], broken: [] };
  const visit = (folder: string): void => {
    const real = realpathSync(folder);
    if (seen.has(real)) return;
    seen.add(real);
    for (const name of visibleEntries(folder)) {
      const path = join(folder, name);
      const entry = entryKind(path);
      if (entry.kind === 'folder') visit(path);
      else if (entry.kind === 'file') result.files.push(path);
      else if (entry.kind === 'broken') result.broken.push({ file: path, reason: entry.reason });
    }
  };
  visit(dir);
  return result;
}
