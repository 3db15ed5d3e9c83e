/** Reference elementwise kernels over flat arrays. */

export function relu(x: Float32Array, y: Float32Array): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    y[i] = v > 0 ? v : 0;
  }
}

export function reluBackward(dy: Float32Array, y: Float32Array, dx: Float32Array): void {
  for (let i = 0; i < dy.length; i++) dx[i] = y[i]! > 0 ? dy[i]! : 0;
}

export function add(a: Float32Array, b: Float32Array, y: Float32Array): void {
  for (let i = 0; i < a.length; i++) y[i] = a[i]! + b[i]!;
}
