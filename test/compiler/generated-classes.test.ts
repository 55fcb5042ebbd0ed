// The generated wrapper and data-module classes run: FashionLdmCondDataModule yields real
// Fashion-MNIST batches of its declared keys and shape, FashionLdmCondLatentDiffusion is wired
// from the generated components (reference state_dict names) and samples through one DDIM step,
// an autoencoder config's model class reconstructs, and the declared types reject wrong shapes.
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import {
  FashionLdmCondCondStage,
  FashionLdmCondDataModule,
  FashionLdmCondFirstStage,
  FashionLdmCondLatentDiffusion,
  FashionLdmCondUNet,
  config as ldmCondConfig,
  type FashionLdmCondLatents,
} from '../../generated/fashion-ldm-cond/index.js';
import { Celeba256DataModule, Celeba256LatentDiffusion } from '../../generated/celeba256/index.js';
import { FashionVqF4FirstStage, FashionVqF4VQModel } from '../../generated/fashion-vq-f4/index.js';
import { SdV1InferenceCondStage, SdV1InferenceFirstStage, SdV1InferenceLatentDiffusion, SdV1InferenceUNet } from '../../generated/sd-v1-inference/index.js';
import { SdV2InferenceVCondStage, SdV2InferenceVLatentDiffusion, SdV2InferenceVUNet } from '../../generated/sd-v2-inference-v/index.js';
import { initBackend } from '../../runtime/backend.js';
import { disposeBatch } from '../../runtime/data/index.js';
import { DDIMSampler, LatentDiffusion, PLMSSampler, sampleLatents, seededNoise, type LatentDiffusionArgs } from '../../runtime/diffusion/index.js';
import { shaped } from '../../runtime/shaped.js';
import { emitTypeScript } from '../../compiler/emit-ts.js';
import { compileText } from '../support/compile.js';
import { FrozenCLIPEmbedder, FrozenOpenCLIPEmbedder } from '../../runtime/encoders/index.js';
import { repoRoot } from '../support/reference.js';
import { strictProgram } from '../support/typecheck.js';

const fmnist = '/usr/share/datasets/fashion-mnist';
const haveFmnist = existsSync(join(fmnist, 'train-images-idx3-ubyte.gz'));

describe('generated wrapper and data-module classes', function () {
  this.timeout(120000);
  before(async () => {
    await initBackend({ backend: 'cpu', quiet: true });
  });

  it('FashionLdmCondDataModule yields a first batch of the declared keys and shape', async function () {
    if (!haveFmnist) {
      this.test!.title += ' (pending: Debian dataset-fashion-mnist not installed; run scripts/install-datasets.sh)';
      this.skip();
    }
    const dm = new FashionLdmCondDataModule({ numWorkers: 0 });
    expect(dm.batchSize).to.equal(FashionLdmCondDataModule.batchSize).and.equal(64);
    const declared = FashionLdmCondDataModule.splits.train;
    // The registry's facts against what the loader really collates.
    const raw = await dm.trainDataloader().epoch(0).next();
    const rawBatch = raw.value!;
    expect(rawBatch.class_label).to.not.equal(null);
    expect(['image', ...(rawBatch.class_label ? ['class_label'] : []), ...Object.keys(rawBatch.text)]).to.have.members([...declared.keys]);

    const it = dm.trainBatches();
    const first = await it.next();
    await it.return(undefined);
    const b = first.value!;
    try {
      expect(Object.keys(b)).to.have.members([...declared.keys]);
      expect(b.image.shape).to.deep.equal([64, ...declared.imageShape]);
      expect(b.class_label.shape).to.deep.equal([64]);
      expect(b.class_label.dtype).to.equal('int32');
      expect(b.human_label).to.have.length(64);
      const [lo, hi] = [b.image.min().dataSync()[0]!, b.image.max().dataSync()[0]!];
      expect(lo).to.be.at.least(-1);
      expect(hi).to.be.at.most(1);
    } finally {
      disposeBatch(b);
    }
  });

  it('FashionLdmCondLatentDiffusion is wired from the generated components with the reference state_dict names', () => {
    const ld = new FashionLdmCondLatentDiffusion({ zeroInit: true });
    const plain = new LatentDiffusion(ldmCondConfig.model.params as unknown as LatentDiffusionArgs, { zeroInit: true });
    try {
      expect(ld.unet).to.be.instanceOf(FashionLdmCondUNet);
      expect(ld.first_stage_model).to.be.instanceOf(FashionLdmCondFirstStage);
      expect(ld.cond_stage_model).to.be.instanceOf(FashionLdmCondCondStage);
      expect([...ld.fullStateDict().keys()]).to.deep.equal([...plain.fullStateDict().keys()]);
      expect(ld.paramCount()).to.equal(plain.paramCount());
      expect(FashionLdmCondLatentDiffusion.timesteps).to.equal(ld.ddpm.numTimesteps);
      expect([FashionLdmCondLatentDiffusion.linearStart, FashionLdmCondLatentDiffusion.linearEnd]).to.deep.equal([0.0015, 0.0195]);
    } finally {
      ld.dispose();
      plain.dispose();
    }
  });

  it('FashionLdmCondLatentDiffusion takes one DDIM step with the generated UNet (and a guided one)', () => {
    const ld = new FashionLdmCondLatentDiffusion();
    try {
      ld.eval();
      // The UNet's last conv and the transformers' proj_out start at zero (zero_module), which
      // would make ε = 0 whatever the labels: give them weights so the step depends on the guidance.
      for (const [n, v] of ld.unet.namedParameters()) if (n.startsWith('out.2.') || n.includes('proj_out')) v.assign(tf.randomNormal(v.shape, 0, 0.05, 'float32', 1));
      const labels = tf.tensor1d([3, 7], 'int32');
      const steps: [number, number][] = [];
      const before = tf.memory().numTensors;
      const x = ld.sample({ batchSize: 2, cond: labels, steps: 1, seed: 5, onStep: (d, t) => steps.push([d, t]) });
      expect(tf.memory().numTensors - before).to.equal(1); // only the result is left
      expect(x.shape).to.deep.equal([2, 32, 32, 1]);
      expect(steps).to.deep.equal([[1, 1]]);
      const again = ld.sample({ batchSize: 2, cond: labels, steps: 1, seed: 5 });
      expect(Array.from(again.dataSync())).to.deep.equal(Array.from(x.dataSync()));
      const guided = ld.sample({ batchSize: 2, cond: labels, uncond: tf.tensor1d([0, 0], 'int32'), scale: 3, steps: 1, seed: 5 });
      expect(guided.shape).to.deep.equal([2, 32, 32, 1]);
      // Guidance shows in the latents; decoded images can coincide, since the VQ decoder
      // quantizes nearby latents to the same codes.
      const latents = (scale: number) =>
        tf.tidy(() => sampleLatents(ld, { batchSize: 2, cond: ld.getLearnedConditioning(labels), uncond: ld.getLearnedConditioning(tf.tensor1d([0, 0], 'int32')), scale, steps: 1, seed: 5 }));
      const [plainZ, guidedZ] = [latents(1), latents(3)];
      expect(Array.from(guidedZ.dataSync())).to.not.deep.equal(Array.from(plainZ.dataSync()));
      tf.dispose([plainZ, guidedZ]);
      // The shapes the types promise are checked at run time too.
      const z = tf.zeros([2, 8, 8, 3]) as FashionLdmCondLatents;
      const wrong = tf.zeros([2, 4, 4, 3]) as unknown as FashionLdmCondLatents;
      const c = ld.getLearnedConditioning(labels);
      expect(c.shape).to.deep.equal([2, 1, 64]);
      const eps = ld.applyModel(z, tf.tensor1d([999, 999], 'int32'), c);
      expect(eps.shape).to.deep.equal([2, 8, 8, 3]);
      expect(() => ld.decodeFirstStage(wrong)).to.throw(RangeError, /decodeFirstStage output has shape \[2, 16, 16, 1\], expected \[B, 32, 32, 1\]/);
      tf.dispose([labels, x, again, guided, z, wrong, c, eps]);
    } finally {
      ld.dispose();
    }
  });

  it('sampleLatents gives exactly what the DDIM and PLMS samplers give for the same noise and guidance', () => {
    const ld = new FashionLdmCondLatentDiffusion();
    const held: tf.Tensor[] = [];
    try {
      ld.eval();
      for (const [n, v] of ld.unet.namedParameters()) if (n.startsWith('out.2.') || n.includes('proj_out')) v.assign(tf.randomNormal(v.shape, 0, 0.05, 'float32', 2));
      const labels = tf.tensor1d([2, 9], 'int32'), nulls = tf.tensor1d([0, 0], 'int32');
      const c = ld.getLearnedConditioning(labels), uc = ld.getLearnedConditioning(nulls);
      held.push(labels, nulls, c, uc);
      for (const [name, Sampler] of [['ddim', DDIMSampler], ['plms', PLMSSampler]] as const) {
        const ours = sampleLatents(ld, { batchSize: 2, sampler: name, steps: 2, cond: c, scale: 2.5, uncond: uc, seed: 11 });
        const r = new Sampler(ld.ddpm).sample({ S: 2, batchSize: 2, shape: [8, 8, 3], conditioning: c, eta: 0, unconditionalGuidanceScale: 2.5, unconditionalConditioning: uc, noise: seededNoise(11), logEveryT: 1000 });
        held.push(ours, r.samples, ...r.intermediates.x_inter, ...r.intermediates.pred_x0);
        expect(Array.from(ours.dataSync()), name).to.deep.equal(Array.from(r.samples.dataSync()));
      }
    } finally {
      tf.dispose(held);
      ld.dispose();
    }
  });

  it('sample() rejects settings the model cannot take, before any work', () => {
    const ld = new FashionLdmCondLatentDiffusion({ zeroInit: true });
    const labels = tf.tensor1d([1], 'int32');
    try {
      expect(() => ld.sample({ batchSize: 1, cond: labels, scale: 2 })).to.throw(RangeError, /needs uncond/);
      expect(() => ld.sample({ batchSize: 1, cond: labels, sampler: 'plms', eta: 0.5 })).to.throw(RangeError, /eta must be 0/);
      expect(() => ld.sample({ batchSize: 1, cond: labels, steps: 1001 })).to.throw(RangeError, /1 to the model's 1000 timesteps/);
    } finally {
      labels.dispose();
      ld.dispose();
    }
  });

  it('an autoencoder config: FashionVqF4VQModel is its first stage and reconstructs images of its shape', () => {
    const m = new FashionVqF4VQModel();
    try {
      expect(m).to.be.instanceOf(FashionVqF4FirstStage);
      expect(FashionVqF4VQModel.imageShape).to.deep.equal([1, 32, 32]);
      const x = shaped(tf.zeros([2, 32, 32, 1]) as tf.Tensor4D, [null, 32, 32, 1]);
      const y = m.reconstruct(x);
      expect(y.shape).to.deep.equal([2, 32, 32, 1]);
      tf.dispose([x, y]);
      expect(() => shaped(tf.zeros([2, 28, 28, 1]) as tf.Tensor4D, [null, 32, 32, 1], 'images')).to.throw(RangeError, /images has shape \[2, 28, 28, 1\], expected \[B, 32, 32, 1\]/);
    } finally {
      m.dispose();
    }
  });

  it('celeba256: Celeba256DataModule and Celeba256LatentDiffusion exist and the data module constructs without its files', () => {
    const dm = new Celeba256DataModule({ dataRoot: '/nonexistent' });
    expect(dm.batchSize).to.equal(48);
    expect(dm.numWorkers).to.equal(Celeba256DataModule.numWorkers);
    expect(Celeba256DataModule.splits.train.target).to.equal('taming.data.faceshq.CelebAHQTrain');
    expect(Celeba256DataModule.splits.train.imageShape).to.deep.equal([256, 256, 3]);
    expect(Celeba256LatentDiffusion.timesteps).to.equal(1000);
    expect(Celeba256LatentDiffusion.conditioningKey).to.equal(null);
    expect(Celeba256LatentDiffusion.latentShape).to.deep.equal([3, 64, 64]);
  });
});

describe('generated file layout', function () {
  this.timeout(120000);
  const emit = (text: string, name: string) => {
    const r = compileText(text, [], `${name}.yaml`);
    expect(r.hasErrors, r.diagnostics.map((d) => d.message).join('\n')).to.equal(false);
    return emitTypeScript(r, { name, files: [`${name}.yaml`], texts: [text], overrides: [] });
  };
  const example = (f: string) => readFileSync(join(repoRoot, 'examples', f), 'utf8');

  it('a config without data: gets its model class and no data module, without an error', () => {
    const text = example('fashion-ldm-cond.yaml').replace(/^data:[\s\S]*?(?=^lightning:)/m, '');
    expect(text).to.not.match(/^data:/m);
    const files = emit(text, 'no-data');
    expect([...files.keys()]).to.include('no-data/model.ts').and.not.include('no-data/data-module.ts');
    expect(files.get('no-data/index.ts')).to.not.match(/DataModule/);
    expect(files.get('no-data/MODEL.md')).to.match(/`NoDataLatentDiffusion` extends `LatentDiffusion` \(model\.ts\)/);
  });

  it('an autoencoder config: model.ts holds <Name>VQModel / <Name>AutoencoderKL, first-stage.ts <Name>FirstStage', () => {
    for (const [f, kind] of [['fashion-vq-f4.yaml', 'VQModel'], ['fashion-kl-f4.yaml', 'AutoencoderKL']] as const) {
      const files = emit(example(f), 'ae');
      expect(files.get('ae/model.ts')).to.match(new RegExp(`export class Ae${kind} extends AeFirstStage`));
      expect(files.get('ae/first-stage.ts')).to.match(new RegExp(`export class AeFirstStage extends ${kind} `));
      expect(files.get('ae/data-module.ts')).to.match(/export class AeDataModule extends DataModule/);
    }
  });

  it('the classifier config (no diffusion model, no data) gets neither', () => {
    const files = emit(example('fashion-classifier.yaml'), 'clf');
    expect([...files.keys()].sort()).to.deep.equal(['clf/MODEL.md', 'clf/config.ts', 'clf/index.ts']);
  });

  it('a dataset\'s batch keys come from its registry facts (ImageFolder with class_folders)', () => {
    const text = example('fashion-ldm-cond.yaml').replace(/train:\n(\s+)target: ldmc\.data\.FashionMNIST\n\s+params: \{[^}]*\}/, 'train:\n$1target: ldmc.data.ImageFolder\n$1params: {root: imgs, size: 32, class_folders: true}');
    expect(text).to.match(/ldmc\.data\.ImageFolder/);
    const dm = emit(text, 'folder').get('folder/data-module.ts')!;
    expect(dm).to.match(/export interface FolderTrainBatch \{\n\s+image: Shaped<Tensor4D, \[number, 32, 32, 3\]>;\n\s+file_path_: string\[\];\n\s+relative_file_path_: string\[\];\n\s+class_label: Tensor1D;\n\s+human_label: string\[\];\n\}/);
  });
});

describe('generated types reject wrong shapes (test/compiler/generated-types.ts)', function () {
  this.timeout(120000);
  const src = join(repoRoot, 'test', 'compiler', 'generated-types.ts');
  // Same depth as the source (its relative imports hold), in a folder tsconfig.json excludes.
  const tmp = join(repoRoot, 'test', 'fixtures', '.generated-types-unexpected.ts');
  after(() => rmSync(tmp, { force: true }));

  it('each @ts-expect-error line is an error for the stated reason once the directive is removed', function () {
    const text = readFileSync(src, 'utf8');
    const lines = text.split('\n');
    const expected = lines.flatMap((l, i) => (/\/\/ @ts-expect-error/.test(l) ? [i + 2] : []));
    expect(expected.length).to.be.at.least(4);
    writeFileSync(tmp, text.replace(/\/\/ @ts-expect-error/g, '// (expected error)'));
    const program = strictProgram([tmp]);
    const diags = ts.getPreEmitDiagnostics(program).filter((d) => d.file?.fileName === tmp);
    const at = new Map<number, string>();
    for (const d of diags) at.set(d.file!.getLineAndCharacterOfPosition(d.start!).line + 1, ts.flattenDiagnosticMessageText(d.messageText, ' '));
    // Every marked line fails, and nothing else does.
    expect([...at.keys()].sort((a, b) => a - b)).to.deep.equal(expected);
  });
});

// The Stable Diffusion examples are 1.07B / 1.30B parameters: their committed classes are only
// type-checked (tsc over generated/, and strictly by test/compiler/emit-ts.test.ts) and their
// statics read here. What runs is the same two configs emitted with tiny --set widths (and the
// oracle's tiny CLIP text models), transpiled next to dist/runtime and imported.
describe('generated Stable Diffusion classes (examples/sd-*.yaml)', function () {
  this.timeout(120000);
  before(async () => {
    await initBackend({ backend: 'cpu', quiet: true });
  });

  it('declare the published counts, SD\'s 64×64 latents / 512×512 images, and v-prediction for v2', () => {
    expect(SdV1InferenceUNet.paramCount).to.equal(859520964);
    expect(SdV2InferenceVUNet.paramCount).to.equal(865910724);
    expect(SdV1InferenceFirstStage.paramCount).to.equal(83653863);
    expect(SdV1InferenceCondStage.paramCount).to.equal(123060480);
    expect(SdV1InferenceCondStage.target).to.equal('ldm.modules.encoders.modules.FrozenCLIPEmbedder');
    expect(SdV2InferenceVCondStage.target).to.equal('ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder');
    expect(Object.getPrototypeOf(SdV1InferenceCondStage)).to.equal(FrozenCLIPEmbedder);
    expect(Object.getPrototypeOf(SdV2InferenceVCondStage)).to.equal(FrozenOpenCLIPEmbedder);
    expect([SdV1InferenceCondStage.inputShape, SdV1InferenceCondStage.outputShape]).to.deep.equal([[77], [77, 768]]);
    expect([SdV2InferenceVCondStage.inputShape, SdV2InferenceVCondStage.outputShape]).to.deep.equal([[77], [77, 1024]]);
    for (const M of [SdV1InferenceLatentDiffusion, SdV2InferenceVLatentDiffusion]) {
      expect(M.latentShape).to.deep.equal([4, 64, 64]);
      expect(M.imageShape).to.deep.equal([3, 512, 512]);
      expect(M.conditioningKey).to.equal('crossattn');
    }
    expect(SdV1InferenceLatentDiffusion.paramCount).to.equal(859520964 + 83653863 + 123060480);
    expect(SdV1InferenceLatentDiffusion.parameterization).to.equal('eps');
    expect(SdV2InferenceVLatentDiffusion.parameterization).to.equal('v');
  });

  const U = 'model.params.unet_config.params', F = 'model.params.first_stage_config.params.ddconfig', C = 'model.params.cond_stage_config.params';
  // Tiny widths; ddconfig.resolution stays 256, so the images come from image_size × the VAE's factor.
  const tiny = [
    'model.params.image_size=8',
    `${U}.model_channels=32`, `${U}.channel_mult=[1,2]`, `${U}.attention_resolutions=[1]`, `${U}.num_res_blocks=1`, `${U}.context_dim=32`,
    `${F}.ch=32`, `${F}.ch_mult=[1,2]`, `${F}.num_res_blocks=1`,
  ];
  const cases = [
    { file: 'sd-v1-inference.yaml', name: 'sd-v1-tiny', set: [...tiny, `${U}.num_heads=2`, `${C}.version=sdparity/clip-text-tiny`], parameterization: 'eps' },
    { file: 'sd-v2-inference-v.yaml', name: 'sd-v2-tiny', set: [...tiny, `${U}.num_head_channels=16`, `${C}.arch=SDParity-TinyText`, `${C}.version=null`], parameterization: 'v' },
  ] as const;
  // dist/test/.sd-tiny/<name>/*.js: '../../..' is dist/, where the runtime's .js files are.
  const out = join(repoRoot, 'dist', 'test', '.sd-tiny');
  after(() => rmSync(out, { recursive: true, force: true }));

  interface TinyModel {
    readonly unet: { paramCount(): number };
    readonly cond_stage_model: unknown;
    paramCount(): number;
    eval(): void;
    dispose(): void;
    getLearnedConditioning(c: tf.Tensor2D): tf.Tensor3D;
    sample(o: { batchSize: number; cond: tf.Tensor2D; steps: number; seed: number }): tf.Tensor4D;
  }
  interface TinyModelClass {
    new (): TinyModel;
    readonly paramCount: number;
    readonly parameterization: string;
    readonly latentShape: readonly number[];
    readonly imageShape: readonly number[];
  }

  for (const k of cases) {
    it(`${k.file} with tiny --set widths: its generated tree builds, counts what its statics say and samples one DDIM step`, async () => {
      const text = readFileSync(join(repoRoot, 'examples', k.file), 'utf8');
      const r = compileText(text, [...k.set], `examples/${k.file}`);
      expect(r.hasErrors, r.diagnostics.map((d) => `${d.code} ${d.message}`).join('\n')).to.equal(false);
      const files = emitTypeScript(r, { name: k.name, files: [`examples/${k.file}`], texts: [text], overrides: [...k.set], runtimeBase: '../../..' });
      for (const [rel, src] of files) {
        if (!rel.endsWith('.ts')) continue;
        const js = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 } }).outputText;
        const p = join(out, rel.replace(/\.ts$/, '.js'));
        mkdirSync(dirname(p), { recursive: true });
        writeFileSync(p, js);
      }
      const Name = k.name === 'sd-v1-tiny' ? 'SdV1Tiny' : 'SdV2Tiny';
      const mod = (await import(pathToFileURL(join(out, k.name, 'index.js')).href)) as Record<string, unknown>;
      const M = mod[`${Name}LatentDiffusion`] as TinyModelClass;
      expect(M.parameterization).to.equal(k.parameterization);
      expect(M.latentShape).to.deep.equal([4, 8, 8]);
      expect(M.imageShape).to.deep.equal([3, 16, 16]);
      const ld = new M();
      const ids = tf.tensor2d([Array.from({ length: 77 }, (_, i) => (i * 7) % 1000)], [1, 77], 'int32');
      try {
        expect(ld.cond_stage_model).to.be.instanceOf(mod[`${Name}CondStage`] as new () => unknown);
        // The runtime tree has exactly the parameters the static facts counted.
        expect(ld.paramCount()).to.equal(M.paramCount);
        ld.eval();
        const c = ld.getLearnedConditioning(ids);
        expect(c.shape).to.deep.equal([1, 77, 32]);
        c.dispose();
        const x = ld.sample({ batchSize: 1, cond: ids, steps: 1, seed: 3 });
        expect(x.shape).to.deep.equal([1, 16, 16, 3]);
        expect(Array.from(x.dataSync()).every(Number.isFinite)).to.equal(true);
        x.dispose();
      } finally {
        ids.dispose();
        ld.dispose();
      }
    });
  }
});
