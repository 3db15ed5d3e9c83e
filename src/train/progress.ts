/**
 * A per-epoch progress bar (cli-progress) with batches, images/s, running loss and accuracy and ETA.
 * Without a terminal (logs, CI) it prints a plain line every tenth of the epoch instead.
 */
import cliProgress from 'cli-progress';

export interface ProgressValues {
  loss: number;
  acc: number;
  rate: number;
}

export class EpochProgress {
  private bar: cliProgress.SingleBar | null = null;
  private lastPrinted = -1;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly enabled = true,
  ) {
    if (enabled && stream.isTTY) {
      this.bar = new cliProgress.SingleBar(
        {
          format: `${label} |{bar}| {value}/{total} batches | {rate} img/s | loss {loss} | acc {acc}% | ETA {eta_formatted}`,
          stream,
          hideCursor: true,
          clearOnComplete: true,
          etaBuffer: 20,
        },
        cliProgress.Presets.shades_classic,
      );
    }
  }

  start(done: number): void {
    this.bar?.start(this.total, done, { loss: '-', acc: '-', rate: '-' });
  }

  update(done: number, v: ProgressValues): void {
    const payload = { loss: v.loss.toFixed(4), acc: (v.acc * 100).toFixed(2), rate: v.rate.toFixed(1) };
    if (this.bar) {
      this.bar.update(done, payload);
      return;
    }
    if (!this.enabled) return;
    const tenth = Math.floor((done * 10) / this.total);
    if (tenth > this.lastPrinted) {
      this.lastPrinted = tenth;
      this.stream.write(
        `${this.label} ${done}/${this.total} batches | ${payload.rate} img/s | loss ${payload.loss} | acc ${payload.acc}%\n`,
      );
    }
  }

  stop(): void {
    this.bar?.stop();
  }
}
