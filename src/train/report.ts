/**
 * Run reports: loss and accuracy curves and a confusion matrix, drawn with Vega-Lite (rendered to SVG
 * in Node, no canvas needed) and converted to PNG by sharp; an HTML page shows them next to the
 * run's settings and per-class metrics. Everything is written atomically.
 */
import { join } from 'node:path';
import sharp from '../util/sharp.js';
import type { TopLevelSpec } from 'vega-lite';
import { writeFileAtomic } from '../io/atomic.js';
import { formatPercent, type ClassReport } from './metrics.js';

export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  trainAcc: number;
  valLoss: number;
  valAcc: number;
  valTop5: number | null;
  lr: number;
  seconds: number;
  imagesPerSecond: number;
}

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  // Loaded on first use: Vega and Vega-Lite take about a third of the library's import time.
  const [vega, { compile }] = await Promise.all([import('vega'), import('vega-lite')]);
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

export function curvesSpec(history: readonly EpochRecord[]): TopLevelSpec {
  const rows = history.flatMap((h) => [
    { epoch: h.epoch, metric: 'loss', split: 'train', value: h.trainLoss },
    { epoch: h.epoch, metric: 'loss', split: 'validation', value: h.valLoss },
    { epoch: h.epoch, metric: 'accuracy', split: 'train', value: h.trainAcc },
    { epoch: h.epoch, metric: 'accuracy', split: 'validation', value: h.valAcc },
  ]);
  const panel = (metric: string, title: string) => ({
    width: 320,
    height: 220,
    title,
    transform: [{ filter: `datum.metric === '${metric}'` }],
    mark: { type: 'line' as const, point: true },
    encoding: {
      x: {
        field: 'epoch',
        type: 'quantitative' as const,
        axis: { values: history.map((h) => h.epoch), format: 'd' },
        title: 'epoch',
      },
      y: { field: 'value', type: 'quantitative' as const, title: metric, scale: { zero: false } },
      color: { field: 'split', type: 'nominal' as const, title: null },
    },
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    data: { values: rows },
    hconcat: [panel('loss', 'Loss'), panel('accuracy', 'Top-1 accuracy')],
    config: { background: 'white' },
  };
}

export function confusionSpec(
  classes: readonly string[],
  matrix: readonly (readonly number[])[],
): TopLevelSpec {
  const rows = matrix.flatMap((row, t) =>
    row.map((count, p) => ({
      truth: classes[t]!,
      predicted: classes[p]!,
      count,
      share:
        count /
        Math.max(
          1,
          row.reduce((a, b) => a + b, 0),
        ),
    })),
  );
  const side = Math.min(560, Math.max(160, classes.length * 36));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    data: { values: rows },
    width: side,
    height: side,
    title: 'Confusion matrix (rows: true class)',
    encoding: {
      x: { field: 'predicted', type: 'nominal', sort: [...classes], axis: { labelAngle: -45 } },
      y: { field: 'truth', type: 'nominal', sort: [...classes] },
    },
    layer: [
      {
        mark: 'rect',
        encoding: {
          color: {
            field: 'share',
            type: 'quantitative',
            scale: { scheme: 'blues', domain: [0, 1] },
            title: 'row share',
          },
        },
      },
      {
        mark: { type: 'text', fontSize: classes.length > 20 ? 7 : 11 },
        encoding: {
          text: { field: 'count', type: 'quantitative' },
          color: { condition: { test: 'datum.share > 0.5', value: 'white' }, value: 'black' },
        },
      },
    ],
    config: { background: 'white' },
  };
}

/** Writes name.svg and name.png into dir. */
export async function writeChart(
  dir: string,
  name: string,
  spec: TopLevelSpec,
): Promise<{ svg: string; png: string }> {
  const svg = await renderSvg(spec);
  const png = await sharp(Buffer.from(svg), { density: 144 }).png().toBuffer();
  const svgPath = join(dir, `${name}.svg`);
  const pngPath = join(dir, `${name}.png`);
  await writeFileAtomic(svgPath, svg);
  await writeFileAtomic(pngPath, png);
  return { svg: svgPath, png: pngPath };
}

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export interface ReportInput {
  title: string;
  settings: Record<string, unknown>;
  history: readonly EpochRecord[];
  classes: readonly string[];
  matrix: readonly (readonly number[])[];
  perClass: readonly ClassReport[];
  best: { epoch: number; valAcc: number } | null;
  notes?: readonly string[];
}

/** Curves, confusion matrix (SVG + PNG) and report.html in dir. */
export async function writeReport(dir: string, input: ReportInput): Promise<string> {
  const curvesSvg = input.history.length > 0 ? await renderSvg(curvesSpec(input.history)) : '';
  const confusionSvg = await renderSvg(confusionSpec(input.classes, input.matrix));
  if (curvesSvg) await writeChart(dir, 'curves', curvesSpec(input.history));
  await writeChart(dir, 'confusion', confusionSpec(input.classes, input.matrix));
  const settings = Object.entries(input.settings)
    .filter(([, v]) => v !== undefined)
    .map(
      ([k, v]) =>
        `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(typeof v === 'string' ? v : JSON.stringify(v))}</td></tr>`,
    )
    .join('\n');
  const history = input.history
    .map(
      (h) =>
        `<tr><td>${h.epoch}</td><td>${h.trainLoss.toFixed(4)}</td><td>${formatPercent(h.trainAcc)}</td><td>${h.valLoss.toFixed(4)}</td>` +
        `<td>${formatPercent(h.valAcc)}</td><td>${formatPercent(h.valTop5)}</td><td>${h.lr.toPrecision(3)}</td><td>${h.seconds.toFixed(1)}</td><td>${h.imagesPerSecond.toFixed(1)}</td></tr>`,
    )
    .join('\n');
  const perClass = input.perClass
    .map(
      (c) =>
        `<tr><td>${escapeHtml(c.name)}</td><td>${formatPercent(c.precision)}</td><td>${formatPercent(c.recall)}</td><td>${c.support}</td></tr>`,
    )
    .join('\n');
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(input.title)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f4f4f4}.charts svg{max-width:100%;height:auto}
</style></head><body>
<h1>${escapeHtml(input.title)}</h1>
${input.best ? `<p><b>Best epoch:</b> ${input.best.epoch} with validation top-1 ${formatPercent(input.best.valAcc)} (saved as best.safetensors).</p>` : ''}
${(input.notes ?? []).map((n) => `<p>${escapeHtml(n)}</p>`).join('\n')}
<h2>Curves</h2><div class="charts">${curvesSvg}</div>
<h2>Epochs</h2>
<table><tr><th>epoch</th><th>train loss</th><th>train top-1</th><th>val loss</th><th>val top-1</th><th>val top-5</th><th>lr (end)</th><th>seconds</th><th>img/s</th></tr>
${history}</table>
<h2>Confusion matrix (best model on the validation set)</h2><div class="charts">${confusionSvg}</div>
<table><tr><th>class</th><th>precision</th><th>recall</th><th>support</th></tr>
${perClass}</table>
<h2>Settings</h2><table>${settings}</table>
</body></html>
`;
  const path = join(dir, 'report.html');
  await writeFileAtomic(path, html);
  return path;
}
