/**
 * A dropped or chosen folder of images, one sub-folder per class (torchvision's ImageFolder):
 * the class of a file is the folder right above it; classes in sorted order, hidden files and
 * folders passed over.
 */
export interface LabelledFile {
  file: File;
  /** Path below the dropped folder, for messages. */
  path: string;
  label: number;
}

export interface ImageFolder {
  classes: string[];
  samples: LabelledFile[];
}

/** Groups files by the folder right above each (`class/name`, `root/class/name`); loose files are left out. */
export function imageFolder(files: readonly { file: File; path: string }[]): ImageFolder {
  const byClass = new Map<string, { file: File; path: string }[]>();
  for (const f of files) {
    const parts = f.path.split('/').filter((p) => p.length > 0);
    if (parts.some((p) => p.startsWith('.')) || parts.length < 2) continue;
    const cls = parts[parts.length - 2]!;
    byClass.set(cls, [...(byClass.get(cls) ?? []), f]);
  }
  const classes = [...byClass.keys()].sort();
  const samples = classes.flatMap((cls, label) =>
    byClass
      .get(cls)!
      .sort((a, b) => (a.path < b.path ? -1 : 1))
      .map((f) => ({ ...f, label })),
  );
  return { classes, samples };
}

/** Files of an <input webkitdirectory>, with their paths. */
export function filesOfInput(input: HTMLInputElement): { file: File; path: string }[] {
  return [...(input.files ?? [])].map((file) => ({ file, path: file.webkitRelativePath || file.name }));
}

/** Files of a drop, folders walked (FileSystemEntry API). */
export async function filesOfDrop(items: DataTransferItemList): Promise<{ file: File; path: string }[]> {
  const entries = [...items].map((i) => i.webkitGetAsEntry()).filter((e): e is FileSystemEntry => e !== null);
  const out: { file: File; path: string }[] = [];
  const walk = async (entry: FileSystemEntry): Promise<void> => {
    if (entry.isFile) {
      const file = await new Promise<File>((resolve, reject) =>
        (entry as FileSystemFileEntry).file(resolve, reject),
      );
      out.push({ file, path: entry.fullPath.replace(/^\//, '') });
    } else if (entry.isDirectory) {
      const reader = (entry as FileSystemDirectoryEntry).createReader();
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((resolve, reject) =>
          reader.readEntries(resolve, reject),
        );
        if (batch.length === 0) break;
        for (const child of batch) await walk(child);
      }
    }
  };
  for (const e of entries) await walk(e);
  return out;
}
