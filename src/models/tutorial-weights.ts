/**
 * Weights saved by the PyTorch tutorial's own ResNeXt-50 code, in this library's (torchvision's)
 * names. The tutorial names modules as Keras does (`conv1.conv`, `conv2.conv.0.conv1.0`, `post.fc`)
 * and its grouped convolution runs every group through one shared 3x3 conv: a [C/g, C/g, 3, 3] weight
 * that equals a grouped conv's [C, C/g, 3, 3] weight with the kernel repeated over the g groups.
 */
import { Tensor } from '../tensor/tensor.js';
import type { DType } from '../tensor/dtype.js';
import { formatShape } from '../tensor/shape.js';

/** Whether a state dict comes from the tutorial's code (its stem is `conv1.conv`). */
export function isTutorialStateDict(keys: Iterable<string>): boolean {
  for (const k of keys) if (k === 'conv1.conv.weight') return true;
  return false;
}

/** [tutorial pattern, torchvision name] pairs; `$S` is the stage (conv2 → layer1), `$B` the block. */
const RULES: [RegExp, (m: RegExpExecArray) => string][] = [
  [/^conv1\.conv\.(weight|bias)$/, (m) => `conv1.${m[1]}`],
  [/^conv1\.bn\.(.+)$/, (m) => `bn1.${m[1]}`],
  [/^post\.bn\.(.+)$/, (m) => `norm.${m[1]}`],
  [/^post\.fc\.(weight|bias)$/, (m) => `fc.${m[1]}`],
  [/^conv(\d)\.conv\.(\d+)\.short\.0\.weight$/, (m) => `${block(m)}.downsample.0.weight`],
  [/^conv(\d)\.conv\.(\d+)\.conv1\.0\.weight$/, (m) => `${block(m)}.conv1.weight`],
  [/^conv(\d)\.conv\.(\d+)\.conv1\.1\.(.+)$/, (m) => `${block(m)}.bn1.${m[3]}`],
  [/^conv(\d)\.conv\.(\d+)\.conv2\.conv\.weight$/, (m) => `${block(m)}.conv2.weight`],
  [/^conv(\d)\.conv\.(\d+)\.conv2\.norm\.0\.(.+)$/, (m) => `${block(m)}.bn2.${m[3]}`],
  [/^conv(\d)\.conv\.(\d+)\.conv3\.0\.weight$/, (m) => `${block(m)}.conv3.weight`],
  [/^conv(\d)\.conv\.(\d+)\.conv3\.1\.(.+)$/, (m) => `${block(m)}.bn3.${m[3]}`],
];

function block(m: RegExpExecArray): string {
  return `layer${Number(m[1]) - 1}.${m[2]}`;
}

/** [c, c, kh, kw] repeated `groups` times along the output channels: [groups·c, c, kh, kw]. */
function repeatOverGroups(shared: Tensor, groups: number): Tensor {
  const out = new Float32Array(shared.numel * groups);
  for (let g = 0; g < groups; g++) out.set(shared.dataSync(), g * shared.numel);
  return new Tensor(out, [shared.shape[0]! * groups, ...shared.shape.slice(1)], 'float32');
}

/**
 * The tutorial's state dict under torchvision's names, its shared group kernels expanded into
 * grouped-conv weights (the group count is read from the batch norm that follows each one). Loads
 * into `resnext50_32x4d_tutorial` with the same options (preact, stem bias, head).
 */
export function fromTutorialStateDict(state: ReadonlyMap<string, Tensor<DType>>): Map<string, Tensor<DType>> {
  const out = new Map<string, Tensor<DType>>();
  for (const [key, tensor] of state) {
    const rule = RULES.map(([re, to]) => [re.exec(key), to] as const).find(([m]) => m !== null);
    if (!rule) throw new RangeError(`tutorial weights: unexpected key "${key}"`);
    const [match, to] = rule;
    const name = to(match!);
    if (!name.endsWith('conv2.weight')) {
      out.set(name, tensor);
      continue;
    }
    const normKey = key.replace(/conv2\.conv\.weight$/, 'conv2.norm.0.weight');
    const width = state.get(normKey)?.shape[0];
    const perGroup = tensor.shape[0]!;
    if (tensor.ndim !== 4 || width === undefined || width % perGroup !== 0 || tensor.dtype !== 'float32') {
      throw new RangeError(
        `tutorial weights: "${key}" ${formatShape(tensor.shape)} ${tensor.dtype} is not a float32 shared group kernel for the ${width ?? 'missing'} channels of "${normKey}"`,
      );
    }
    out.set(name, repeatOverGroups(tensor as Tensor, width / perGroup));
  }
  return out;
}
