// ddpm.py `DiffusionWrapper` and the conditioning plumbing of `LatentDiffusion.apply_model`:
// how a conditioning tensor reaches the UNet for each conditioning_key.
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor1D, Tensor2D, Tensor3D, Tensor4D } from '@tensorflow/tfjs-core';
import { Module } from '../module.js';

import { ConditioningInputs, type ConditioningKey } from '../../schema/diffusion.js';
import { assertNever } from '../../schema/assert-never.js';
export type { ConditioningKey };

/** DiffusionWrapper.forward's keyword arguments: lists, as in the reference. */
export interface CondDict {
  /** NHWC maps concatenated to x along channels (concat, hybrid). */
  readonly c_concat?: readonly Tensor4D[];
  /** [B, M, D] contexts concatenated along tokens (crossattn, hybrid), or [B] labels (adm: first item). */
  readonly c_crossattn?: readonly Tensor[];
  /** sd2's *-adm keys: the UNet's y, made by the wrapper subclass (noise level, image embedding). */
  readonly c_adm?: Tensor;
}

/** What apply_model accepts: a tensor, a list of tensors, or the dict itself (hybrid). */
export type Cond = Tensor | readonly Tensor[] | CondDict;

/** The denoising network's output for (x_t, t, cond): ε, x₀ or v depending on the parameterization. */
export type EpsModel = (x: Tensor4D, t: Tensor1D, cond?: CondDict) => Tensor4D;

/** What DiffusionWrapper needs of its network: UNetModel's forward. */
export interface DenoisingNetwork extends Module {
  forward(x: Tensor4D, timesteps: Tensor1D, context?: Tensor3D, y?: Tensor1D | Tensor2D): Tensor4D;
}

/** The c_adm of the sd2 *-adm keys (`assert c_adm is not None` in the reference). */
function needAdm(cond: CondDict, key: string): Tensor1D | Tensor2D {
  if (!cond.c_adm) throw new Error(`DiffusionWrapper: conditioning_key '${key}' needs c_adm`);
  return cond.c_adm as Tensor1D | Tensor2D;
}

function isCondDict(c: Cond): c is CondDict {
  return !(c instanceof tf.Tensor) && !Array.isArray(c);
}

/**
 * apply_model's wrapping: a dict passes through (hybrid); anything else becomes a one-item list
 * under c_concat for 'concat' and c_crossattn otherwise (which is also where 'adm' reads y).
 */
export function toCondDict(cond: Cond | undefined, key: ConditioningKey | null): CondDict | undefined {
  if (cond === undefined) return undefined;
  if (isCondDict(cond)) return cond;
  const list = cond instanceof tf.Tensor ? [cond] : [...(cond as readonly Tensor[])];
  return key !== null && ConditioningInputs[key].concat && !ConditioningInputs[key].context ? { c_concat: list as Tensor4D[] } : { c_crossattn: list };
}

/**
 * Batch-concatenates two conditionings of the same form, `first` before `second` — the
 * classifier-free-guidance `cat([uc, c])`. The reference handles single tensors only; lists and
 * dicts are concatenated item by item.
 */
export function concatCond(first: Cond, second: Cond): Cond {
  if (first instanceof tf.Tensor && second instanceof tf.Tensor) return tf.concat([first, second], 0);
  if (Array.isArray(first) && Array.isArray(second)) {
    if (first.length !== second.length) throw new Error(`concatCond: lists of ${first.length} and ${second.length} items`);
    return first.map((f: Tensor, i: number) => tf.concat([f, second[i] as Tensor], 0));
  }
  if (isCondDict(first) && isCondDict(second)) {
    const out: { c_concat?: Tensor4D[]; c_crossattn?: Tensor[]; c_adm?: Tensor } = {};
    if (first.c_concat || second.c_concat) out.c_concat = concatCond(first.c_concat ?? [], second.c_concat ?? []) as Tensor4D[];
    if (first.c_crossattn || second.c_crossattn) out.c_crossattn = concatCond(first.c_crossattn ?? [], second.c_crossattn ?? []) as Tensor[];
    if (first.c_adm && second.c_adm) out.c_adm = tf.concat([first.c_adm, second.c_adm], 0);
    else if (first.c_adm || second.c_adm) throw new Error('concatCond: only one of the two conditionings has c_adm');
    return out;
  }
  throw new Error('concatCond: the conditional and unconditional conditionings differ in form (tensor, list or dict)');
}

/** Every tensor inside a conditioning (to dispose what concatCond built). */
export function condTensors(c: Cond | undefined): Tensor[] {
  if (c === undefined) return [];
  if (c instanceof tf.Tensor) return [c];
  if (Array.isArray(c)) return [...(c as readonly Tensor[])];
  const d = c as CondDict;
  return [...(d.c_concat ?? []), ...(d.c_crossattn ?? []), ...(d.c_adm ? [d.c_adm] : [])];
}

/**
 * ddpm.DiffusionWrapper: holds the network as `diffusion_model`, so the state_dict keys are
 * `diffusion_model.*` (under the LatentDiffusion's `model.`), and routes the conditioning.
 */
export class DiffusionWrapper extends Module {
  static override readonly className = 'DiffusionWrapper';
  readonly diffusion_model: DenoisingNetwork;

  constructor(network: DenoisingNetwork, readonly conditioningKey: ConditioningKey | null) {
    super();
    this.diffusion_model = this.add('diffusion_model', network);
  }

  forward(x: Tensor4D, t: Tensor1D, cond: CondDict = {}): Tensor4D {
    const key = this.conditioningKey;
    const need = (list: readonly Tensor[] | undefined, name: string): readonly Tensor[] => {
      if (!list || list.length === 0) throw new Error(`DiffusionWrapper: conditioning_key '${key}' needs ${name}`);
      return list;
    };
    return tf.tidy(() => {
      switch (key) {
        case null:
          return this.diffusion_model.forward(x, t);
        case 'concat':
          return this.diffusion_model.forward(tf.concat([x, ...need(cond.c_concat, 'c_concat')] as Tensor4D[], 3), t);
        case 'crossattn':
          return this.diffusion_model.forward(x, t, tf.concat(need(cond.c_crossattn, 'c_crossattn') as Tensor3D[], 1));
        case 'hybrid':
          return this.diffusion_model.forward(
            tf.concat([x, ...need(cond.c_concat, 'c_concat')] as Tensor4D[], 3), t,
            tf.concat(need(cond.c_crossattn, 'c_crossattn') as Tensor3D[], 1));
        case 'adm':
          return this.diffusion_model.forward(x, t, undefined, need(cond.c_crossattn, 'c_crossattn (the class labels y)')[0] as Tensor1D);
        case 'hybrid-adm':
          return this.diffusion_model.forward(
            tf.concat([x, ...need(cond.c_concat, 'c_concat')] as Tensor4D[], 3), t,
            tf.concat(need(cond.c_crossattn, 'c_crossattn') as Tensor3D[], 1), needAdm(cond, key));
        case 'crossattn-adm':
          return this.diffusion_model.forward(x, t, tf.concat(need(cond.c_crossattn, 'c_crossattn') as Tensor3D[], 1), needAdm(cond, key));
        default:
          return assertNever(key);
      }
    });
  }

  /** This wrapper as an EpsModel for DDPM and the samplers. */
  asEpsModel(): EpsModel {
    return (x, t, cond) => this.forward(x, t, cond);
  }
}
