// The celeba256 training flow in small (bench/scale/train-celeba256.sh runs the real size): a
// LatentDiffusion trained by `ldmc train` on an image folder of RGB PNGs, its VQ first stage from
// a torch.save-format .ckpt (ckpt_path), on the cpu backend, Adam and EMA, a checkpoint written.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { compile } from '../../compiler/program.js';
import { initBackend } from '../../runtime/backend.js';
import { buildComponent } from '../../runtime/build.js';
import { seedInit } from '../../runtime/nn/init.js';
import { parseSafetensors } from '../../runtime/weights/safetensors.js';
import { stateDict } from '../../runtime/weights/state-dict.js';
import { writeCheckpoint } from '../runtime/ckpt-writer.js';
import { diskHost } from '../support/compile.js';
import { repoRoot } from '../support/reference.js';

const bin = join(repoRoot, 'bin', 'ldmc.js');
const fixture = join(repoRoot, 'test', 'fixtures', 'train', 'tiny-ldm.yaml');

describe('ldmc train: image folder + first stage from a .ckpt, on the cpu backend', function () {
  this.timeout(300000);
  let dir: string;
  let config: string;
  let sets: string[];
  let vqWeights: Map<string, { shape: number[]; data: Float32Array }>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ldmc-train-folder-'));
    const images = join(dir, 'images');
    // Two class folders: the tiny model is class-conditional (class_label from the folder).
    for (let k = 0; k < 10; k++) {
      const cls = join(images, k % 2 ? 'b' : 'a');
      mkdirSync(cls, { recursive: true });
      const px = Buffer.alloc(32 * 32 * 3);
      for (let i = 0; i < px.length; i++) px[i] = (i * (k + 3) * 7) & 255;
      await sharp(px, { raw: { width: 32, height: 32, channels: 3 } }).png().toFile(join(cls, `im${k}.png`));
    }
    // The tiny LDM of the train tests with its data section replaced by image folders.
    const model = readFileSync(fixture, 'utf8').split('\ndata:')[0]!;
    const folder = `{target: ldmc.data.ImageFolder, params: {root: ${JSON.stringify(images)}, size: 32, class_folders: true}}`;
    config = join(dir, 'tiny-ldm-folder.yaml');
    writeFileSync(config, `${model}\ndata:\n  target: main.DataModuleFromConfig\n  params:\n    batch_size: 2\n    num_workers: 0\n    train: ${folder}\n    validation: ${folder}\n`);
    const rgb = ['ddconfig.in_channels=3', 'ddconfig.out_ch=3'].map((s) => `model.params.first_stage_config.params.${s}`);
    sets = [...rgb, `model.params.first_stage_config.params.ckpt_path=${join(dir, 'vq.ckpt')}`];
    // The first stage's weights, as a Lightning-style torch.save zip (state_dict under first_stage_model.).
    await initBackend({ backend: 'cpu', quiet: true });
    const r = compile({ files: [config], overrides: rgb }, diskHost);
    const fs = r.graph!.model!.children.get('first_stage_config') as { target: string; params: Record<string, unknown> };
    seedInit(11);
    const vq = buildComponent(fs.target, fs.params);
    vqWeights = stateDict(vq, 'first_stage_model.');
    vq.dispose();
    seedInit(undefined);
    writeFileSync(join(dir, 'vq.ckpt'), writeCheckpoint(vqWeights));
  });
  after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

  it('trains two steps, loads every first-stage tensor from the .ckpt, and writes a checkpoint with them unchanged', () => {
    const run = join(dir, 'run');
    const args = ['train', config, ...sets.flatMap((s) => ['--set', s]), '--backend', 'cpu', '--workers', '0', '--max-steps', '2', '--ckpt-every', '2', '--val-every', '2', '--val-batches', '1', '--run-dir', run];
    const r = spawnSync(process.execPath, [bin, ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 300000 });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr).to.include(`first stage: ${vqWeights.size} tensors from ${join(dir, 'vq.ckpt')}`);
    expect(r.stderr).to.match(/step 2\/2/);
    const last = join(run, 'checkpoints', 'last.safetensors');
    expect(existsSync(last)).to.equal(true);
    const saved = parseSafetensors(readFileSync(last)).tensors;
    let compared = 0;
    for (const [k, t] of vqWeights) {
      const s = saved.get(k);
      if (!s) continue;
      expect([...s.shape], k).to.deep.equal(t.shape);
      expect(Buffer.from((s.data as Float32Array).buffer).equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)), k).to.equal(true);
      compared++;
    }
    expect(compared, 'first-stage tensors in the written checkpoint').to.equal(vqWeights.size);
  });
});
