// taming/modules/losses/lpips.py: the learned perceptual metric on VGG16 features, NHWC.
// Weights cannot be downloaded by ldmc; `LPIPS.fromFile` reads them from files the user gives.
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import { Module, Sequential, type UnaryModule } from '../module.js';
import { Conv2d, Dropout } from '../nn/index.js';
import { readTorchCheckpoint } from '../weights/ckpt.js';
import { parseSafetensors, type RawTensor } from '../weights/safetensors.js';
import { loadStateDict, type TorchTensor } from '../weights/state-dict.js';

/** Channel widths of the five VGG16 stages (relu1_2 … relu5_3). */
export const VGG16_WIDTHS = [64, 128, 256, 512, 512] as const;

/** torchvision vgg16 `features` indices of each slice: convs and ReLUs (a leading max-pool from slice 2 on). */
const SLICE_CONVS = [[0, 2], [5, 7], [10, 12, 14], [17, 19, 21], [24, 26, 28]] as const;
const SLICE_STARTS = [0, 4, 9, 16, 23] as const;

class ReLU extends Module implements UnaryModule {
  static override readonly className = 'ReLU';
  forward<T extends Tensor>(x: T): T {
    return tf.relu(x);
  }
}

/**
 * 2×2 max-pool, stride 2 (floor mode), as reshape + max: the wasm backend has no MaxPoolGrad.
 * On ties the gradient is shared, where torch gives it to one element.
 */
class MaxPool2x extends Module implements UnaryModule {
  static override readonly className = 'MaxPool2d';
  forward<T extends Tensor>(x: T): T {
    return tf.tidy(() => {
      const [B, H, W, C] = x.shape as [number, number, number, number];
      const Ho = Math.floor(H / 2), Wo = Math.floor(W / 2);
      const xc = H % 2 || W % 2 ? tf.slice(x, [0, 0, 0, 0], [B, 2 * Ho, 2 * Wo, C]) : x;
      return tf.max(tf.reshape(xc, [B, Ho, 2, Wo, 2, C]), [2, 4]);
    }) as T;
  }
}

/** One `torch.nn.Sequential` slice of vgg16, whose children keep torchvision's feature indices. */
class VggSlice extends Module implements UnaryModule {
  static override readonly className = 'Sequential';
  private readonly layers: UnaryModule[] = [];
  constructor(entries: Array<[number, UnaryModule]>) {
    super();
    for (const [i, m] of entries) this.layers.push(this.add(String(i), m));
  }
  forward<T extends Tensor>(x: T): T {
    let h: Tensor = x;
    for (const l of this.layers) h = l.forward(h);
    return h as T;
  }
}

/** taming's `vgg16` feature extractor: slice1 … slice5 ending at relu1_2 … relu5_3. */
export class Vgg16Features extends Module {
  static override readonly className = 'vgg16';
  readonly slices: VggSlice[] = [];

  constructor(widths: readonly number[] = VGG16_WIDTHS) {
    super();
    let cin = 3;
    SLICE_CONVS.forEach((convs, s) => {
      const entries: Array<[number, UnaryModule]> = [];
      if (s > 0) entries.push([SLICE_STARTS[s]!, new MaxPool2x()]);
      for (const i of convs) {
        entries.push([i, new Conv2d(cin, widths[s]!, 3, { padding: 1 })], [i + 1, new ReLU()]);
        cin = widths[s]!;
      }
      this.slices.push(this.add(`slice${s + 1}`, new VggSlice(entries)));
    });
  }

  /** The five relu outputs. */
  forward(x: Tensor4D): Tensor4D[] {
    const outs: Tensor4D[] = [];
    let h = x;
    for (const s of this.slices) outs.push(h = s.forward(h));
    return outs;
  }
}

/** `NetLinLayer`: Dropout (p 0.5) then a bias-free 1×1 conv to one channel, as `model.{0,1}`. */
export class NetLinLayer extends Module {
  static override readonly className = 'NetLinLayer';
  readonly model: Sequential;
  constructor(chnIn: number, useDropout = true) {
    super();
    this.model = this.add('model', new Sequential([...(useDropout ? [new Dropout(0.5)] : []), new Conv2d(chnIn, 1, 1, { bias: false })]));
  }
}

export interface LPIPSOptions {
  /** VGG stage widths; anything but VGG16_WIDTHS is for tests (tiny random instances). */
  widths?: readonly number[];
}

/**
 * LPIPS(x, y) = Σ_k mean_hw( lin_k( (n(f_k(x)) − n(f_k(y)))² ) ), f_k the VGG relu outputs of
 * the scaled inputs and n a unit norm over channels. Inputs in [−1, 1]; output [B, 1, 1, 1].
 * All weights are frozen (non-trainable) but gradients flow to the inputs.
 *
 * Like the reference's NetLinLayer, the heads apply Dropout(0.5) whenever the module is in
 * training mode — taming builds LPIPS().eval(), but Lightning's model.train() turns it back on.
 */
export class LPIPS extends Module {
  static override readonly className = 'LPIPS';
  readonly net: Vgg16Features;
  readonly lins: NetLinLayer[];
  readonly widths: readonly number[];
  private readonly shift = tf.keep(tf.tensor1d([-0.03, -0.088, -0.188]));
  private readonly scale = tf.keep(tf.tensor1d([0.458, 0.448, 0.45]));

  constructor(opts: LPIPSOptions = {}) {
    super();
    this.widths = opts.widths ?? VGG16_WIDTHS;
    if (this.widths.length !== 5) throw new Error(`LPIPS: widths must list 5 stage widths, got ${this.widths.length}`);
    // `scaling_layer` holds only two constant buffers (kept as constants, not state here).
    this.net = this.add('net', new Vgg16Features(this.widths));
    this.lins = this.widths.map((c, k) => this.add(`lin${k}`, new NetLinLayer(c)));
    for (const v of this.parameters()) v.trainable = false;
  }

  /**
   * Reads VGG16 + LPIPS weights from one or more files (safetensors or torch zip; see
   * `lpipsStateDict` for the accepted names). A file that doesn't match throws an
   * LpipsWeightsError naming the expected keys.
   */
  static fromFile(paths: string | readonly string[], opts: LPIPSOptions = {}): LPIPS {
    const list = typeof paths === 'string' ? [paths] : paths;
    const tensors = new Map<string, RawTensor>();
    for (const p of list) for (const [k, v] of readWeights(p)) tensors.set(k, v);
    const lpips = new LPIPS(opts);
    try {
      lpips.load(lpipsStateDict(tensors));
    } catch (e) {
      lpips.dispose();
      throw new LpipsWeightsError(`${list.join(', ')}: ${(e as Error).message}`);
    }
    return lpips;
  }

  /** Loads PyTorch-named tensors (`net.slice1.0.weight`, `lin0.model.1.weight`, …); strict. */
  load(tensors: ReadonlyMap<string, TorchTensor>): void {
    const report = loadStateDict(this, tensors, { strict: false, ignoreKeys: [/^scaling_layer\./] });
    if (report.missing.length || report.shapeMismatch.length) {
      const parts = [];
      if (report.missing.length) parts.push(`missing ${report.missing.length} keys (${report.missing.slice(0, 6).join(', ')}${report.missing.length > 6 ? ', …' : ''})`);
      for (const m of report.shapeMismatch.slice(0, 4)) parts.push(`${m.key} has shape [${m.got.join(', ')}], expected [${m.expected.join(', ')}]`);
      throw new LpipsWeightsError(`not LPIPS/VGG16 weights: ${parts.join('; ')}. ${EXPECTED_KEYS}`);
    }
  }

  /** The five unit-normalised VGG feature maps of an image batch. */
  features(x: Tensor4D): Tensor4D[] {
    return tf.tidy(() => {
      const scaled = tf.div(tf.sub(x, this.shift), this.scale) as Tensor4D;
      return this.net.forward(scaled).map(normalizeTensor);
    });
  }

  /** LPIPS between images whose `features` are already known and `y` ([B, 1, 1, 1]). */
  distanceFrom(featsX: readonly Tensor4D[], y: Tensor4D): Tensor4D {
    return tf.tidy(() => {
      const featsY = this.features(y);
      const res = featsY.map((fy, k) => {
        const d = tf.square(tf.sub(featsX[k]!, fy)) as Tensor4D;
        return tf.mean(this.lins[k]!.model.forward(d), [1, 2], true) as Tensor4D;
      });
      return res.reduce((a, b) => tf.add(a, b));
    });
  }

  forward(x: Tensor4D, y: Tensor4D): Tensor4D {
    return tf.tidy(() => this.distanceFrom(this.features(x), y));
  }

  override dispose(): void {
    super.dispose();
    this.shift.dispose();
    this.scale.dispose();
  }
}

/**
 * x / (‖x‖_channels + 1e-10). The tiny term under the root keeps the gradient finite where a
 * feature vector is all zero (dead ReLUs), where torch's would be NaN; values move by < 1e-10.
 */
function normalizeTensor(x: Tensor4D): Tensor4D {
  return tf.tidy(() => tf.div(x, tf.add(tf.sqrt(tf.add(tf.sum(tf.square(x), -1, true), 1e-20)), 1e-10)));
}

export class LpipsWeightsError extends Error {
  override readonly name = 'LpipsWeightsError';
}

const EXPECTED_KEYS = 'Expected the VGG16 convolutions as torchvision names them (features.{0,2,5,7,10,12,14,17,19,21,24,26,28}.{weight,bias}) '
  + 'or as taming does (net.slice1.0.weight … net.slice5.28.bias), and the five LPIPS heads lin0.model.1.weight … lin4.model.1.weight '
  + '(taming\'s vgg.pth); a taming/latent-diffusion checkpoint with loss.perceptual_loss.* keys works too. Convert .pth files with `ldmc convert`.';

/**
 * Renames a file's tensors to this module's keys: torchvision `features.N.*` → `net.sliceK.N.*`,
 * and a prefix before `lin0.model.1.weight` / `net.slice1.0.weight` (e.g. `loss.perceptual_loss.`
 * in a full checkpoint) is stripped.
 */
export function lpipsStateDict<T>(tensors: ReadonlyMap<string, T>): Map<string, T> {
  const sliceOf = (i: number) => SLICE_STARTS.filter((s) => i >= s).length;
  let prefix = '';
  for (const k of tensors.keys()) {
    const m = /^(.*?)(lin0\.model\.1\.weight|net\.slice1\.0\.weight)$/.exec(k);
    if (m) { prefix = m[1]!; break; }
  }
  const out = new Map<string, T>();
  for (const [k, v] of tensors) {
    const f = /^(?:vgg16\.|vgg\.|model\.)?features\.(\d+)\.(weight|bias)$/.exec(k);
    if (f) { out.set(`net.slice${sliceOf(Number(f[1]))}.${f[1]}.${f[2]}`, v); continue; }
    if (k.startsWith(prefix)) out.set(k.slice(prefix.length), v);
  }
  return out;
}

function readWeights(path: string): Map<string, RawTensor> {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new LpipsWeightsError(`cannot read LPIPS weights '${path}': ${(e as Error).message}`);
  }
  try {
    const isZip = bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b;
    return isZip ? readTorchCheckpoint(bytes).tensors : parseSafetensors(bytes).tensors;
  } catch (e) {
    throw new LpipsWeightsError(`'${path}' is neither a safetensors file nor a PyTorch checkpoint: ${(e as Error).message}. ${EXPECTED_KEYS}`);
  }
}
