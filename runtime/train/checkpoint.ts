// Run checkpoints that survive a crash at any instant. Each one is a folder
// `checkpoints/step-NNNNNNN/` holding `model.safetensors` (PyTorch names: loadable by the reference)
// and `train.safetensors` (optimizer moments) with the loop state in its metadata. It is written
// under a temporary name and renamed into place (atomic), then `last.safetensors` (a hard link to
// the newest model file) and `last.json` are replaced by rename too. A kill at any point leaves the
// previous checkpoint whole, and last.json always names a complete folder.
import { existsSync, fsyncSync, linkSync, mkdirSync, openSync, closeSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSafetensors, serializeSafetensors, type F32Tensor, type RawTensor } from '../weights/safetensors.js';

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
  writeSynced(join(partial, 'model.safetensors'), serializeSafetensors(model, { format: 'pt', step: String(state.step) }));
  writeSynced(join(partial, 'train.safetensors'), serializeSafetensors(train, meta));
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
  const train = parseSafetensors(readFileSync(join(dir, 'train.safetensors')));
  const model = parseSafetensors(readFileSync(join(dir, 'model.safetensors')));
  const raw = train.metadata?.ldmc_state;
  if (!raw) throw new Error(`${dir}/train.safetensors has no ldmc_state metadata`);
  return { dir, state: JSON.parse(raw) as LoopState, model: model.tensors, train: train.tensors };
}
