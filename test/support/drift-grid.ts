// The grid of small param settings the facts/runtime drift test (test/runtime/facts-drift.test.ts)
// builds every registered network with. One entry per target id with `statics` and `runtime`; a
// buildable target missing here fails that test. Keep the networks tiny: they are built and run
// on the cpu backend. To add a network: add its id with 2–3 settings (raw params as a config
// would write them; the test fills defaults with the registry schema).
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import type { Module } from '../../runtime/module.js';

export interface DriftCase {
  readonly name: string;
  readonly params: Record<string, unknown>;
  /** Image side for facts that depend on the data (SpatialRescaler); default 32. */
  readonly imageSide?: number;
  /** Where the facts' `parts` sit in the runtime's parameter paths, e.g. 'transformer.' (default ''). */
  readonly partsPrefix?: string;
  /**
   * Runs one batch-1 forward and returns the output tensor (NHWC for images) — for families the
   * test cannot run generically (cond stages). Its shape is compared with the facts' output.
   */
  readonly forward?: (m: Module) => Tensor;
}

const dd = (o: Record<string, unknown> = {}) => ({ double_z: false, z_channels: 4, resolution: 16, in_channels: 3, out_ch: 3, ch: 32, ch_mult: [1, 2], num_res_blocks: 1, attn_resolutions: [8], dropout: 0.0, ...o });
const ident = { target: 'torch.nn.Identity' };

export const driftGrid: Readonly<Record<string, readonly DriftCase[]>> = {
  'ldm.modules.diffusionmodules.openaimodel.UNetModel': [
    { name: 'plain, heads by channels', params: { image_size: 8, in_channels: 3, out_channels: 3, model_channels: 32, attention_resolutions: [2], num_res_blocks: 1, channel_mult: [1, 2], num_head_channels: 16 } },
    { name: 'cross-attention, 2 res blocks, resblock updown', params: { image_size: 8, in_channels: 4, out_channels: 4, model_channels: 32, attention_resolutions: [1, 2], num_res_blocks: 2, channel_mult: [1, 2], num_heads: 2, use_spatial_transformer: true, context_dim: 16, transformer_depth: 1, resblock_updown: true } },
    { name: 'class-conditional, scale-shift norm', params: { image_size: 8, in_channels: 3, out_channels: 3, model_channels: 32, attention_resolutions: [], num_res_blocks: 1, channel_mult: [1, 1, 2], num_heads: 1, num_classes: 5, use_scale_shift_norm: true } },
    // sd2's options (sdunet): linear projections, attn1 on the context per level and in the middle,
    // fewer attention blocks than ResBlocks, SD v2's head split (num_head_channels, legacy: false).
    { name: 'sd2: linear transformer, disabled self-attention, num_attention_blocks', params: { image_size: 8, in_channels: 4, out_channels: 4, model_channels: 32, attention_resolutions: [1, 2], num_res_blocks: 2, channel_mult: [1, 2], num_head_channels: 16, legacy: false, use_spatial_transformer: true, context_dim: 16, use_linear_in_transformer: true, disable_self_attentions: [true, false], num_attention_blocks: [1, 2], disable_middle_self_attn: true } },
  ],
  'ldm.models.autoencoder.VQModel': [
    { name: 'f2 with attention', params: { embed_dim: 4, n_embed: 16, ddconfig: dd(), lossconfig: ident } },
  ],
  'ldm.models.autoencoder.VQModelInterface': [
    { name: 'f4 without attention', params: { embed_dim: 3, n_embed: 8, ddconfig: dd({ ch_mult: [1, 1, 2], attn_resolutions: [], z_channels: 3 }), lossconfig: ident } },
  ],
  'ldm.models.autoencoder.AutoencoderKL': [
    { name: 'f2 with attention', params: { embed_dim: 4, ddconfig: dd({ double_z: true }), lossconfig: ident } },
    { name: 'f4, linear attention', params: { embed_dim: 2, ddconfig: dd({ double_z: true, z_channels: 2, ch_mult: [1, 2, 2], attn_type: 'linear' }), lossconfig: ident } },
  ],
  'ldm.modules.encoders.modules.ClassEmbedder': [
    { name: '10 classes', params: { embed_dim: 16, n_classes: 10 }, forward: (m) => (m as unknown as { embedClasses(ids: Tensor): Tensor }).embedClasses(int1d([3])) },
  ],
  'ldm.modules.encoders.modules.BERTEmbedder': [
    { name: 'tiny transformer', params: { n_embed: 16, n_layer: 2, vocab_size: 50, max_seq_len: 7, use_tokenizer: false }, partsPrefix: 'transformer.', forward: (m) => (m as unknown as { forward(t: Tensor): Tensor }).forward(int2d([[1, 2, 3, 4, 5, 6, 7]])) },
  ],
  'ldm.modules.encoders.modules.SpatialRescaler': [
    { name: 'two stages with a channel mapper', params: { n_stages: 2, in_channels: 3, out_channels: 5, multiplier: 0.5 }, imageSide: 16, forward: (m) => (m as unknown as { forward(x: Tensor): Tensor }).forward(zeros([1, 16, 16, 3])) },
    { name: 'one stage, no mapper', params: { n_stages: 1, in_channels: 2 }, imageSide: 8, forward: (m) => (m as unknown as { forward(x: Tensor): Tensor }).forward(zeros([1, 8, 8, 2])) },
  ],
  // The reference oracle's tiny text encoders (sd-parity), which the architecture tables know by
  // the names its YAML files use; the full-size ones are checked against state-dict-shapes.
  'ldm.modules.encoders.modules.FrozenCLIPEmbedder': [
    { name: 'tiny CLIP text model, last layer', params: { version: 'sdparity/clip-text-tiny' }, partsPrefix: 'transformer.text_model.', forward: (m) => textForward(m, 77) },
    { name: 'tiny CLIP text model, pooled (sd2)', params: { version: 'sdparity/clip-text-tiny', layer: 'pooled' }, partsPrefix: 'transformer.text_model.', forward: (m) => textForward(m, 77) },
    { name: 'tiny CLIP text model, hidden layer -2, 20 tokens', params: { version: 'sdparity/clip-text-tiny', layer: 'hidden', layer_idx: -2, max_length: 20 }, partsPrefix: 'transformer.text_model.', forward: (m) => textForward(m, 20) },
  ],
  'ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder': [
    { name: 'tiny OpenCLIP text tower, penultimate', params: { arch: 'SDParity-TinyText', version: null, layer: 'penultimate' }, partsPrefix: 'model.', forward: (m) => textForward(m, 77) },
    { name: 'tiny OpenCLIP text tower, last', params: { arch: 'SDParity-TinyText', version: null, layer: 'last' }, partsPrefix: 'model.', forward: (m) => textForward(m, 77) },
  ],
};

/** Token ids 0, 1, … of one prompt (the tiny vocabularies have 1000 entries). */
const textForward = (m: Module, tokens: number) => (m as unknown as { forward(t: Tensor): Tensor }).forward(int2d([Array.from({ length: tokens }, (_, i) => i % 1000)]));

const int1d = (v: number[]) => tf.tensor1d(v, 'int32');
const int2d = (v: number[][]) => tf.tensor2d(v, undefined, 'int32');
const zeros = (s: [number, number, number, number]) => tf.zeros(s);
