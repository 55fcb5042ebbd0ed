// `ldmc convert IN.ckpt OUT.safetensors [--select PREFIX]`: a PyTorch checkpoint's state_dict as
// safetensors (F32, PyTorch names and layouts), read with the allow-listed unpickler.
// A checkpoint is streamed: the pickle gives every tensor's shape, so the safetensors header is
// written first, then one tensor at a time is read from the zip (positional reads, CRC-checked)
// and appended. Memory is about one tensor, whatever the checkpoint's size (official
// latent-diffusion checkpoints are up to ~6 GB). The output is written to a temporary file in
// the same folder and renamed at the end, so an interrupted convert never leaves half a file.
import { closeSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { endianness } from 'node:os';
import { dirname } from 'node:path';
import { CheckpointError } from '../runtime/weights/ckpt.js';
import { safetensorsF32Layout, type RawTensor } from '../runtime/weights/safetensors.js';
import { checkpointCliError, openCheckpointFile, readWeightsFile } from './weights-file.js';
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
      load: (name) => {
        try {
          return ck.load(name);
        } catch (e) {
          if (e instanceof CheckpointError) throw checkpointCliError(input, e);
          throw e;
        }
      },
      close: () => ck.close(),
    };
  }
  const tensors = readWeightsFile(input); // safetensors (e.g. F16 → F32): already in memory
  return { specs: tensors, load: (name) => tensors.get(name)!, close: () => {} };
}

export function convertWeights(input: string, output: string, select?: string): ConvertResult {
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
    writeSafetensorsStream(output, shapes, { format: 'pt', converted_by: 'ldmc' }, (name) => {
      const t = src.load(names.get(name)!);
      return t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as ArrayLike<number>);
    });
    return { tensors: names.size, elements, converted };
  } finally {
    src.close();
  }
}

const WRITE_CHUNK = 64 << 20;

/**
 * Writes an F32 safetensors file (the bytes serializeSafetensors gives for the same tensors)
 * without holding it in memory: the header, then `values(name)` for each tensor in file order,
 * each released before the next is asked for. Temporary file + rename; fs errors are CliErrors.
 */
function writeSafetensorsStream(
  output: string, shapes: ReadonlyArray<readonly [string, readonly number[]]>, metadata: Record<string, string>,
  values: (name: string) => Float32Array,
): void {
  const layout = safetensorsF32Layout(shapes, metadata);
  const shapeOf = new Map(shapes);
  const tmp = `${output}.tmp-${process.pid}`;
  let fd: number | undefined;
  const fsFail = (e: unknown): never => {
    throw new CliError(`cannot write '${output}': ${(e as Error).message}`);
  };
  const writeAll = (bytes: Uint8Array): void => {
    for (let done = 0; done < bytes.length;) {
      try {
        done += writeSync(fd!, bytes, done, Math.min(WRITE_CHUNK, bytes.length - done));
      } catch (e) {
        fsFail(e);
      }
    }
  };
  try {
    try {
      mkdirSync(dirname(output) || '.', { recursive: true });
      fd = openSync(tmp, 'w');
    } catch (e) {
      fsFail(e);
    }
    writeAll(layout.header);
    let written = 0;
    for (const name of layout.order) {
      const data = values(name);
      const count = shapeOf.get(name)!.reduce((a, b) => a * b, 1);
      if (data.length !== count) throw new Error(`tensor '${name}' has ${data.length} values for shape [${shapeOf.get(name)!}]`);
      writeAll(f32le(data));
      written += 4 * count;
    }
    if (written !== layout.dataBytes) throw new Error(`wrote ${written} bytes of tensor data, the header says ${layout.dataBytes}`);
    try {
      closeSync(fd!);
      fd = undefined;
      renameSync(tmp, output);
    } catch (e) {
      fsFail(e);
    }
  } catch (e) {
    try {
      if (fd !== undefined) closeSync(fd);
      rmSync(tmp, { force: true });
    } catch {
      // e.g. the folder could not be made: there is no temporary file; report the first error
    }
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
