/**
 * The browser training page (web/train.html, served at /train by `resnext serve`): a folder of
 * class folders in, live curves while a small ResNeXt trains on this machine's GPU, predictions
 * and the weights out. State for tests and tools: #status[data-state] (idle, loading, training,
 * done, error) and [data-device]; #curves[data-losses]; #predictions li[data-file][data-label].
 */
import { Curves } from './train/curves.js';
import { filesOfDrop, filesOfInput, imageFolder, type ImageFolder } from './train/folder.js';
import { chooseDevice, DEFAULT_SETTINGS, TrainingSession, type TrainSettings } from './train/session.js';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const status = $<HTMLParagraphElement>('status');
let folder: ImageFolder | null = null;
let session: TrainingSession | null = null;

function setStatus(state: string, text: string): void {
  status.dataset.state = state;
  status.textContent = text;
}

function useFolder(files: { file: File; path: string }[]): void {
  folder = imageFolder(files);
  const counts = folder.classes.map(
    (c, i) => `${c} (${folder!.samples.filter((s) => s.label === i).length})`,
  );
  $('dataset').textContent =
    folder.classes.length < 2
      ? `found ${folder.classes.length} class folder(s): training needs at least two`
      : `${folder.samples.length} images in ${folder.classes.length} classes: ${counts.join(', ')}`;
  $<HTMLButtonElement>('train').disabled = folder.classes.length < 2;
}

function readSettings(): TrainSettings {
  const number = (id: string, fallback: number): number => {
    const v = Number($<HTMLInputElement>(id).value);
    return Number.isFinite(v) && v > 0 ? v : fallback;
  };
  return {
    ...DEFAULT_SETTINGS,
    steps: Math.round(number('steps', DEFAULT_SETTINGS.steps)),
    batchSize: Math.round(number('batch', DEFAULT_SETTINGS.batchSize)),
    lr: number('lr', DEFAULT_SETTINGS.lr),
    imageSize: Math.round(number('size', DEFAULT_SETTINGS.imageSize)),
  };
}

async function train(): Promise<void> {
  if (!folder) return;
  $<HTMLButtonElement>('train').disabled = true;
  const settings = readSettings();
  const { device, description } = await chooseDevice();
  status.dataset.device = device;
  session = new TrainingSession(folder, settings, device);
  setStatus('loading', `decoding images… (${description})`);
  await session.load((done, total) =>
    setStatus('loading', `decoding images ${done}/${total} (${description})`),
  );
  if (session.imageCount === 0) throw new Error('no image could be decoded');
  const curves = new Curves($<HTMLElement>('curves') as unknown as SVGSVGElement);
  const optimizer = session.optimizer();
  const started = performance.now();
  for (let step = 1; step <= settings.steps; step++) {
    const record = await session.step(optimizer, step);
    curves.add(record, settings.steps);
    const rate =
      (step * Math.min(settings.batchSize, session.imageCount)) / ((performance.now() - started) / 1000);
    setStatus(
      'training',
      `step ${step}/${settings.steps}: loss ${record.loss.toFixed(4)}, batch accuracy ${(record.accuracy * 100).toFixed(1)}%, ` +
        `${rate.toFixed(1)} img/s on ${description}`,
    );
  }
  setStatus('training', `${status.textContent} — updating the batch-norm statistics`);
  await session.recalibrateBatchNorm();
  const bytes = await session.exportCheckpoint();
  $<HTMLAnchorElement>('export').href = URL.createObjectURL(
    new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }),
  );
  $('after').hidden = false;
  const skipped = session.skipped.length ? `; skipped ${session.skipped.join('; ')}` : '';
  setStatus('done', `${status.textContent} — done${skipped}`);
  $<HTMLButtonElement>('train').disabled = false;
}

async function predict(files: readonly File[]): Promise<void> {
  if (!session) return;
  const list = $('predictions');
  for (const file of files) {
    const item = document.createElement('li');
    item.dataset.file = file.name;
    try {
      const top = await session.predict(file);
      item.dataset.label = top[0]!.label;
      item.textContent = `${file.name}: ${top.map((t) => `${t.label} ${(t.probability * 100).toFixed(1)}%`).join(', ')}`;
    } catch (error) {
      item.dataset.state = 'error';
      item.textContent = `${file.name}: ${(error as Error).message}`;
    }
    list.append(item);
  }
}

function fail(error: unknown): void {
  setStatus('error', `error: ${(error as Error).message}`);
  $<HTMLButtonElement>('train').disabled = false;
}

$<HTMLInputElement>('folder').addEventListener('change', (e) =>
  useFolder(filesOfInput(e.target as HTMLInputElement)),
);
const drop = $('folder-drop');
drop.addEventListener('dragover', (e) => e.preventDefault());
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  if (e.dataTransfer) filesOfDrop(e.dataTransfer.items).then(useFolder, fail);
});
$<HTMLFormElement>('settings').addEventListener('submit', (e) => {
  e.preventDefault();
  train().catch(fail);
});
$<HTMLInputElement>('predict').addEventListener('change', (e) => {
  predict([...((e.target as HTMLInputElement).files ?? [])]).catch(fail);
});
const predictDrop = $('predict-drop');
predictDrop.addEventListener('dragover', (e) => e.preventDefault());
predictDrop.addEventListener('drop', (e) => {
  e.preventDefault();
  predict([...(e.dataTransfer?.files ?? [])]).catch(fail);
});
