// `ldmc convert IN.ckpt OUT.safetensors [--select PREFIX]`: a PyTorch checkpoint's state_dict as
// safetensors (F32, PyTorch names and layouts), read with the allow-listed unpickler.
import { serializeSafetensors, type F32Tensor } from '../runtime/weights/safetensors.js';
import { writeAtomic } from './fs-util.js';
import { readWeightsFile } from './weights-file.js';
import { CliError } from './errors.js';

export interface ConvertResult {
  readonly tensors: number;
  readonly elements: number;
  readonly converted: string[];
}

export function convertWeights(input: string, output: string, select?: string): ConvertResult {
  const tensors = readWeightsFile(input);
  const out = new Map<string, F32Tensor>();
  const converted: string[] = [];
  let elements = 0;
  for (const [k, t] of tensors) {
    if (select !== undefined && !k.startsWith(select)) continue;
    const name = select !== undefined ? k.slice(select.length) : k;
    // Integer buffers (e.g. model_ema.num_updates) become F32: load_state_dict copies values into
    // the module's own buffer dtype, so PyTorch reads them back exactly (below 2^24).
    if (t.dtype !== 'F32' && t.dtype !== 'F16' && t.dtype !== 'BF16') converted.push(`${name} (${t.dtype})`);
    out.set(name, { shape: t.shape, data: t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as ArrayLike<number>) });
    elements += t.data.length;
  }
  if (out.size === 0) throw new CliError(select !== undefined ? `no tensor in '${input}' starts with '${select}'` : `'${input}' holds no tensors`);
  writeAtomic(output, serializeSafetensors(out, { format: 'pt', converted_by: 'ldmc' }));
  return { tensors: out.size, elements, converted };
}
