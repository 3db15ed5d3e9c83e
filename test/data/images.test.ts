import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { data } from '../../src/index.js';
import { makeImageFolder, writeImage, writePngHeaderOnly } from '../helpers/image-folder.js';

describe('image decoding', () => {
  const dir = mkdtempSync(join(tmpdir(), 'decode-'));

  it('decodes JPEG, PNG, WebP, GIF and BMP to RGB in [0, 1]', async () => {
    for (const format of ['jpeg', 'png', 'webp', 'gif', 'bmp'] as const) {
      const path = join(dir, `a.${format === 'jpeg' ? 'jpg' : format}`);
      await writeImage(path, format, [200, 30, 30], 12);
      const img = await data.decodeImage(path);
      expect(img.channels, format).toBe(3);
      expect([img.width, img.height], format).toEqual([12, 12]);
      expect(
        img.data.every((v) => v >= 0 && v <= 1),
        format,
      ).toBe(true);
      const mean = (c: number): number => {
        let s = 0;
        for (let i = c; i < img.data.length; i += 3) s += img.data[i]!;
        return s / (img.data.length / 3);
      };
      if (format !== 'bmp') expect(mean(0), format).toBeGreaterThan(mean(2) + 0.3); // red dominates
    }
  });

  it('converts grayscale to three equal channels and drops alpha', async () => {
    const gray = join(dir, 'g.png');
    await writeImage(gray, 'gray-png', [100, 100, 100], 8);
    const g = await data.decodeImage(gray);
    expect(g.channels).toBe(3);
    expect(g.data[0]).toBe(g.data[1]);
    expect(g.data[1]).toBe(g.data[2]);
    const rgba = join(dir, 'r.png');
    await writeImage(rgba, 'rgba-png', [10, 20, 30], 8);
    const r = await data.decodeImage(rgba);
    expect(r.channels).toBe(3);
    expect(r.data.length).toBe(8 * 8 * 3);
  });

  it('shrinks big images on decode when asked, keeping the aspect ratio', async () => {
    const path = join(dir, 'big.png');
    await writeImage(path, 'png', [1, 2, 3], 100);
    const img = await data.decodeImage(path, { shorterSide: 25 });
    expect([img.width, img.height]).toEqual([25, 25]);
  });

  it('refuses images over the pixel bound before decoding them, naming the file', async () => {
    const huge = join(dir, 'huge.png');
    writePngHeaderOnly(huge, 16000, 16000);
    const refused = `${huge}: cannot decode image (16000x16000 is 256,000,000 pixels, more than the 89,478,485 allowed)`;
    await expect(data.probeImage(huge)).rejects.toThrow(refused);
    await expect(data.decodeImage(huge)).rejects.toThrow(
      `${huge}: cannot decode image (more than the 89,478,485 pixels allowed)`,
    );
    for (const format of ['png', 'bmp'] as const) {
      const small = join(dir, `small.${format}`);
      await writeImage(small, format, [1, 2, 3], 20);
      await expect(data.decodeImage(small, { maxPixels: 399 }), format).rejects.toThrow(small);
      expect((await data.decodeImage(small, { maxPixels: 400 })).width).toBe(20);
    }
  });

  it('names the file that is corrupt, truncated or missing', async () => {
    const junk = join(dir, 'junk.jpg');
    writeFileSync(junk, Buffer.from('definitely not a jpeg'));
    await expect(data.decodeImage(junk)).rejects.toThrow(`${junk}: cannot decode image`);
    const good = join(dir, 'cut.png');
    await writeImage(good, 'png', [1, 2, 3], 64);
    const bytes = readFileSync(good);
    writeFileSync(good, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await expect(data.decodeImage(good)).rejects.toThrow(`${good}: cannot decode image`);
    await expect(data.decodeImage(join(dir, 'nope.png'))).rejects.toThrow(
      'nope.png: cannot decode image (ENOENT)',
    );
  });
});

describe('ImageFolder scanning', () => {
  it('finds classes in sorted order and every supported format', async () => {
    const root = await makeImageFolder(['zebra', 'apple', 'mango'], 7);
    const { dataset, skipped } = await data.scanImageFolder(root);
    expect(dataset.classes).toEqual(['apple', 'mango', 'zebra']);
    expect(dataset.length).toBe(21);
    expect(skipped).toEqual([]);
    expect(dataset.labelOf(0)).toBe(0);
    expect(dataset.describe(20)).toContain('zebra');
  });

  it('skips and names unreadable files, or fails on them with strict', async () => {
    const root = await makeImageFolder(['a', 'b'], 3);
    const bad = join(root, 'a', 'broken.jpg');
    writeFileSync(bad, Buffer.from('garbage'));
    const { dataset, skipped } = await data.scanImageFolder(root);
    expect(dataset.length).toBe(6);
    expect(skipped.map((s) => s.file)).toEqual([bad]);
    await expect(data.scanImageFolder(root, { strict: true })).rejects.toThrow(`${bad}: cannot decode image`);
  });

  it('follows symbolic links to class folders, sub-folders and images; skips and names broken ones', async () => {
    const root = await makeImageFolder(['a', 'b'], 3);
    const elsewhere = await makeImageFolder(['c', 'd'], 3);
    symlinkSync(join(elsewhere, 'c'), join(root, 'c'));
    symlinkSync(join(elsewhere, 'c', 'img0.jpg'), join(root, 'a', 'linked.jpg'));
    symlinkSync(join(elsewhere, 'd'), join(root, 'b', 'more'));
    symlinkSync(join(root, 'a'), join(root, 'a', 'loop'));
    symlinkSync('/no/such/image.jpg', join(root, 'b', 'dangling.jpg'));
    symlinkSync('/no/such/folder', join(root, 'ghost'));
    const { dataset, skipped } = await data.scanImageFolder(root);
    expect(dataset.classes).toEqual(['a', 'b', 'c']);
    const perClass = [0, 1, 2].map((k) => dataset.labels.filter((l) => l === k).length);
    expect(perClass).toEqual([4, 6, 3]);
    expect(dataset.files).toContain(join(root, 'a', 'linked.jpg'));
    expect(skipped).toEqual([
      { file: join(root, 'ghost'), reason: 'broken symbolic link to /no/such/folder (ENOENT)' },
      {
        file: join(root, 'b', 'dangling.jpg'),
        reason: 'broken symbolic link to /no/such/image.jpg (ENOENT)',
      },
    ]);
    await expect(data.scanImageFolder(root, { strict: true })).rejects.toThrow(
      `${join(root, 'ghost')}: broken symbolic link to /no/such/folder`,
    );
  });

  it('skips and names an image too large to decode', async () => {
    const root = await makeImageFolder(['a', 'b'], 2);
    const huge = join(root, 'a', 'huge.png');
    writePngHeaderOnly(huge, 16000, 16000);
    const { dataset, skipped } = await data.scanImageFolder(root);
    expect(dataset.files).not.toContain(huge);
    expect(skipped).toEqual([
      {
        file: huge,
        reason: `${huge}: cannot decode image (16000x16000 is 256,000,000 pixels, more than the 89,478,485 allowed)`,
      },
    ]);
  });

  it('rejects a missing path, no classes, a single class and an empty class folder', async () => {
    await expect(data.scanImageFolder('/no/such/folder')).rejects.toThrow(
      'data folder /no/such/folder does not exist',
    );
    const empty = mkdtempSync(join(tmpdir(), 'empty-'));
    await expect(data.scanImageFolder(empty)).rejects.toThrow('has no class sub-folders');
    const one = await makeImageFolder(['only'], 2);
    await expect(data.scanImageFolder(one)).rejects.toThrow('has a single class (only)');
    const root = await makeImageFolder(['a', 'b'], 2);
    mkdirSync(join(root, 'c'));
    await expect(data.scanImageFolder(root)).rejects.toThrow(
      `class folder ${join(root, 'c')} has no readable images`,
    );
  });
});
