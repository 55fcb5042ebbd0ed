// Reads a weights file by its format: safetensors, or a PyTorch .ckpt/.pt (zip + restricted
// unpickler; its state_dict is extracted). Loaded only by the commands that run models.
// Both formats are read with positional reads, never as a whole-file buffer, so there is no size
// limit but memory; `openWeightsFile` reads no tensor until it is loaded, straight into place.
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { CheckpointError, openTorchCheckpoint, readTorchCheckpoint, type LazyTorchCheckpoint } from '../runtime/weights/ckpt.js';
import { WeightsFaults, WeightsFileError, quote, type WeightsFaultId } from '../runtime/weights/faults.js';
import { openSafetensors, SafetensorsError, type LazyTensor, type OpenSafetensors, type RawTensor } from '../runtime/weights/safetensors.js';
import { FileSource } from '../runtime/weights/zip.js';
import { CliError } from './errors.js';
// Printed lines stay within this (`ldmc: error[LDMC6xx]: ` included): a hostile file or a long
// path must not produce a screen-wide line.
const MAX_LINE = 200;

/** A weights-file fault as the CLI prints it: its code and hint, the file's path first. */
function weightsError(path: string, fault: WeightsFaultId, rawDetail: string): CliError {
  const f = WeightsFaults[fault];
  // Any control character from the file (an entry name with a newline) would break the line.
  // eslint-disable-next-line no-control-regex
  const detail = rawDetail.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const prefix = `ldmc: error[${f.code}]: `;
  // The detail is already clipped where it quotes the file; shorten the path (middle) if needed.
  let shown = path;
  const room = MAX_LINE - prefix.length - detail.length - 4;
  if (shown.length > room) shown = quote(path, Math.max(room, 24)).slice(1, -1);
  let msg = `${shown}: ${detail}`;
  if (prefix.length + msg.length > MAX_LINE) msg = `${msg.slice(0, MAX_LINE - prefix.length - 1)}…`;
  return new CliError(msg, f.hint, f.code);
}

/** Size and format of a weights file, from its first bytes; CliErrors for what cannot be opened. */
function sniff(path: string): { size: number; isZip: boolean } {
  let size: number;
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw weightsError(path, 'cannot_read', 'cannot read it: it is a directory');
    size = st.size;
  } catch (e) {
    if (e instanceof CliError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw weightsError(path, 'cannot_read', `cannot read it: ${code === 'ENOENT' ? 'no such file' : quote((e as Error).message, 120)}`);
  }
  const head = new Uint8Array(4);
  try {
    const fd = openSync(path, 'r');
    try { readSync(fd, head, 0, 4, 0); } finally { closeSync(fd); }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw weightsError(path, 'cannot_read', `cannot read it: ${code === 'EACCES' ? 'permission denied' : quote((e as Error).message, 120)}`);
  }
  // A legacy (torch < 1.6) pickle goes to the checkpoint reader too, which names that format.
  const legacy = head[0] === 0x80 && head[1] === 0x02 && head[2] === 0x8a && head[3] === 0x0a;
  return { size, isZip: size >= 4 && ((head[0] === 0x50 && head[1] === 0x4b) || legacy) };
}

/** Runs `read`, turning a CheckpointError (the file, or a tensor in it) into the CliError for `path`. */
export function withCheckpointErrors<T>(path: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof CheckpointError) {
      // Messages from the reader name the fault; strip the reader's own prefix, keep one line.
      const detail = e.message.replace(/^cannot read PyTorch checkpoint: /, '');
      throw weightsError(path, e.fault, detail);
    }
    throw e;
  }
}

/** A safetensors file opened by path; its faults as the CLI prints them. */
function openSafetensorsFile(path: string): OpenSafetensors {
  const src = FileSource.open(path);
  try {
    return openSafetensors(src);
  } catch (e) {
    src.close();
    if (!(e instanceof SafetensorsError)) throw e;
    throw weightsError(path, e.fault, e.fault === 'not_weights'
      ? `neither a safetensors file nor a PyTorch checkpoint: ${e.message}`
      : e.message);
  }
}

/** Runs `f`, turning a weights-file error met while reading a tensor into the CliError for `path`. */
function withTensorErrors<T>(path: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof WeightsFileError) throw weightsError(path, e.fault, e.message.replace(/^cannot read PyTorch checkpoint: /, ''));
    throw e;
  }
}

/** Every tensor of a weights file, read into memory (what `ldmc convert` needs for safetensors). */
export function readWeightsFile(path: string): Map<string, RawTensor> {
  const { isZip } = sniff(path);
  if (isZip) return withCheckpointErrors(path, () => readTorchCheckpoint(path).tensors);
  const st = openSafetensorsFile(path);
  try {
    const out = new Map<string, RawTensor>();
    for (const [name, t] of st.tensors) out.set(name, { dtype: t.dtype, shape: t.shape, data: withTensorErrors(path, () => t.data) });
    return out;
  } finally {
    st.close();
  }
}

/** A weights file opened for loading: tensors are read when loaded (`readInto`); `close()` after. */
export interface OpenWeights {
  readonly tensors: ReadonlyMap<string, LazyTensor>;
  close(): void;
}

/**
 * Opens a safetensors file or a PyTorch checkpoint for loading: the header (or the pickle) is
 * read and checked now, each tensor's data only when it is loaded, with one positional read
 * into the array that becomes the parameter (loadStateDict → fromTorch). A fault met then is
 * the same CliError (code, file, tensor, hint) as one met on opening.
 */
export function openWeightsFile(path: string): OpenWeights {
  const { isZip } = sniff(path);
  let tensors: ReadonlyMap<string, LazyTensor>, close: () => void;
  if (isZip) {
    const ck = withCheckpointErrors(path, () => openTorchCheckpoint(path));
    tensors = ck.lazyTensors;
    close = () => ck.close();
  } else {
    const st = openSafetensorsFile(path);
    tensors = st.tensors;
    close = () => st.close();
  }
  const wrapped = new Map<string, LazyTensor>();
  for (const [name, t] of tensors) {
    wrapped.set(name, {
      dtype: t.dtype, shape: t.shape, numel: t.numel, floating: t.floating,
      get data() { return withTensorErrors(path, () => t.data); },
      readInto: (dest) => withTensorErrors(path, () => t.readInto(dest)),
    });
  }
  return { tensors: wrapped, close };
}

/** Runs `f` with the weights file at `path` open, closing it afterwards. */
export function withWeightsFile<T>(path: string, f: (tensors: ReadonlyMap<string, LazyTensor>) => T): T {
  const w = openWeightsFile(path);
  try {
    return f(w.tensors);
  } finally {
    w.close();
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
