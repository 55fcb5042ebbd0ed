// schema/facts on hand-made params: each option's effect, computed by hand from the reference
// constructors (openaimodel.py, model.py, modules.py).
import { expect } from 'chai';
import {
  autoencoderFacts,
  channelsAtLevels,
  checkUNetParams,
  classEmbedderFacts,
  ddconfigDefaults,
  identityFacts,
  spatialRescalerFacts,
  unetDefaults,
  unetFacts,
} from '../../schema/facts/index.js';
import type { DDConfig, UNetFactsParams } from '../../schema/facts/index.js';

/** unet_tiny of the parity data: 8×8, two levels, attention at ds 2. */
function tiny(over: Partial<UNetFactsParams> = {}): UNetFactsParams {
  return {
    ...unetDefaults,
    image_size: 8, in_channels: 3, out_channels: 3, model_channels: 32,
    attention_resolutions: [2], num_res_blocks: 1, channel_mult: [1, 2], num_head_channels: 16,
    ...over,
  };
}

const conv = (cin: number, cout: number, k: number) => cout * cin * k * k + cout;
const linear = (fin: number, fout: number) => fin * fout + fout;

describe('schema/facts: UNetModel options', function () {
  it('counts unet_tiny layer by layer', function () {
    const f = unetFacts(tiny());
    const ted = 128;
    const res = (cin: number, cout: number) =>
      2 * cin + conv(cin, cout, 3) + linear(ted, cout) + 2 * cout + conv(cout, cout, 3) + (cin === cout ? 0 : conv(cin, cout, 1));
    const attn = (c: number) => 2 * c + (3 * c * c + 3 * c) + (c * c + c);
    expect(f.parts.time_embed).to.equal(linear(32, ted) + linear(ted, ted));
    expect(f.parts.input_blocks).to.equal(conv(3, 32, 3) + res(32, 32) + conv(32, 32, 3) + res(32, 64) + attn(64));
    expect(f.parts.middle_block).to.equal(2 * res(64, 64) + attn(64));
    expect(f.parts.out).to.equal(2 * 32 + conv(32, 3, 3));
    expect(f.paramCount).to.equal(702499); // parity/summary.json
    expect(f.attention.map((a) => [a.block, a.path, a.resolution[0], a.heads])).to.deep.equal([
      ['input', 'input_blocks.3.1', 4, 4], ['middle', 'middle_block.1', 4, 4],
      ['output', 'output_blocks.0.1', 4, 4], ['output', 'output_blocks.1.1', 4, 4],
    ]);
  });

  it('reports an attention resolution that matches no level', function () {
    const f = unetFacts(tiny({ attention_resolutions: [2, 8] }));
    expect(f.unmatchedAttentionResolutions).to.deep.equal([8]);
    expect(f.paramCount).to.equal(unetFacts(tiny()).paramCount);
  });

  it('num_classes adds label_emb = Embedding(num_classes, 4·model_channels)', function () {
    const f = unetFacts(tiny({ num_classes: 10 }));
    expect(f.parts.label_emb).to.equal(10 * 128);
    expect(f.paramCount - unetFacts(tiny()).paramCount).to.equal(1280);
  });

  it('use_scale_shift_norm doubles every ResBlock emb_layers output', function () {
    const base = unetFacts(tiny());
    const ss = unetFacts(tiny({ use_scale_shift_norm: true }));
    // ResBlock out channels: input 32, 64; middle 64, 64; output 64, 64, 32, 32.
    const outs = [32, 64, 64, 64, 64, 64, 32, 32];
    expect(ss.paramCount - base.paramCount).to.equal(outs.reduce((a, c) => a + 129 * c, 0));
  });

  it('resblock_updown replaces Downsample/Upsample convs by ResBlocks', function () {
    const f = unetFacts(tiny({ resblock_updown: true, num_heads: 2, num_head_channels: -1, in_channels: 4, out_channels: 4, use_scale_shift_norm: true }));
    expect(f.paramCount).to.equal(828068); // parity unet_tiny_updown
    expect(f.attention.every((a) => a.heads === 2)).to.equal(true);
  });

  it('n_embed adds the codebook head and changes the output', function () {
    const f = unetFacts(tiny({ n_embed: 100 }));
    expect(f.parts.id_predictor).to.equal(2 * 32 + 32 * 100 + 100);
    expect(f.outputShape).to.deep.equal([100, 8, 8]);
  });

  it('legacy: false gives SpatialTransformer heads = ch // num_head_channels', function () {
    const f = unetFacts(tiny({ use_spatial_transformer: true, context_dim: 16, legacy: false, num_head_channels: 8 }));
    for (const a of f.attention) expect([a.heads, a.headChannels, a.innerDim]).to.deep.equal([8, 8, 64]);
  });

  it('num_heads with legacy: SpatialTransformer uses ch // num_heads per head', function () {
    const f = unetFacts(tiny({ use_spatial_transformer: true, context_dim: 16, num_heads: 1, num_head_channels: -1 }));
    for (const a of f.attention) expect([a.heads, a.headChannels]).to.deep.equal([1, 64]);
  });

  it('flags what the reference constructor asserts, and odd widths', function () {
    expect(checkUNetParams(tiny({ num_head_channels: -1 })).map((i) => i.code)).to.deep.equal(['unet/heads-unset']);
    expect(checkUNetParams(tiny({ use_spatial_transformer: true })).map((i) => i.code)).to.deep.equal(['unet/context-dim-missing']);
    expect(unetFacts(tiny({ num_head_channels: 24 })).errors.map((i) => i.code)).to.include('unet/attention-head-channels');
    expect(unetFacts(tiny({ image_size: 6 })).warnings.map((i) => i.code)).to.deep.equal([]);
    expect(unetFacts(tiny({ image_size: 7 })).warnings.map((i) => i.code)).to.include('unet/skip-size-mismatch');
    expect(unetFacts(tiny({ channel_mult: [2, 2] })).warnings.map((i) => i.code)).to.include('unet/out-channels-mismatch');
  });

  it('scales FLOPs and activations with the batch, not params', function () {
    const one = unetFacts(tiny());
    const four = unetFacts(tiny(), { batch: 4 });
    expect(four.paramCount).to.equal(one.paramCount);
    expect(four.flops).to.equal(4 * one.flops);
    expect(four.activationElements).to.equal(4 * one.activationElements);
  });

  it('use_checkpoint keeps fewer activations but costs the same FLOPs', function () {
    const plain = unetFacts(tiny());
    const ckpt = unetFacts(tiny({ use_checkpoint: true }));
    expect(ckpt.flops).to.equal(plain.flops);
    expect(ckpt.activationElements).to.be.below(plain.activationElements);
    expect(ckpt.recomputePeakElements).to.be.above(0);
  });

  it('channelsAtLevels', function () {
    expect(channelsAtLevels({ model_channels: 224, channel_mult: [1, 2, 3, 4] })).to.deep.equal([224, 448, 672, 896]);
  });
});

describe('schema/facts: first stage and cond stage', function () {
  const dd = (over: Partial<DDConfig> = {}): DDConfig => ({
    ...ddconfigDefaults,
    ch: 32, out_ch: 3, ch_mult: [1, 2], num_res_blocks: 1, attn_resolutions: [8],
    in_channels: 3, resolution: 16, z_channels: 3, double_z: false, ...over,
  });

  it('vq_tiny: parts, latent, attention sites', function () {
    const f = autoencoderFacts({ kind: 'vq', ddconfig: dd(), embed_dim: 3, n_embed: 64 });
    expect(f.paramCount).to.equal(705342); // parity/summary.json
    expect(f.parts.quantize).to.equal(64 * 3);
    expect(f.latentShape).to.deep.equal([3, 8, 8]);
    expect(f.outputShape).to.deep.equal([3, 16, 16]);
    expect(f.attention.map((a) => a.path)).to.deep.equal([
      'encoder.down.1.attn.0', 'encoder.mid.attn_1', 'decoder.mid.attn_1', 'decoder.up.1.attn.0', 'decoder.up.1.attn.1',
    ]);
  });

  it('inputSide: a convolutional autoencoder run on other images than ddconfig.resolution (a LatentDiffusion at image_size × f)', function () {
    const at16 = autoencoderFacts({ kind: 'vq', ddconfig: dd(), embed_dim: 3, n_embed: 64 });
    const at32 = autoencoderFacts({ kind: 'vq', ddconfig: dd(), embed_dim: 3, n_embed: 64 }, { inputSide: 32 });
    expect([at32.resolution, at32.inputShape, at32.latentShape, at32.outputShape]).to.deep.equal([16, [3, 32, 32], [3, 16, 16], [3, 32, 32]]);
    expect(at32.paramCount).to.equal(at16.paramCount);
    // resolution still places the blocks; what they attend over doubles with the images.
    expect(at32.attention.map((a) => [a.path, a.resolution, a.side])).to.deep.equal(at16.attention.map((a) => [a.path, a.resolution, 2 * a.side]));
    expect(at16.attention.every((a) => a.side === a.resolution)).to.equal(true);
    expect(at32.flops.encode).to.be.greaterThan(4 * at16.flops.encode);
  });

  it("attn_type 'none' and 'linear' change only the attention blocks", function () {
    const vanilla = autoencoderFacts({ kind: 'vq', ddconfig: dd(), embed_dim: 3, n_embed: 64 });
    const none = autoencoderFacts({ kind: 'vq', ddconfig: dd({ attn_type: 'none' }), embed_dim: 3, n_embed: 64 });
    const lin = autoencoderFacts({ kind: 'vq', ddconfig: dd({ use_linear_attn: true }), embed_dim: 3, n_embed: 64 });
    const c = 64; // every attention block here is 64 channels wide, 5 of them
    expect(vanilla.paramCount - none.paramCount).to.equal(5 * (4 * c * c + 6 * c));
    expect(lin.paramCount - none.paramCount).to.equal(5 * (4 * c * c + c));
    expect(none.attention).to.deep.equal([]);
  });

  it('VQ with double_z warns; KL without double_z is an error', function () {
    expect(autoencoderFacts({ kind: 'vq', ddconfig: dd({ double_z: true }), embed_dim: 3, n_embed: 8 }).warnings.map((i) => i.code)).to.deep.equal(['autoencoder/vq-double-z']);
    expect(autoencoderFacts({ kind: 'kl', ddconfig: dd({ double_z: false }), embed_dim: 3 }).errors.map((i) => i.code)).to.deep.equal(['autoencoder/kl-double-z']);
  });

  it('cond stages', function () {
    expect(classEmbedderFacts({ embed_dim: 512, n_classes: 1001 }).paramCount).to.equal(512512);
    expect(classEmbedderFacts({ embed_dim: 512, n_classes: 1000 }).output).to.deep.equal({ kind: 'tokens', shape: [1, 512] });
    const r = spatialRescalerFacts({ n_stages: 1, method: 'bilinear', multiplier: 0.5, in_channels: 3, out_channels: null, bias: false }, [3, 33, 32]);
    expect([r.paramCount, r.output]).to.deep.equal([0, { kind: 'spatial', shape: [3, 16, 16] }]);
    const rb = spatialRescalerFacts({ n_stages: 0, method: 'bilinear', multiplier: 0.5, in_channels: 3, out_channels: 4, bias: true }, [3, 8, 8]);
    expect([rb.paramCount, rb.output]).to.deep.equal([16, { kind: 'spatial', shape: [4, 8, 8] }]);
    expect(identityFacts().paramCount).to.equal(0);
  });
});
