// Run checkpoints that survive a crash at any instant. Each one is a folder
// `checkpoints/step-NNNNNNN/` holding `model.safetensors` (PyTorch names: loadable by the reference)
// and `train.safetensors` (optimizer moments) with the loop state in its metadata. It is written
// under a temporary name and renamed into place (atomic), then `last.safetensors` (a hard link to
// the newest model file) and `last.json` are replaced by rename too. A kill at any point leaves the
// previous checkpoint whole, and last.json always names a complete folder.
import { existsSync, fsyncSync, linkSync, mkdirSync, openSync, closeSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { openSafetensors, safetensorsF32Layout, type F32Tensor, type RawTensor } from '../weights/safetensors.js';
import { FileSource } from '../weights/zip.js';

export interface LoopState {
  /** Optimizer steps done. */
  step: number;
  epoch: number;
  /** Batches of `epoch` already consumed. */
  batchInEpoch: number;
  seed: number;
  /** sha256 of the resolved config: a resume refuses a different one. */
  configHash: string;
  /** Anything else the task keeps (scale_factor, optimizer steps, the monitor's best value). */
  extra: Record<string, number | string | null>;
}

export interface Checkpoint {
  readonly dir: string;
  readonly state: LoopState;
  readonly model: Map<string, RawTensor>;
  readonly train: Map<string, RawTensor>;
}

const pad = (n: number) => String(n).padStart(7, '0');

/**
 * A safetensors file written tensor by tensor (the layout serializeSafetensors gives, byte for
 * byte) and fsynced: a celeba256 model with its EMA is 2.4 GB, past what one buffer or one
 * writeFileSync may hold, and building that buffer would double the memory.
 */
function writeSafetensorsSynced(path: string, tensors: ReadonlyMap<string, F32Tensor>, metadata: Record<string, string>): void {
  const { header, order } = safetensorsF32Layout([...tensors].map(([k, t]) => [k, t.shape] as const), metadata);
  const fd = openSync(path, 'w');
  try {
    const put = (b: Uint8Array): void => {
      for (let done = 0; done < b.length;) done += writeSync(fd, b, done, Math.min(1 << 30, b.length - done));
    };
    put(header);
    for (const name of order) {
      const t = tensors.get(name)!;
      const count = t.shape.reduce((a, b) => a * b, 1);
      if (t.data.length !== count) throw new Error(`safetensors: '${name}' has ${t.data.length} values for shape ${JSON.stringify(t.shape)}`);
      // Little-endian hosts only (as every platform Node runs on here): the array's bytes are the file's.
      const f = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
      put(new Uint8Array(f.buffer, f.byteOffset, f.byteLength));
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Every tensor of a safetensors file, read with positional reads (no 2 GiB whole-file limit). */
function readSafetensorsFile(path: string): { tensors: Map<string, RawTensor>; metadata: Record<string, string> } {
  const st = openSafetensors(FileSource.open(path));
  try {
    const tensors = new Map<string, RawTensor>();
    for (const [k, t] of st.tensors) tensors.set(k, { dtype: t.dtype, shape: t.shape, data: t.data });
    return { tensors, metadata: st.metadata };
  } finally {
    st.close();
  }
}

function writeSynced(path: string, data: Uint8Array | string): void {
  writeFileSync(path, data);
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes a checkpoint for `state.step`; keeps the newest `keep` folders. Returns its folder. */
export function saveCheckpoint(runDir: string, model: ReadonlyMap<string, F32Tensor>, train: ReadonlyMap<string, F32Tensor>, state: LoopState, keep = 2): string {
  const root = join(runDir, 'checkpoints');
  mkdirSync(root, { recursive: true });
  const name = `step-${pad(state.step)}`;
  const final = join(root, name);
  const partial = join(root, `.partial-${name}-${process.pid}`);
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial);
  const meta = { ldmc_state: JSON.stringify(state), step: String(state.step) };
  writeSafetensorsSynced(join(partial, 'model.safetensors'), model, { format: 'pt', step: String(state.step) });
  writeSafetensorsSynced(join(partial, 'train.safetensors'), train, meta);
  rmSync(final, { recursive: true, force: true });
  renameSync(partial, final);
  const link = join(root, `.last-${process.pid}.safetensors`);
  rmSync(link, { force: true });
  linkSync(join(final, 'model.safetensors'), link);
  renameSync(link, join(root, 'last.safetensors'));
  const tmp = join(root, `.last-${process.pid}.json`);
  writeSynced(tmp, JSON.stringify({ step: state.step, dir: name }) + '\n');
  renameSync(tmp, join(root, 'last.json'));
  const done = readdirSync(root).filter((d) => /^step-\d+$/.test(d)).sort();
  for (const d of done.slice(0, Math.max(0, done.length - keep))) rmSync(join(root, d), { recursive: true, force: true });
  return final;
}

/** The newest complete checkpoint of a run, or undefined when it has none. */
export function loadLatestCheckpoint(runDir: string): Checkpoint | undefined {
  const root = join(runDir, 'checkpoints');
  if (!existsSync(root)) return undefined;
  let name: string | undefined;
  try {
    name = (JSON.parse(readFileSync(join(root, 'last.json'), 'utf8')) as { dir: string }).dir;
  } catch {
    // No last.json (killed before the first one was renamed): take the newest complete folder.
    name = readdirSync(root).filter((d) => /^step-\d+$/.test(d)).sort().pop();
  }
  if (!name) return undefined;
  const dir = join(root, name);
  const train = readSafetensorsFile(join(dir, 'train.safetensors'));
  const model = readSafetensorsFile(join(dir, 'model.safetensors'));
  const raw = train.metadata?.ldmc_state;
  if (!raw) throw new Error(`${dir}/train.safetensors has no ldmc_state metadata`);
  return { dir, state: JSON.parse(raw) as LoopState, model: model.tensors, train: train.tensors };
}
