/** Reference whole-buffer arithmetic: reductions in float64, rounded once to float32. */

export function sum(x: Float32Array, divisor: number, y: Float32Array): void {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]!;
  y[0] = s / divisor;
}

export function broadcastScalar(s: Float32Array, divisor: number, y: Float32Array): void {
  y.fill(s[0]! / divisor);
}

export function scale(x: Float32Array, factor: number, y: Float32Array): void {
  for (let i = 0; i < x.length; i++) y[i] = x[i]! * factor;
}

export function copy(x: Float32Array, y: Float32Array): void {
  y.set(x);
}

export function indices(buffer: Float32Array, values?: Int32Array): Int32Array {
  const view = new Int32Array(buffer.buffer, buffer.byteOffset, buffer.length);
  if (values) view.set(values);
  return view;
}
