// Reads a weights file by its format: safetensors, or a PyTorch .ckpt/.pt (zip + restricted
// unpickler; its state_dict is extracted). Loaded only by the commands that run models.
import { readFileSync, statSync } from 'node:fs';
import { CheckpointError, readTorchCheckpoint } from '../runtime/weights/ckpt.js';
import { parseSafetensors, type RawTensor } from '../runtime/weights/safetensors.js';
import { CliError } from './errors.js';

const MAX_READ = 2 ** 31 - 1; // fs.readFileSync's limit in Node 20

export function readWeightsFile(path: string): Map<string, RawTensor> {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    throw new CliError(`cannot read '${path}': no such file`);
  }
  if (size > MAX_READ) {
    throw new CliError(`'${path}' is ${(size / 2 ** 30).toFixed(1)} GiB; ldmc reads weight files of up to 2 GiB so far`, 'convert the part you need in PyTorch, or split the checkpoint');
  }
  const bytes = readFileSync(path);
  const isZip = bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b;
  try {
    if (isZip) return readTorchCheckpoint(bytes).tensors;
    return parseSafetensors(bytes).tensors;
  } catch (e) {
    if (e instanceof CheckpointError) throw new CliError(`'${path}' is not a readable PyTorch checkpoint: ${e.message}`);
    throw new CliError(`'${path}' is neither a safetensors file nor a PyTorch checkpoint: ${(e as Error).message}`, 'ldmc reads .safetensors and zip-format .ckpt/.pt files (torch ≥ 1.6)');
  }
}
