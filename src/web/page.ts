/**
 * The page served at / by `resnext serve`: choose or drop images, see each one's top-5. The mode
 * (server, browser wasm, browser WebGPU) is switchable and kept in the address (?mode=); the browser
 * engines are made on first use and kept.
 */
import { BrowserEngine, hasWebGpu, type BrowserBackend } from './browser-engine.js';
import { fetchJson, type CardInfo, type Engine, type ModelInfo } from './model.js';
import { describeModel, pendingResult, showCard, showResult } from './render.js';
import { ServerEngine } from './server-engine.js';

type Mode = 'server' | BrowserBackend;
const MODES: readonly Mode[] = ['server', 'wasm', 'webgpu'];
const TOP_K = 5;

const byId = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

class Page {
  private readonly engines = new Map<Mode, Promise<Engine>>();
  private mode: Mode = 'server';
  /** Files are classified one after another, in the order they were given; the newest batch is shown first. */
  private work: Promise<void> = Promise.resolve();

  constructor(private readonly model: ModelInfo) {
    this.engines.set('server', Promise.resolve(new ServerEngine()));
  }

  engine(mode: Mode): Promise<Engine> {
    let engine = this.engines.get(mode);
    if (!engine) {
      engine = BrowserEngine.create(this.model, mode as BrowserBackend);
      engine.catch(() => this.engines.delete(mode));
      this.engines.set(mode, engine);
    }
    return engine;
  }

  async setMode(mode: Mode): Promise<void> {
    this.mode = mode;
    const radio = document.querySelector<HTMLInputElement>(`input[name=mode][value=${mode}]`)!;
    radio.checked = true;
    const url = new URL(location.href);
    url.searchParams.set('mode', mode);
    history.replaceState(null, '', url);
    const line = byId('engine-line');
    line.textContent = mode === 'server' ? '' : 'loading the model into this browser…';
    try {
      const engine = await this.engine(mode);
      if (this.mode === mode) line.textContent = `inference: ${engine.description}`;
    } catch (e) {
      if (this.mode === mode) line.textContent = `cannot run in this browser: ${(e as Error).message}`;
    }
  }

  classify(files: readonly File[]): Promise<void> {
    const items = files.map((file) => ({ file, item: pendingResult(file) }));
    byId('results').prepend(...items.map((i) => i.item));
    const status = byId('status');
    this.work = this.work.then(async () => {
      for (const { file, item } of items) {
        status.textContent = `classifying ${file.name}…`;
        try {
          const engine = await this.engine(this.mode);
          showResult(item, await engine.classify(file, TOP_K));
        } catch (e) {
          showResult(item, { ok: false, error: `${file.name}: ${(e as Error).message}`, ranOn: this.mode });
        }
      }
      status.textContent = '';
    });
    return this.work;
  }
}

async function main(): Promise<void> {
  const model = await fetchJson<ModelInfo>('/v1/model');
  byId('model-line').textContent = describeModel(model);
  fetchJson<CardInfo>('/v1/card').then(
    (card) => showCard(byId('card'), card),
    () => undefined,
  );
  const page = new Page(model);

  const radios = document.querySelectorAll<HTMLInputElement>('input[name=mode]');
  const webgpu = await hasWebGpu();
  for (const radio of radios) {
    const browser = radio.value !== 'server';
    radio.disabled = (browser && !model.onnx) || (radio.value === 'webgpu' && !webgpu);
    radio.addEventListener('change', () => void page.setMode(radio.value as Mode));
  }
  const wanted = new URL(location.href).searchParams.get('mode') as Mode | null;
  const usable = (mode: Mode | null): mode is Mode =>
    mode !== null &&
    MODES.includes(mode) &&
    !document.querySelector<HTMLInputElement>(`input[value=${mode}]`)!.disabled;
  await page.setMode(usable(wanted) ? wanted : 'server');

  const input = byId<HTMLInputElement>('files');
  input.addEventListener('change', () => {
    void page.classify([...(input.files ?? [])]);
    input.value = '';
  });
  const drop = byId('drop');
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    void page.classify([...(e.dataTransfer?.files ?? [])]);
  });
  document.body.dataset.ready = 'true';
}

main().catch((e: Error) => {
  byId('model-line').textContent = `cannot load the model: ${e.message}`;
  byId('model-line').classList.add('error');
});
