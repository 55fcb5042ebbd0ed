// `ldmc convert IN.ckpt OUT.safetensors [--select PREFIX]`: a PyTorch checkpoint's state_dict as
// safetensors (F32, PyTorch names and layouts), read with the allow-listed unpickler.
// A checkpoint is streamed: the pickle gives every tensor's shape, so the safetensors header is
// written first, then one tensor at a time is read from the zip (positional reads, CRC-checked)
// and appended. Memory is about one tensor, whatever the checkpoint's size (official
// latent-diffusion checkpoints are up to ~6 GB). The output is written to a temporary file in
// the same folder and renamed at the end, so an interrupted convert never leaves half a file.
// Progress (bytes written) shows once a convert has run for a second: small files stay quiet.
import { endianness } from 'node:os';
import { writeAtomicChunks } from '../runtime/util/atomic.js';
import { Progress, type ProgressSink } from '../runtime/util/progress.js';
import { safetensorsF32Layout, type RawTensor } from '../runtime/weights/safetensors.js';
import { openCheckpointFile, readWeightsFile, withCheckpointErrors } from './weights-file.js';
import { CliError } from './errors.js';

export interface ConvertResult {
  readonly tensors: number;
  readonly elements: number;
  readonly converted: string[];
}

/** What convert needs of its input: names, dtypes and shapes up front, data one tensor at a time. */
interface TensorSource {
  readonly specs: ReadonlyMap<string, { readonly dtype: RawTensor['dtype']; readonly shape: readonly number[] }>;
  load(name: string): RawTensor;
  close(): void;
}

function openInput(input: string): TensorSource {
  const ck = openCheckpointFile(input);
  if (ck) {
    return {
      specs: ck.tensors,
      load: (name) => withCheckpointErrors(input, () => ck.load(name)),
      close: () => ck.close(),
    };
  }
  const tensors = readWeightsFile(input); // safetensors (e.g. F16 → F32): already in memory
  return { specs: tensors, load: (name) => tensors.get(name)!, close: () => {} };
}

/** `progress` shows the bytes written once `progressDelayMs` have passed. */
export function convertWeights(input: string, output: string, select?: string, progress?: ProgressSink, progressDelayMs = 1000): ConvertResult {
  const src = openInput(input);
  try {
    const names = new Map<string, string>(); // output name → input name
    const converted: string[] = [];
    let elements = 0;
    for (const [k, t] of src.specs) {
      if (select !== undefined && !k.startsWith(select)) continue;
      const name = select !== undefined ? k.slice(select.length) : k;
      names.set(name, k);
      // Integer buffers (e.g. model_ema.num_updates) become F32: load_state_dict copies values into
      // the module's own buffer dtype, so PyTorch reads them back exactly (below 2^24).
      if (t.dtype !== 'F32' && t.dtype !== 'F16' && t.dtype !== 'BF16') converted.push(`${name} (${t.dtype})`);
      elements += t.shape.reduce((a, b) => a * b, 1);
    }
    if (names.size === 0) throw new CliError(select !== undefined ? `no tensor in '${input}' starts with '${select}'` : `'${input}' holds no tensors`);
    const shapes = [...names].map(([name, k]) => [name, src.specs.get(k)!.shape] as const);
    const bar = new Progress(progress, 4 * elements, { label: 'ldmc: converting', amounts: 'bytes', delayMs: progressDelayMs });
    let written = 0;
    try {
      writeSafetensorsStream(output, shapes, { format: 'pt', converted_by: 'ldmc' }, (name) => {
        const t = src.load(names.get(name)!);
        return t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as ArrayLike<number>);
      }, (n) => bar.update((written += n)));
    } finally {
      bar.done();
    }
    return { tensors: names.size, elements, converted };
  } finally {
    src.close();
  }
}

/**
 * Writes an F32 safetensors file (the bytes serializeSafetensors gives for the same tensors)
 * without holding it in memory: the header, then `values(name)` for each tensor in file order,
 * each released before the next is asked for. Temporary file + rename; fs errors are CliErrors.
 */
function writeSafetensorsStream(
  output: string, shapes: ReadonlyArray<readonly [string, readonly number[]]>, metadata: Record<string, string>,
  values: (name: string) => Float32Array, onWritten: (bytes: number) => void,
): void {
  const layout = safetensorsF32Layout(shapes, metadata);
  const shapeOf = new Map(shapes);
  function* chunks(): Generator<Uint8Array> {
    yield layout.header;
    for (const name of layout.order) {
      const data = values(name);
      const count = shapeOf.get(name)!.reduce((a, b) => a * b, 1);
      if (data.length !== count) throw new Error(`tensor '${name}' has ${data.length} values for shape [${shapeOf.get(name)!}]`);
      yield f32le(data);
      onWritten(4 * count);
    }
  }
  try {
    writeAtomicChunks(output, chunks());
  } catch (e) {
    // File-system errors (they name a syscall) are the user's to fix; the rest are reported as they are.
    if (e instanceof Error && 'syscall' in e) throw new CliError(`cannot write '${output}': ${e.message}`);
    throw e;
  }
}

const LITTLE_ENDIAN_HOST = endianness() === 'LE';

/** The values as F32 little-endian bytes: a view of the array itself on little-endian hosts. */
function f32le(data: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN_HOST) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.length * 4), view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(4 * i, data[i]!, true);
  return out;
}
