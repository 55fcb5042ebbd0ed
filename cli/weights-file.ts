// Reads a weights file by its format: safetensors, or a PyTorch .ckpt/.pt (zip + restricted
// unpickler; its state_dict is extracted). Loaded only by the commands that run models.
// Checkpoints are read with positional reads (no size limit but memory); safetensors files are
// read whole, so up to Node's 2 GiB readFileSync limit.
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { CheckpointError, openTorchCheckpoint, readTorchCheckpoint, type LazyTorchCheckpoint } from '../runtime/weights/ckpt.js';
import { parseSafetensors, type RawTensor } from '../runtime/weights/safetensors.js';
import { CliError } from './errors.js';

const MAX_READ = 2 ** 31 - 1; // fs.readFileSync's limit in Node 20

/** Size and format of a weights file, from its first bytes; CliErrors for what cannot be opened. */
function sniff(path: string): { size: number; isZip: boolean } {
  let size: number;
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw new CliError(`cannot read '${path}': it is a directory`);
    size = st.size;
  } catch (e) {
    if (e instanceof CliError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(`cannot read '${path}': ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  const head = new Uint8Array(2);
  try {
    const fd = openSync(path, 'r');
    try { readSync(fd, head, 0, 2, 0); } finally { closeSync(fd); }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(`cannot read '${path}': ${code === 'EACCES' ? 'permission denied' : (e as Error).message}`);
  }
  return { size, isZip: size >= 4 && head[0] === 0x50 && head[1] === 0x4b };
}

/** Runs `read`, turning a CheckpointError (the file, or a tensor in it) into the CliError for `path`. */
export function withCheckpointErrors<T>(path: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof CheckpointError) {
      throw new CliError(`'${path}' is not a readable PyTorch checkpoint: ${e.message.replace(/^cannot read PyTorch checkpoint: /, '')}`);
    }
    throw e;
  }
}

export function readWeightsFile(path: string): Map<string, RawTensor> {
  const { size, isZip } = sniff(path);
  if (isZip) return withCheckpointErrors(path, () => readTorchCheckpoint(path).tensors);
  if (size > MAX_READ) {
    throw new CliError(`'${path}' is ${(size / 2 ** 30).toFixed(1)} GiB; ldmc reads safetensors files of up to 2 GiB so far`,
      'convert the part you need from the original .ckpt (ldmc convert … --select PREFIX), or split the file');
  }
  try {
    return parseSafetensors(readFileSync(path)).tensors;
  } catch (e) {
    throw new CliError(`'${path}' is neither a safetensors file nor a PyTorch checkpoint: ${(e as Error).message}`, 'ldmc reads .safetensors and zip-format .ckpt/.pt files (torch ≥ 1.6)');
  }
}

/**
 * A PyTorch checkpoint opened for reading one tensor at a time (`close()` it), or undefined when
 * the file is not a zip (then it is safetensors or nothing: use readWeightsFile).
 */
export function openCheckpointFile(path: string): LazyTorchCheckpoint | undefined {
  if (!sniff(path).isZip) return undefined;
  return withCheckpointErrors(path, () => openTorchCheckpoint(path));
}
