// `ldmc forward CONFIG --weights W --inputs I --out O [--component C] [--backend B]`: one forward
// pass of the model a config describes, with PyTorch-layout tensors in and out (the names of
// ../shared/reference/parity/README.md), to debug a model or check parity from outside.
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor1D, Tensor2D, Tensor3D, Tensor4D } from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { child, className, type IRNode } from '../compiler/ir.js';
import type { AutoencoderKL, VQModel } from '../runtime/autoencoder/index.js';
import { backendsToSkipForWeights, float32Bytes } from '../runtime/fit.js';
import { initBackend, type BackendName } from '../runtime/backend.js';
import { buildComponent, canBuild, type RuntimeComponent } from '../runtime/build.js';
import type { UNetModel } from '../runtime/unet/index.js';
import { assertNever, diffusionSlots, type CondInput, type DiffusionSlots } from '../schema/family.js';
import type { TargetSpec } from '../schema/index.js';
import { parseSafetensors, SafetensorsError, serializeSafetensors, type F32Tensor, type RawTensor } from '../runtime/weights/safetensors.js';
import { formatReport, loadStateDict } from '../runtime/weights/state-dict.js';
import type { ParsedArgs } from './args.js';
import { UsageError } from './args.js';
import { CliError } from './errors.js';
import { writeAtomic } from './fs-util.js';
import { openWeightsFile } from './weights-file.js';

export type Component = 'unet' | 'first_stage' | 'cond_stage';
const SLOT_OF_ROLE: Record<Component, keyof DiffusionSlots> = { unet: 'unet', first_stage: 'firstStage', cond_stage: 'condStage' };
/** Where LatentDiffusion keeps each part in its state_dict (ldm/models/diffusion/ddpm.py). */
export const CHECKPOINT_PREFIX: Record<Component, string> = { unet: 'model.diffusion_model.', first_stage: 'first_stage_model.', cond_stage: 'cond_stage_model.' };

export function parseBackend(a: ParsedArgs): BackendName | undefined {
  const b = a.values.backend?.at(-1);
  if (b === undefined) return undefined;
  if (b !== 'tensorflow' && b !== 'wasm' && b !== 'cpu') throw new UsageError(`--backend must be tensorflow, wasm or cpu, not '${b}'`);
  return b;
}

/** The IR node of the component to run: the model itself, or one part of a LatentDiffusion. */
export function selectComponent(model: IRNode, component: string | undefined): { node: IRNode; role: Component } {
  const own: Component | undefined = model.spec.families.includes('unet') ? 'unet' : model.spec.families.includes('first_stage') ? 'first_stage' : model.spec.families.includes('cond_stage') ? 'cond_stage' : undefined;
  if (component !== undefined && !(component in SLOT_OF_ROLE)) throw new UsageError(`--component must be unet, first_stage or cond_stage, not '${component}'`);
  if (own) {
    if (component && component !== own) throw new CliError(`the config's model is a ${className(model)} (a ${own}); it has no ${component}`);
    return { node: model, role: own };
  }
  if (!component) throw new CliError(`the config's model is a ${className(model)}; say which part to run`, 'add --component unet, first_stage or cond_stage');
  const role = component as Component;
  const key = diffusionSlots(model.spec)[SLOT_OF_ROLE[role]];
  const c = model.children.get(key);
  if (!c || typeof c !== 'object') throw new CliError(`the ${className(model)} has no ${role}${typeof c === 'string' ? ` (it is ${c})` : ''}`);
  return { node: child(model, key)!, role };
}

export interface ForwardOptions {
  readonly weights: string;
  readonly inputs: string;
  readonly out: string;
  readonly backend: BackendName | undefined;
  readonly prefix: string | undefined;
  readonly ignoreKeys: readonly string[];
  readonly strict: boolean;
  readonly log: (s: string) => void;
}

export async function runForward(sel: { node: IRNode; role: Component }, o: ForwardOptions): Promise<string[]> {
  if (!canBuild(sel.node.target)) throw new CliError(`the runtime cannot build ${sel.node.target} yet`);
  const file = openWeightsFile(o.weights);
  const weights = file.tensors;
  let model: ReturnType<typeof buildComponent> | undefined;
  try {
    const inputs = readInputs(o.inputs);
    // Weights over most of the wasm heap: the cpu backend (native kernels there too) unless --backend.
    const choice = o.backend ? { skip: [] } : backendsToSkipForWeights(float32Bytes(weights.values()));
    if (choice.why) o.log(choice.why);
    await initBackend(o.backend ? { backend: o.backend } : { skip: choice.skip });
    model = buildComponent(sel.node.target, sel.node.params, { zeroInit: true, configDir: dirname(sel.node.targetSpan.file) });
    const prefix = o.prefix ?? guessPrefix(weights, sel.role);
    const ignore = o.ignoreKeys.map((k) => new RegExp(`^${k.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    const report = loadStateDict(model, weights, { prefix, ignoreKeys: ignore, strict: false });
    if (report.missing.length || report.unexpected.length || report.shapeMismatch.length) {
      const text = formatReport(`${className(sel.node)} from ${o.weights}${prefix ? ` (prefix '${prefix}')` : ''}`, report);
      if (o.strict || report.missing.length || report.shapeMismatch.length) {
        throw new CliError(text, report.unexpected.length && !report.missing.length ? 'pass --non-strict to load anyway, or --ignore-keys PREFIX to drop the unexpected keys' : 'check that the config matches the checkpoint (or pass --prefix)');
      }
      o.log(`warning: ${text.split('\n').slice(1).join('; ')}`);
    }
    file.close();
    model.eval();
    const outputs = run(sel.node.spec, model, inputs);
    const outFile = new Map<string, F32Tensor>();
    for (const [k, t] of outputs) {
      outFile.set(k, { shape: t.shape, data: t.dataSync() as Float32Array });
      t.dispose();
    }
    writeAtomic(o.out, serializeSafetensors(outFile));
    return [...outFile.keys()];
  } finally {
    file.close();
    model?.dispose();
  }
}

function guessPrefix(weights: ReadonlyMap<string, RawTensor>, role: Component): string {
  const p = CHECKPOINT_PREFIX[role];
  for (const k of weights.keys()) if (k.startsWith(p)) return p;
  return '';
}

function readInputs(path: string): Map<string, RawTensor> {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch {
    throw new CliError(`cannot read inputs '${path}': no such file`);
  }
  try {
    return parseSafetensors(bytes).tensors;
  } catch (e) {
    if (!(e instanceof SafetensorsError)) throw e;
    throw new CliError(`inputs '${path}' are not a readable safetensors file: ${e.message}`, e.hint, e.code);
  }
}

function need(inputs: ReadonlyMap<string, RawTensor>, name: string, rank: number, what: string): RawTensor {
  const t = inputs.get(name);
  if (!t) throw new CliError(`the inputs have no '${name}' (${what}); they have: ${[...inputs.keys()].join(', ') || 'nothing'}`);
  if (t.shape.length !== rank) throw new CliError(`input '${name}' must have rank ${rank} (${what}), got shape [${t.shape.join(', ')}]`);
  return t;
}

const toFloat = (t: RawTensor) => tf.tensor(Float32Array.from(t.data as ArrayLike<number>), [...t.shape], 'float32');
/** NCHW (PyTorch) → NHWC (runtime). */
const image = (t: RawTensor) => tf.tidy(() => tf.transpose(toFloat(t), [0, 2, 3, 1]) as Tensor4D);
/** NHWC → NCHW. */
const torchImage = (t: Tensor) => tf.tidy(() => tf.transpose(t, [0, 3, 1, 2]));

/** The runtime shapes run() drives, per family (the registry's statics say which one a class has). */
type UNetLike = Pick<UNetModel, 'forward'>;
type VQLike = Pick<VQModel, 'encoder' | 'encodeToPrequant' | 'quantize' | 'decodeQuant'>;
type KLLike = Pick<AutoencoderKL, 'encoder' | 'encode' | 'decode'>;

/**
 * One forward pass, chosen by the target's family statics (never its class): a UNet, an
 * autoencoder by its regulariser, a cond stage by what it conditions on.
 */
function run(spec: TargetSpec, model: RuntimeComponent, inputs: ReadonlyMap<string, RawTensor>): Map<string, Tensor> {
  const st = spec.statics;
  const what = spec.id.split('.').pop()!;
  if (!st) throw new CliError(`ldmc forward does not run ${what} (the registry gives it no family descriptor)`);
  switch (st.family) {
    case 'unet':
      return runUNet(model as unknown as UNetLike, inputs);
    case 'first_stage':
      switch (st.regularizer) {
        case 'vq':
          return runVQ(model as unknown as VQLike, inputs);
        case 'kl':
          return runKL(model as unknown as KLLike, inputs);
        default:
          return assertNever(st.regularizer, 'regularizer');
      }
    case 'cond_stage':
      return runCondStage(st.conditioning, what, model, inputs);
    case 'diffusion':
    case 'loss':
    case 'lr_scheduler':
    case 'callback':
      throw new CliError(`ldmc forward does not run ${what} (a ${st.family} target); run one component of a model`);
    default:
      return assertNever(st, 'family');
  }
}

function runUNet(model: UNetLike, inputs: ReadonlyMap<string, RawTensor>): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  const x = image(need(inputs, 'x', 4, 'the noisy latent, NCHW'));
  const t = toFloat(need(inputs, 'timesteps', 1, 'one timestep per sample')) as Tensor1D;
  const ctx = inputs.has('context') ? (toFloat(need(inputs, 'context', 3, '[batch, tokens, dim]')) as Tensor3D) : undefined;
  const y = inputs.has('y') ? (tf.cast(toFloat(need(inputs, 'y', 1, 'class labels')), 'int32') as Tensor1D) : undefined;
  const o = model.forward(x, t, ctx, y);
  out.set('out', torchImage(o));
  tf.dispose([x, t, ctx, y, o]);
  return out;
}

function runVQ(model: VQLike, inputs: ReadonlyMap<string, RawTensor>): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  const x = image(need(inputs, 'x', 4, 'images in [-1, 1], NCHW'));
  const enc = model.encoder.forward(x);
  const h = model.encodeToPrequant(x);
  const q = model.quantize.forward(h);
  const decoded = model.decodeQuant(q.zq);
  const decodedNoQ = model.decodeQuant(h);
  out.set('encoder_out', torchImage(enc)).set('h', torchImage(h)).set('quant', torchImage(q.zq));
  out.set('indices', tf.cast(tf.reshape(q.indices, [-1]), 'float32')).set('emb_loss', tf.reshape(q.loss, [1]));
  out.set('decoded', torchImage(decoded)).set('decoded_no_quantize', torchImage(decodedNoQ));
  tf.dispose([x, enc, h, q.zq, q.loss, q.indices, decoded, decodedNoQ]);
  return out;
}

function runKL(model: KLLike, inputs: ReadonlyMap<string, RawTensor>): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  const x = image(need(inputs, 'x', 4, 'images in [-1, 1], NCHW'));
  const enc = model.encoder.forward(x);
  const post = model.encode(x);
  const mode = model.decode(post.mean);
  out.set('encoder_out', torchImage(enc)).set('moments', torchImage(post.parameters));
  out.set('mean', torchImage(post.mean)).set('logvar', torchImage(post.logvar)).set('std', torchImage(post.std));
  out.set('decoded_mode', torchImage(mode)).set('kl', post.kl());
  if (inputs.has('eps')) {
    const eps = image(need(inputs, 'eps', 4, 'the normal draw of the posterior sample, NCHW'));
    const z = post.sample(eps);
    const dec = model.decode(z);
    out.set('z_sample', torchImage(z)).set('decoded_sample', torchImage(dec));
    tf.dispose([eps, z, dec]);
  }
  tf.dispose([x, enc, mode]);
  post.dispose();
  return out;
}

/** A cond stage's forward, by what it conditions on (CondStageStatics.conditioning). */
function runCondStage(input: CondInput | undefined, what: string, model: RuntimeComponent, inputs: ReadonlyMap<string, RawTensor>): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  if (!input) throw new CliError(`ldmc forward does not run ${what} yet (its registry entry does not say what it conditions on)`);
  switch (input.kind) {
    case 'class': {
      const m = model as unknown as { readonly key: string; embedClasses(ids: Tensor): Tensor };
      const y = need(inputs, inputs.has('y') ? 'y' : m.key, 1, 'class labels');
      const ids = tf.cast(toFloat(y), 'int32');
      out.set('out', m.embedClasses(ids));
      ids.dispose();
      return out;
    }
    case 'map': {
      const x = image(need(inputs, 'x', 4, 'the conditioning map, NCHW'));
      out.set('out', torchImage((model as unknown as { forward(x: Tensor4D): Tensor4D }).forward(x)));
      x.dispose();
      return out;
    }
    case 'text': {
      const tokens = tf.cast(toFloat(need(inputs, 'tokens', 2, 'token ids [batch, length]')), 'int32') as Tensor2D;
      out.set('out', (model as unknown as { forward(t: Tensor2D): Tensor }).forward(tokens));
      tokens.dispose();
      return out;
    }
    case 'image':
    case 'embedding':
      throw new CliError(`ldmc forward does not run ${what} yet (a cond stage of ${input.kind} inputs)`);
    default:
      return assertNever(input, 'conditioning');
  }
}
