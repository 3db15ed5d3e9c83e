/** Classification metrics: running loss, top-1/top-5 and a confusion matrix with per-class precision and recall. */
import type { Tensor } from '../tensor/tensor.js';

export interface ClassReport {
  name: string;
  precision: number;
  recall: number;
  support: number;
}

export class ClassificationMetrics {
  /** matrix[true][predicted] */
  readonly matrix: number[][];
  private lossSum = 0;
  private top1 = 0;
  private top5 = 0;
  count = 0;

  constructor(readonly classes: readonly string[]) {
    this.matrix = classes.map(() => classes.map(() => 0));
  }

  /** Adds a batch: logits [N, C] (any format), labels [N], and the batch's mean loss. */
  update(logits: Tensor, labels: Tensor<'int64'>, meanLoss: number): void {
    const n = labels.numel;
    const C = this.classes.length;
    const values = logits.toFormat('nchw').dataSync();
    for (let i = 0; i < n; i++) {
      const y = Number(labels.dataSync()[i]);
      const row = values.subarray(i * C, (i + 1) * C);
      let best = 0;
      for (let c = 1; c < C; c++) if (row[c]! > row[best]!) best = c;
      this.matrix[y]![best]!++;
      if (best === y) this.top1++;
      // top-5: y is among the five largest when fewer than five logits beat it.
      let above = 0;
      for (let c = 0; c < C; c++) if (row[c]! > row[y]!) above++;
      if (above < 5) this.top5++;
    }
    this.lossSum += meanLoss * n;
    this.count += n;
  }

  /** Replaces the counts by their sums over the ranks of a data-parallel run (`sum` allreduces). */
  reduceWith(sum: (values: Float64Array) => Float64Array): void {
    const flat = this.matrix.flat();
    const values = sum(Float64Array.from([this.lossSum, this.top1, this.top5, this.count, ...flat]));
    [this.lossSum, this.top1, this.top5, this.count] = values;
    const C = this.classes.length;
    for (let i = 0; i < C * C; i++) this.matrix[Math.floor(i / C)]![i % C] = values[4 + i]!;
  }

  get loss(): number {
    return this.count ? this.lossSum / this.count : NaN;
  }

  get accuracy(): number {
    return this.count ? this.top1 / this.count : NaN;
  }

  get top5Accuracy(): number {
    return this.count ? this.top5 / this.count : NaN;
  }

  perClass(): ClassReport[] {
    return this.classes.map((name, c) => {
      const tp = this.matrix[c]![c]!;
      const predicted = this.matrix.reduce((s, row) => s + row[c]!, 0);
      const support = this.matrix[c]!.reduce((s, v) => s + v, 0);
      return { name, precision: predicted ? tp / predicted : 0, recall: support ? tp / support : 0, support };
    });
  }

  /** The confusion matrix as aligned text (rows: true class, columns: predicted). */
  confusionText(): string {
    const width = Math.max(5, ...this.matrix.flat().map((v) => String(v).length + 1));
    const names = this.classes.map((c, i) => `${i}:${c}`);
    const nameWidth = Math.max(...names.map((n) => n.length));
    const header = `${'true \\ predicted'.padEnd(nameWidth)} ${this.classes.map((_, i) => String(i).padStart(width)).join('')}`;
    const rows = this.matrix.map(
      (row, i) => `${names[i]!.padEnd(nameWidth)} ${row.map((v) => String(v).padStart(width)).join('')}`,
    );
    return [header, ...rows].join('\n');
  }
}

/** A fraction as a percentage with two decimals ("87.50%"); "–" for a missing or NaN value. */
export function formatPercent(v: number | null): string {
  return v === null || Number.isNaN(v) ? '–' : `${(v * 100).toFixed(2)}%`;
}
