/**
 * Live training curves as an SVG: loss (scaled to its largest value) and accuracy (0 to 1) per
 * step. Drawn by hand because two polylines that grow every step need no plotting library; the
 * values also go to data attributes (data-losses, data-accuracies) for tests and tools.
 */
import type { StepRecord } from './session.js';

const NS = 'http://www.w3.org/2000/svg';
const WIDTH = 600;
const HEIGHT = 200;

export class Curves {
  private readonly loss: SVGPolylineElement;
  private readonly accuracy: SVGPolylineElement;
  private readonly records: StepRecord[] = [];

  constructor(private readonly svg: SVGSVGElement) {
    svg.setAttribute('viewBox', `0 0 ${WIDTH} ${HEIGHT}`);
    svg.replaceChildren();
    this.loss = this.line('curve-loss');
    this.accuracy = this.line('curve-accuracy');
  }

  private line(className: string): SVGPolylineElement {
    const l = document.createElementNS(NS, 'polyline');
    l.setAttribute('class', className);
    l.setAttribute('fill', 'none');
    this.svg.append(l);
    return l;
  }

  add(record: StepRecord, totalSteps: number): void {
    this.records.push(record);
    const maxLoss = Math.max(...this.records.map((r) => r.loss), 1e-6);
    const x = (i: number): number => (i / Math.max(1, totalSteps - 1)) * WIDTH;
    const y = (v: number): number => HEIGHT - v * (HEIGHT - 4) - 2;
    this.loss.setAttribute('points', this.records.map((r, i) => `${x(i)},${y(r.loss / maxLoss)}`).join(' '));
    this.accuracy.setAttribute('points', this.records.map((r, i) => `${x(i)},${y(r.accuracy)}`).join(' '));
    this.svg.dataset.losses = this.records.map((r) => r.loss.toFixed(5)).join(',');
    this.svg.dataset.accuracies = this.records.map((r) => r.accuracy.toFixed(4)).join(',');
  }
}
