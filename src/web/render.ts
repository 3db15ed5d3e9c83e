/**
 * The page's DOM: one result per image (the image, its top classes as bars, the time and what ran)
 * and the model card. Text from the model (class names come from folder names) is set as text,
 * never as HTML. Results carry their figures as data attributes for tests and scripts:
 *   li.result[data-file][data-state="done"|"error"][data-decode-ms][data-inference-ms][data-total-ms],
 *   li[data-label][data-probability] per class.
 */
import type { CardInfo, ModelInfo, Outcome } from './model.js';

type Attributes = Record<string, string>;

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  node.append(...children);
  return node;
}

const percent = (p: number): string => `${(100 * p).toFixed(2)}%`;
const ms = (t: number): string => (t >= 1000 ? `${(t / 1000).toFixed(2)} s` : `${t.toFixed(0)} ms`);

/** A placeholder for `file` while it is classified; `showResult` fills it in. */
export function pendingResult(file: File): HTMLLIElement {
  const image = el('img', { alt: file.name, src: URL.createObjectURL(file) });
  image.addEventListener(
    'error',
    () => {
      image.removeAttribute('src');
      image.alt = '';
    },
    { once: true },
  );
  const item = el(
    'li',
    { class: 'result', 'data-file': file.name, 'data-state': 'pending' },
    image,
    el('div', { class: 'body' }, el('h3', {}, file.name), el('p', { class: 'muted' }, 'classifying…')),
  );
  return item;
}

export function showResult(item: HTMLLIElement, outcome: Outcome): void {
  const body = item.querySelector('.body')!;
  const title = body.querySelector('h3')!;
  if (!outcome.ok) {
    item.dataset.state = 'error';
    body.replaceChildren(title, el('p', { class: 'error' }, outcome.error), ran(outcome.ranOn));
    return;
  }
  const top = el('ol', { class: 'top' });
  for (const t of outcome.top) {
    top.append(
      el(
        'li',
        { 'data-label': t.label, 'data-probability': String(t.probability) },
        el('span', { class: 'label', title: t.label }, t.label),
        el(
          'span',
          { class: 'track' },
          el('span', { class: 'fill', style: `display:block;width:${(100 * t.probability).toFixed(2)}%` }),
        ),
        el('span', { class: 'value' }, percent(t.probability)),
      ),
    );
  }
  const { timings } = outcome;
  item.dataset.state = 'done';
  item.dataset.decodeMs = String(timings.decode_ms);
  item.dataset.inferenceMs = String(timings.inference_ms);
  item.dataset.totalMs = String(timings.total_ms);
  body.replaceChildren(
    title,
    top,
    ran(
      `${outcome.ranOn} · ${ms(timings.total_ms)} (decode and preprocess ${ms(timings.decode_ms)}, network ${ms(timings.inference_ms)})`,
    ),
  );
}

const ran = (text: string): HTMLElement => el('p', { class: 'ran' }, text);

/** The model line under the title. */
export function describeModel(model: ModelInfo): string {
  const [C, H, W] = model.input_shape;
  return `${model.architecture}, ${model.parameters.toLocaleString('en-US')} parameters, ${model.classes.length} classes, input ${C}x${H}x${W}`;
}

export function showCard(section: HTMLElement, card: CardInfo): void {
  const facts = section.querySelector('#card-facts')!;
  const [C, H, W] = card.input.shape;
  const rows: [string, string][] = [
    ['Architecture', card.architecture],
    ['Parameters', card.parameters.toLocaleString('en-US')],
    [`Classes (${card.classes.length})`, card.classes.join(', ')],
    ['Input', `[batch, ${C}, ${H}, ${W}] float32, RGB in [0, 1]`],
    ['Normalisation', `mean ${JSON.stringify(card.input.mean)}, std ${JSON.stringify(card.input.std)}`],
    ['Preprocessing', card.input.transforms.map((t) => JSON.stringify(t)).join(', ') || 'none'],
  ];
  if (card.training) {
    const t = card.training;
    rows.push(
      ['Training data', t.data],
      ['Training', `${t.epochs} epochs, batch ${t.batch_size}, ${t.optimizer} at lr ${t.lr}, ${t.scheduler}`],
    );
  }
  if (card.best) rows.push(['Best val top-1', `${percent(card.best.val_top1)} (epoch ${card.best.epoch})`]);
  facts.replaceChildren(...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
  const table = section.querySelector<HTMLTableElement>('#card-history')!;
  table.tBodies[0]!.replaceChildren(
    ...card.history.map((r) =>
      el(
        'tr',
        {},
        el('td', {}, String(r.epoch)),
        el('td', {}, r.train_loss.toFixed(4)),
        el('td', {}, r.val_loss.toFixed(4)),
        el('td', {}, percent(r.val_top1)),
      ),
    ),
  );
  table.hidden = card.history.length === 0;
  section.hidden = false;
}
