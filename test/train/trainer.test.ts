import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_TRAIN_CONFIG,
  loadCheckpoint,
  loadTrainedModel,
  saveCheckpoint,
  Tensor,
  predictFiles,
  collectImages,
  resumeTraining,
  saveSafetensors,
  train,
  createModel,
  type TrainConfig,
} from '../../src/index.js';
import { makeImageFolder } from '../helpers/image-folder.js';

const quiet = { log: () => {}, progress: false };

async function config(overrides: Partial<TrainConfig> = {}): Promise<TrainConfig> {
  const root = await makeImageFolder(['circle', 'square', 'triangle'], 10, 24);
  return {
    ...DEFAULT_TRAIN_CONFIG,
    data: root,
    out: mkdtempSync(join(tmpdir(), 'run-')),
    arch: 'resnext_tiny',
    imageSize: 32,
    epochs: 2,
    batchSize: 8,
    optimizer: 'sgd',
    lr: 0.01,
    momentum: 0.9,
    workers: 0,
    ...overrides,
  };
}

/**
 * Trains `c`, calling `corrupt(model)` once at step `batch` of `epoch` (`batch` null: its first step),
 * and returns the result with the bytes of last.safetensors just before the corruption (null: none yet).
 */
async function trainCorruptedAt(
  c: TrainConfig,
  epoch: number,
  batch: number | null,
  corrupt: (model: ReturnType<typeof createModel>) => void,
): Promise<{ result: Awaited<ReturnType<typeof train>>; lastBefore: Buffer | null }> {
  let model: ReturnType<typeof createModel> | null = null;
  let lastBefore: Buffer | null = null;
  let done = false;
  const result = await train(c, {
    ...quiet,
    onModel: (m) => (model = m),
    onStep: (e, b) => {
      if (done || e !== epoch || (batch !== null && b !== batch)) return;
      done = true;
      const last = join(c.out, 'last.safetensors');
      lastBefore = existsSync(last) ? readFileSync(last) : null;
      corrupt(model!);
    },
  });
  return { result, lastBefore };
}

describe('train()', () => {
  it('trains, keeps the best epoch and writes checkpoints, history and a report', async () => {
    const c = await config();
    const result = await train(c, quiet);
    expect(result.status).toBe('completed');
    expect(result.history.length).toBe(2);
    for (const f of [
      'best.safetensors',
      'last.safetensors',
      'config.json',
      'history.json',
      'history.csv',
      'report.html',
      'curves.png',
      'curves.svg',
      'confusion.png',
      'confusion.svg',
    ]) {
      expect(existsSync(join(c.out, f)), f).toBe(true);
    }
    const history = JSON.parse(readFileSync(join(c.out, 'history.json'), 'utf-8')) as { valAcc: number }[];
    expect(history.length).toBe(2);
    expect(readFileSync(join(c.out, 'history.csv'), 'utf-8').split('\n')[0]).toBe(
      'epoch,train_loss,train_acc,val_loss,val_acc,val_top5,lr,seconds,images_per_second',
    );
    expect(readFileSync(join(c.out, 'report.html'), 'utf-8')).toContain('<svg');
    const png = readFileSync(join(c.out, 'curves.png'));
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    const best = await loadCheckpoint(join(c.out, 'best.safetensors'));
    expect(best.meta!.classes).toEqual(['circle', 'square', 'triangle']);
    expect(best.model.has('layer1.0.conv2.weight')).toBe(true);
    expect(best.optimizer.size).toBe(0);
    const last = await loadCheckpoint(join(c.out, 'last.safetensors'));
    expect(last.optimizer.size).toBeGreaterThan(0);
    expect(result.best!.valAcc).toBe(Math.max(...history.map((h) => h.valAcc)));
  });

  it('resumes exactly: the losses after resuming equal those of an uninterrupted run', async () => {
    const base = await config({ epochs: 3 });
    const uninterrupted: number[] = [];
    await train(base, { ...quiet, onStep: (_e, _b, loss) => uninterrupted.push(loss) });

    const split = { ...base, out: mkdtempSync(join(tmpdir(), 'run-')) };
    const first: number[] = [];
    const stopped = await train(split, {
      ...quiet,
      onStep: (_e, _b, loss) => first.push(loss),
      stopAfterSteps: 4,
    });
    expect(stopped.status).toBe('interrupted');
    expect(stopped.message).toContain(`checkpoint saved to ${join(split.out, 'last.safetensors')}`);
    const rest: number[] = [];
    // Nothing but the folder: the run continues with its own settings (3 epochs, not the default 10).
    const resumed = await resumeTraining(
      split.out,
      {},
      { ...quiet, onStep: (_e, _b, loss) => rest.push(loss) },
    );
    expect(resumed.status).toBe('completed');
    expect([...first, ...rest]).toEqual(uninterrupted);
    expect(resumed.history.length).toBe(3);
    expect(JSON.parse(readFileSync(join(split.out, 'config.json'), 'utf-8')).epochs).toBe(3);

    // Stopped at the last step of epoch 1 (3 batches of 8): validation is cut short, not kept, and
    // the resumed run validates epoch 1 again before going on.
    const atValidation = { ...base, out: mkdtempSync(join(tmpdir(), 'run-')) };
    const cut = await train(atValidation, { ...quiet, stopAfterSteps: 3 });
    expect(cut.message).toContain('interrupted while validating epoch 1');
    expect(cut.history).toEqual([]);
    const after: number[] = [];
    const finished = await resumeTraining(
      atValidation.out,
      {},
      { ...quiet, onStep: (_e, _b, loss) => after.push(loss) },
    );
    expect(after).toEqual(uninterrupted.slice(3));
    const losses = (h: typeof finished.history) => h.map((r) => [r.trainLoss, r.valLoss, r.valAcc]);
    expect(losses(finished.history)).toEqual(losses(resumed.history));
  });

  it('extends a finished constant-schedule run with more epochs, and refuses to stretch a one-cycle one', async () => {
    const c = await config({ epochs: 1 });
    await train(c, quiet);
    const extended = await resumeTraining(c.out, { epochs: 2 }, quiet);
    expect(extended.history.map((h) => h.epoch)).toEqual([1, 2]);
    const cycle = await config({ epochs: 2, scheduler: 'onecycle' });
    await train(cycle, quiet);
    await expect(resumeTraining(cycle.out, { epochs: 3 }, quiet)).rejects.toThrow(
      "resume: epochs cannot change from 2 to 3: the run's onecycle schedule is laid over its 2 epochs",
    );
  });

  it('refuses a damaged config.json on resume, naming the file and the field', async () => {
    const c = await config({ epochs: 1 });
    await train(c, quiet);
    const file = join(c.out, 'config.json');
    const good = readFileSync(file, 'utf-8');
    const expectRefused = async (text: string, message: string | RegExp): Promise<void> => {
      writeFileSync(file, text);
      await expect(resumeTraining(c.out, { epochs: 2 }, quiet)).rejects.toThrow(message);
    };
    await expectRefused('not json', new RegExp(`^${file}: not valid JSON`));
    await expectRefused('{"foo":1}', `${file}: unknown field "foo"`);
    await expectRefused('[]', `${file}: expected a JSON object of training settings`);
    const saved = JSON.parse(good) as Record<string, unknown>;
    await expectRefused(
      JSON.stringify({ ...saved, lr: 'fast' }),
      `${file}: field "lr" must be a number, got "fast"`,
    );
    await expectRefused(
      JSON.stringify({ ...saved, arch: 'resnext9000' }),
      `${file}: unknown architecture "resnext9000"`,
    );
    await expectRefused(JSON.stringify({ ...saved, data: undefined }), `${file}: field "data" is missing`);
  });

  it("removes temporary files a killed write left behind, and keeps a live process's", async () => {
    const c = await config({ epochs: 1 });
    await train(c, quiet);
    const stale = '.last.safetensors.999999999.deadbeef.tmp';
    const live = `.history.json.${process.pid}.abcd1234.tmp`;
    writeFileSync(join(c.out, stale), 'partial');
    writeFileSync(join(c.out, live), 'partial');
    const logs: string[] = [];
    await resumeTraining(c.out, { epochs: 2 }, { log: (l) => logs.push(l), progress: false });
    expect(existsSync(join(c.out, stale))).toBe(false);
    expect(existsSync(join(c.out, live))).toBe(true);
    expect(logs).toContain(`removed ${stale}, left by an interrupted write`);
  });

  it('stops on a NaN loss and leaves the last good checkpoint intact', async () => {
    const c = await config({ epochs: 3 });
    const { result, lastBefore } = await trainCorruptedAt(c, 1, null, (m) =>
      m.fc!.weight.dataSync().fill(Number.NaN),
    );
    expect(result.status).toBe('nan');
    expect(result.message).toMatch(
      /loss became NaN at epoch 2, batch 2; training stopped\. The last good checkpoint is .*last\.safetensors/,
    );
    expect(readFileSync(join(c.out, 'last.safetensors')).equals(lastBefore!)).toBe(true);
  });

  it('stops, saving nothing, when a buffer turns infinite; the last checkpoint stays finite', async () => {
    const c = await config({ epochs: 3 });
    // The last step of the second epoch: its running statistics overflow.
    const { result, lastBefore } = await trainCorruptedAt(c, 1, 2, (m) =>
      m.bn1!.runningVar!.dataSync().fill(Number.POSITIVE_INFINITY),
    );
    expect(result.status).toBe('nan');
    expect(result.message).toMatch(
      /bn1\.running_var holds NaN or infinite values at epoch 2, batch 3; training stopped\. The last good checkpoint is .*last\.safetensors/,
    );
    expect(result.history.length).toBe(1);
    expect(readFileSync(join(c.out, 'last.safetensors')).equals(lastBefore!)).toBe(true);
    const saved = await loadCheckpoint(join(c.out, 'last.safetensors'));
    expect(
      [...saved.model.values()].every((t) => t.dtype === 'int64' || t.toArray().every(Number.isFinite)),
    ).toBe(true);
  });

  it('stops when the validation loss is not finite, and never calls that epoch the best', async () => {
    const c = await config({ epochs: 3 });
    // A negative running variance: training (batch statistics) is unaffected, evaluation is NaN.
    const { result } = await trainCorruptedAt(c, 0, 2, (m) => m.bn1!.runningVar!.dataSync().fill(-1));
    expect(result.status).toBe('nan');
    expect(result.message).toMatch(
      /validation loss became NaN after epoch 1; training stopped\. No checkpoint/,
    );
    expect(result.best).toBeNull();
    expect(existsSync(join(c.out, 'best.safetensors'))).toBe(false);
  });

  it('refuses to write a checkpoint holding NaN or infinite values, naming the tensor', async () => {
    const c = await config();
    const path = join(c.out, 'bad.safetensors');
    const weights = new Map([['fc.bias', Tensor.fromArray([1, Number.NaN])]]);
    const meta = {
      arch: 'resnext_tiny',
      classes: ['a', 'b'],
      inputShape: [3, 32, 32] as [number, number, number],
      mean: [0, 0, 0],
      std: [1, 1, 1],
      evalTransforms: [],
    };
    await expect(saveCheckpoint(path, weights, meta)).rejects.toThrow(
      `${path}: not written, because fc.bias holds NaN or infinite values`,
    );
    expect(existsSync(path)).toBe(false);
  });

  it('fine-tunes from weights with another class count (new head) and can freeze the backbone', async () => {
    const c = await config({ epochs: 1 });
    const pretrained = createModel('resnext_tiny', { numClasses: 7 });
    const weights = join(c.out, 'pretrained.safetensors');
    await saveSafetensors(weights, pretrained.stateDict());
    const logs: string[] = [];
    const run = { ...c, out: join(c.out, 'ft'), weights, freezeBackbone: true };
    let trainable = 0;
    await train(run, {
      log: (l) => logs.push(l),
      progress: false,
      onModel: (m) => (trainable = m.parameterCount({ trainableOnly: true })),
    });
    expect(logs.some((l) => l.includes('new 3-class head (was 7)'))).toBe(true);
    expect(trainable).toBe(256 * 3 + 3);
    // The frozen backbone still holds the pretrained weights; the head was trained.
    const { model } = await loadTrainedModel(join(run.out, 'best.safetensors'));
    expect(model.conv1.weight.toArray()).toEqual(pretrained.conv1.weight.toArray());
    expect(model.fc!.weight.shape).toEqual([3, 256]);
  });

  it('warns about weights holding NaN (and the run stops at the NaN loss), or refuses them under strict', async () => {
    const c = await config({ epochs: 1 });
    const nanWeights = createModel('resnext_tiny', { numClasses: 3 });
    nanWeights.conv1.weight.dataSync().fill(Number.NaN);
    const weights = join(c.out, 'nan.safetensors');
    await saveSafetensors(weights, nanWeights.stateDict());
    const logs: string[] = [];
    const result = await train(
      { ...c, out: join(c.out, 'w'), weights },
      { log: (l) => logs.push(l), progress: false },
    );
    expect(logs).toContain(`${weights}: conv1.weight holds NaN or infinite values`);
    expect(result.status).toBe('nan');
    await expect(train({ ...c, out: join(c.out, 's'), weights, strict: true }, quiet)).rejects.toThrow(
      `${weights}: conv1.weight holds NaN or infinite values (refused under strict)`,
    );
  });

  it('refuses weights for another architecture, naming keys', async () => {
    const c = await config({ epochs: 1 });
    const weights = join(c.out, 'resnet50.safetensors');
    await saveSafetensors(weights, createModel('resnet50', { numClasses: 3 }).stateDict());
    await expect(train({ ...c, out: join(c.out, 'x'), weights }, quiet)).rejects.toThrow(
      /weights file .*resnet50\.safetensors does not fit this architecture: .*mis-shaped conv1\.weight \(file \[64, 3, 7, 7\], model \[16, 3, 7, 7\]\)/,
    );
  });

  it('skips a corrupt image and names it, or fails with strict', async () => {
    const c = await config({ epochs: 1 });
    const bad = join(c.data, 'square', 'broken.jpg');
    writeFileSync(bad, Buffer.from('not an image'));
    const logs: string[] = [];
    await train({ ...c, out: join(c.out, 'a') }, { log: (l) => logs.push(l), progress: false });
    expect(logs.some((l) => l.includes(`skipped unreadable image ${bad}`))).toBe(true);
    await expect(train({ ...c, out: join(c.out, 'b'), strict: true }, quiet)).rejects.toThrow(
      `${bad}: cannot decode image`,
    );
  });

  it('gives clear errors for bad settings and paths', async () => {
    const c = await config({ epochs: 1 });
    await expect(train({ ...c, data: '/no/such/dir', out: join(c.out, 'a') }, quiet)).rejects.toThrow(
      'data folder /no/such/dir does not exist',
    );
    await expect(train({ ...c, classes: 5, out: join(c.out, 'b') }, quiet)).rejects.toThrow(
      'classes 5 does not match the data, which has 3 classes',
    );
    await expect(train({ ...c, lr: -1, out: join(c.out, 'c') }, quiet)).rejects.toThrow(
      'lr must be positive',
    );
    await expect(train({ ...c, imageSize: 100000, out: join(c.out, 'c') }, quiet)).rejects.toThrow(
      'imageSize must be an integer from 1 to 2048, got 100000',
    );
    await expect(train({ ...c, arch: 'resnext9000', out: join(c.out, 'd') }, quiet)).rejects.toThrow(
      'unknown architecture "resnext9000"',
    );
    await train({ ...c, out: join(c.out, 'e') }, quiet);
    await expect(train({ ...c, out: join(c.out, 'e') }, quiet)).rejects.toThrow(
      'already holds a run (last.safetensors); continue it with resumeTraining',
    );
    await expect(resumeTraining(join(c.out, 'nothing'), {}, quiet)).rejects.toThrow(
      'holds no run to continue',
    );
  });

  it('locks the run folder: a second run or a resume is refused while the first writes there', async () => {
    const c = await config({ epochs: 1 });
    const failure = (p: Promise<unknown>): Promise<string> =>
      p.then(
        () => 'succeeded',
        (e: Error) => e.message,
      );
    let second: Promise<string> | null = null;
    let resume: Promise<string> | null = null;
    const first = await train(c, {
      ...quiet,
      onStep: () => {
        second ??= failure(train(c, quiet));
        resume ??= failure(resumeTraining(c.out, {}, quiet));
      },
    });
    expect(first.status).toBe('completed');
    const refused = `${c.out} is in use by another training run (pid ${process.pid} on `;
    expect(await second).toContain(refused);
    expect(await resume).toContain(refused);
    expect(existsSync(join(c.out, '.lock'))).toBe(false);
    // A lock left by a killed run is broken on resume.
    writeFileSync(join(c.out, '.lock'), JSON.stringify({ pid: 999_999_999, host: hostname(), since: 'x' }));
    const logs: string[] = [];
    await resumeTraining(c.out, { epochs: 2 }, { log: (l) => logs.push(l), progress: false });
    expect(logs).toContain('removed the lock of pid 999999999 (x), which is no longer running');
  });

  it('predicts with class names from the weights file', async () => {
    const c = await config({ epochs: 1 });
    await train(c, quiet);
    const { model, meta } = await loadTrainedModel(join(c.out, 'best.safetensors'));
    const files = [join(c.data, 'circle', 'img0.jpg'), join(c.data, 'square', 'img1.webp')];
    const preds = await predictFiles(model, meta, files, { topK: 2 });
    expect(preds.map((p) => p.file)).toEqual(files);
    for (const p of preds) {
      expect(p.top.length).toBe(2);
      expect(['circle', 'square', 'triangle']).toContain(p.top[0]!.label);
      expect(p.top[0]!.probability).toBeGreaterThanOrEqual(p.top[1]!.probability);
    }
    await expect(loadTrainedModel(join(c.data, 'circle', 'img0.jpg'))).rejects.toThrow();

    // A folder with a link to an image and a dangling link: the one is predicted, the other named.
    const folder = mkdtempSync(join(tmpdir(), 'predict-'));
    symlinkSync(files[0]!, join(folder, 'a.jpg'));
    symlinkSync('/no/such/image.png', join(folder, 'b.png'));
    const found = collectImages([folder]);
    expect(found).toEqual([join(folder, 'a.jpg'), join(folder, 'b.png')]);
    const [linked, dangling] = await predictFiles(model, meta, found);
    expect(linked!.top[0]!.probability).toBeCloseTo(preds[0]!.top[0]!.probability, 6);
    expect(dangling!.error).toBe(
      `${join(folder, 'b.png')}: cannot decode image (broken symbolic link to /no/such/image.png (ENOENT))`,
    );
    expect(() => collectImages([join(folder, 'none.png')])).toThrow(
      `${join(folder, 'none.png')}: no such file or folder`,
    );
  });
});
