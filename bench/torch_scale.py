# PyTorch side of the `scale` bench section (bench/scale.js): the big models as the reference runs them.
#
#   python3 bench/torch_scale.py make-celeba-ckpt OUT.ckpt          random celeba256 LatentDiffusion, Lightning-style .ckpt
#   python3 bench/torch_scale.py make-txt2img-ckpt OUT.ckpt         random txt2img-1p4B UNet under model.diffusion_model.
#   python3 bench/torch_scale.py celeba-sample CKPT OUT.png [--steps 5]      whole process: import, build, torch.load, DDIM, decode, PNG
#   python3 bench/torch_scale.py celeba-train CKPT [--iters N] [--warmup N]  training steps at batch 2 (AdamW, LitEma); JSON line
#   python3 bench/torch_scale.py txt2img-fwd CKPT INPUTS.safetensors OUT.safetensors [--iters N]  UNet forward at batch 1; JSON line
#   python3 bench/torch_scale.py make-txt2img-inputs OUT.safetensors
# Options: --threads N (default 2), --seed N.
#
# ldm is not installed here: the modules below are compact re-implementations of CompVis/latent-diffusion's
# (openaimodel.py UNetModel/ResBlock/AttentionBlock/QKVAttentionLegacy, attention.py SpatialTransformer/
# BasicTransformerBlock/CrossAttention/FeedForward/GEGLU, model.py Encoder/Decoder, autoencoder.py VQModelInterface,
# taming VectorQuantizer2, ema.py LitEma, ddpm.py's schedule buffers and p_losses, ddim.py's DDIM update), with the
# reference's attribute names, so their state_dicts carry the reference's keys and a checkpoint moves between
# this script, ldmc and the reference. Faithful where it costs time:
# - AttentionBlock always runs through ldm's `checkpoint` (its forward passes flag True), BasicTransformerBlock
#   through it with checkpoint=True, ResBlock with use_checkpoint (False in celeba256, True in txt2img-1p4B):
#   forward under no_grad, recomputation in backward, as ldm.modules.diffusionmodules.util.CheckpointFunction.
# - LitEma: the shadow update of ldm/modules/ema.py (decay min(0.9999, (1+n)/(10+n)), dict of named params
#   rebuilt each call), run after every optimizer step (on_train_batch_end).
# - Sampling runs inside ema_scope (the EMA weights are copied into the UNet first), as scripts/sample_diffusion.py.
# Differences: no Lightning (the training step is zero_grad/forward/backward/step/EMA written out, no logging,
# no LR scheduler: celeba256 has none); DDIM sampling without the intermediates and progress bars.
import sys, os, time, json, math, struct, statistics, resource

args = sys.argv[1:]
def opt(name, default):
    return type(default)(args[args.index(name) + 1]) if name in args else default
THREADS = opt('--threads', 2)
SEED = opt('--seed', 0)
pos = [a for i, a in enumerate(args) if not a.startswith('--') and (i == 0 or not args[i - 1].startswith('--'))]

T_IMPORT0 = time.perf_counter()
import torch, torch.nn as nn, torch.nn.functional as F
torch.set_num_threads(THREADS); torch.manual_seed(SEED)

# ------------------------------------------------------------------ ldm.modules.diffusionmodules.util.checkpoint
class _Checkpoint(torch.autograd.Function):
    """Forward without storing activations; backward recomputes them (ldm's CheckpointFunction)."""
    @staticmethod
    def forward(ctx, fn, n_in, *tensors):
        ctx.fn, ctx.inputs, ctx.params = fn, list(tensors[:n_in]), list(tensors[n_in:])
        with torch.no_grad():
            return fn(*ctx.inputs)
    @staticmethod
    def backward(ctx, *grads):
        inputs = [x.detach().requires_grad_(True) for x in ctx.inputs]
        with torch.enable_grad():
            # view_as: in-place ops inside fn must not touch the detached leaves (as the reference does)
            out = ctx.fn(*[x.view_as(x) for x in inputs])
        g = torch.autograd.grad(out, inputs + ctx.params, grads, allow_unused=True)
        del ctx.inputs, ctx.params
        return (None, None) + g

def checkpoint(fn, inputs, params, flag):
    if flag and torch.is_grad_enabled():
        return _Checkpoint.apply(fn, len(inputs), *inputs, *params)
    return fn(*inputs)

def zero_module(m):
    for p in m.parameters(): p.detach().zero_()
    return m

class GroupNorm32(nn.GroupNorm):
    def forward(self, x): return super().forward(x.float()).type(x.dtype)
def normalization(ch): return GroupNorm32(32, ch)

def timestep_embedding(t, dim, max_period=10000):
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(0, half, dtype=torch.float32) / half)
    a = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(a), torch.sin(a)], dim=-1)

# ------------------------------------------------------------------ attention.py
class GEGLU(nn.Module):
    def __init__(s, dim_in, dim_out): super().__init__(); s.proj = nn.Linear(dim_in, dim_out * 2)
    def forward(s, x):
        x, gate = s.proj(x).chunk(2, dim=-1)
        return x * F.gelu(gate)

class FeedForward(nn.Module):
    def __init__(s, dim, mult=4, glu=True, dropout=0.):
        super().__init__(); inner = dim * mult
        s.net = nn.Sequential(GEGLU(dim, inner) if glu else nn.Sequential(nn.Linear(dim, inner), nn.GELU()), nn.Dropout(dropout), nn.Linear(inner, dim))
    def forward(s, x): return s.net(x)

class CrossAttention(nn.Module):
    def __init__(s, query_dim, context_dim=None, heads=8, dim_head=64, dropout=0.):
        super().__init__(); inner = dim_head * heads; context_dim = context_dim or query_dim
        s.scale, s.heads = dim_head ** -0.5, heads
        s.to_q = nn.Linear(query_dim, inner, bias=False); s.to_k = nn.Linear(context_dim, inner, bias=False)
        s.to_v = nn.Linear(context_dim, inner, bias=False); s.to_out = nn.Sequential(nn.Linear(inner, query_dim), nn.Dropout(dropout))
    def forward(s, x, context=None):
        h = s.heads; context = x if context is None else context
        q, k, v = s.to_q(x), s.to_k(context), s.to_v(context)
        split = lambda t: t.reshape(t.shape[0], t.shape[1], h, -1).permute(0, 2, 1, 3).reshape(t.shape[0] * h, t.shape[1], -1)
        q, k, v = split(q), split(k), split(v)
        attn = (torch.einsum('bid,bjd->bij', q, k) * s.scale).softmax(dim=-1)
        out = torch.einsum('bij,bjd->bid', attn, v)
        B = x.shape[0]
        return s.to_out(out.reshape(B, h, out.shape[1], -1).permute(0, 2, 1, 3).reshape(B, out.shape[1], -1))

class BasicTransformerBlock(nn.Module):
    def __init__(s, dim, n_heads, d_head, dropout=0., context_dim=None, gated_ff=True, checkpoint=True):
        super().__init__()
        s.attn1 = CrossAttention(dim, heads=n_heads, dim_head=d_head, dropout=dropout)
        s.ff = FeedForward(dim, dropout=dropout, glu=gated_ff)
        s.attn2 = CrossAttention(dim, context_dim=context_dim, heads=n_heads, dim_head=d_head, dropout=dropout)
        s.norm1, s.norm2, s.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        s.checkpoint = checkpoint
    def forward(s, x, context=None):
        return checkpoint(s._forward, (x, context), list(s.parameters()), s.checkpoint)
    def _forward(s, x, context=None):
        x = s.attn1(s.norm1(x)) + x
        x = s.attn2(s.norm2(x), context=context) + x
        return s.ff(s.norm3(x)) + x

class SpatialTransformer(nn.Module):
    # use_linear: Stability-AI/stablediffusion's use_linear_in_transformer (Linear proj_in/proj_out on the
    # token rows; its proj_out is declared Linear(in_channels, inner_dim), the same shape as inner == in here).
    def __init__(s, in_channels, n_heads, d_head, depth=1, dropout=0., context_dim=None, use_linear=False):
        super().__init__(); inner = n_heads * d_head; s.use_linear = use_linear
        s.norm = nn.GroupNorm(32, in_channels, eps=1e-6, affine=True)
        s.proj_in = nn.Linear(in_channels, inner) if use_linear else nn.Conv2d(in_channels, inner, 1)
        s.transformer_blocks = nn.ModuleList([BasicTransformerBlock(inner, n_heads, d_head, dropout=dropout, context_dim=context_dim) for _ in range(depth)])
        s.proj_out = zero_module(nn.Linear(in_channels, inner) if use_linear else nn.Conv2d(inner, in_channels, 1))
    def forward(s, x, context=None):
        b, c, h, w = x.shape; x_in = x
        x = s.norm(x)
        if not s.use_linear: x = s.proj_in(x)
        x = x.flatten(2).transpose(1, 2)
        if s.use_linear: x = s.proj_in(x)
        for blk in s.transformer_blocks: x = blk(x, context=context)
        if s.use_linear: x = s.proj_out(x)
        x = x.transpose(1, 2).reshape(b, -1, h, w)
        if not s.use_linear: x = s.proj_out(x)
        return x + x_in

# ------------------------------------------------------------------ openaimodel.py
class Upsample(nn.Module):
    def __init__(s, ch): super().__init__(); s.conv = nn.Conv2d(ch, ch, 3, padding=1)
    def forward(s, x): return s.conv(F.interpolate(x, scale_factor=2, mode='nearest'))

class Downsample(nn.Module):
    def __init__(s, ch): super().__init__(); s.op = nn.Conv2d(ch, ch, 3, stride=2, padding=1)
    def forward(s, x): return s.op(x)

class ResBlock(nn.Module):
    def __init__(s, ch, emb_ch, out_ch, use_checkpoint=False):
        super().__init__()
        s.in_layers = nn.Sequential(normalization(ch), nn.SiLU(), nn.Conv2d(ch, out_ch, 3, padding=1))
        s.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_ch, out_ch))
        s.out_layers = nn.Sequential(normalization(out_ch), nn.SiLU(), nn.Dropout(0.), zero_module(nn.Conv2d(out_ch, out_ch, 3, padding=1)))
        s.skip_connection = nn.Identity() if out_ch == ch else nn.Conv2d(ch, out_ch, 1)
        s.use_checkpoint = use_checkpoint
    def forward(s, x, emb): return checkpoint(s._forward, (x, emb), list(s.parameters()), s.use_checkpoint)
    def _forward(s, x, emb):
        h = s.in_layers(x)
        h = h + s.emb_layers(emb).type(h.dtype)[..., None, None]
        return s.skip_connection(x) + s.out_layers(h)

class QKVAttentionLegacy(nn.Module):
    def __init__(s, n_heads): super().__init__(); s.n_heads = n_heads
    def forward(s, qkv):
        bs, width, length = qkv.shape; ch = width // (3 * s.n_heads)
        q, k, v = qkv.reshape(bs * s.n_heads, ch * 3, length).split(ch, dim=1)
        scale = 1 / math.sqrt(math.sqrt(ch))
        w = torch.softmax(torch.einsum('bct,bcs->bts', q * scale, k * scale).float(), dim=-1)
        return torch.einsum('bts,bcs->bct', w, v).reshape(bs, -1, length)

class AttentionBlock(nn.Module):
    def __init__(s, channels, num_heads=1, num_head_channels=-1):
        super().__init__()
        s.num_heads = num_heads if num_head_channels == -1 else channels // num_head_channels
        s.norm = normalization(channels); s.qkv = nn.Conv1d(channels, channels * 3, 1)
        s.attention = QKVAttentionLegacy(s.num_heads); s.proj_out = zero_module(nn.Conv1d(channels, channels, 1))
    def forward(s, x): return checkpoint(s._forward, (x,), list(s.parameters()), True)  # True: as the reference
    def _forward(s, x):
        b, c, *spatial = x.shape; x = x.reshape(b, c, -1)
        h = s.proj_out(s.attention(s.qkv(s.norm(x))))
        return (x + h).reshape(b, c, *spatial)

class TimestepEmbedSequential(nn.Sequential):
    def forward(s, x, emb, context=None):
        for l in s:
            x = l(x, emb) if isinstance(l, ResBlock) else l(x, context) if isinstance(l, SpatialTransformer) else l(x)
        return x

class UNetModel(nn.Module):
    def __init__(s, in_channels, model_channels, out_channels, num_res_blocks, attention_resolutions, channel_mult,
                 num_heads=-1, num_head_channels=-1, use_spatial_transformer=False, transformer_depth=1, context_dim=None,
                 use_checkpoint=False, legacy=True, use_linear_in_transformer=False, **_):
        super().__init__(); mc = model_channels; ed = mc * 4; s.model_channels = mc
        def attn(ch):
            nh, dh = (num_heads, ch // num_heads) if num_head_channels == -1 else (ch // num_head_channels, num_head_channels)
            if legacy: dh = ch // nh if use_spatial_transformer else num_head_channels
            return SpatialTransformer(ch, nh, dh, depth=transformer_depth, context_dim=context_dim, use_linear=use_linear_in_transformer) if use_spatial_transformer \
                else AttentionBlock(ch, num_heads=nh, num_head_channels=dh)
        rb = lambda a, b: ResBlock(a, ed, b, use_checkpoint)
        s.time_embed = nn.Sequential(nn.Linear(mc, ed), nn.SiLU(), nn.Linear(ed, ed))
        s.input_blocks = nn.ModuleList([TimestepEmbedSequential(nn.Conv2d(in_channels, mc, 3, padding=1))])
        chans, ch, ds = [mc], mc, 1
        for level, mult in enumerate(channel_mult):
            for _ in range(num_res_blocks):
                layers = [rb(ch, mult * mc)]; ch = mult * mc
                if ds in attention_resolutions: layers.append(attn(ch))
                s.input_blocks.append(TimestepEmbedSequential(*layers)); chans.append(ch)
            if level != len(channel_mult) - 1:
                s.input_blocks.append(TimestepEmbedSequential(Downsample(ch))); chans.append(ch); ds *= 2
        s.middle_block = TimestepEmbedSequential(rb(ch, ch), attn(ch), rb(ch, ch))
        s.output_blocks = nn.ModuleList()
        for level, mult in list(enumerate(channel_mult))[::-1]:
            for i in range(num_res_blocks + 1):
                layers = [rb(ch + chans.pop(), mult * mc)]; ch = mult * mc
                if ds in attention_resolutions: layers.append(attn(ch))
                if level and i == num_res_blocks: layers.append(Upsample(ch)); ds //= 2
                s.output_blocks.append(TimestepEmbedSequential(*layers))
        s.out = nn.Sequential(normalization(ch), nn.SiLU(), zero_module(nn.Conv2d(mc, out_channels, 3, padding=1)))
    def forward(s, x, timesteps, context=None):
        emb = s.time_embed(timestep_embedding(timesteps, s.model_channels))
        hs, h = [], x
        for m in s.input_blocks: h = m(h, emb, context); hs.append(h)
        h = s.middle_block(h, emb, context)
        for m in s.output_blocks: h = m(torch.cat([h, hs.pop()], dim=1), emb, context)
        return s.out(h)

# ------------------------------------------------------------------ model.py (first stage) + VectorQuantizer2
def Normalize(c): return nn.GroupNorm(32, c, eps=1e-6, affine=True)
def nonlinearity(x): return x * torch.sigmoid(x)

class ResnetBlock(nn.Module):
    def __init__(s, in_channels, out_channels):
        super().__init__()
        s.norm1 = Normalize(in_channels); s.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        s.norm2 = Normalize(out_channels); s.dropout = nn.Dropout(0.); s.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        if in_channels != out_channels: s.nin_shortcut = nn.Conv2d(in_channels, out_channels, 1)
    def forward(s, x):
        h = s.conv1(nonlinearity(s.norm1(x)))
        h = s.conv2(s.dropout(nonlinearity(s.norm2(h))))
        return (s.nin_shortcut(x) if hasattr(s, 'nin_shortcut') else x) + h

class AttnBlock(nn.Module):
    def __init__(s, c):
        super().__init__(); s.norm = Normalize(c); s.q, s.k, s.v, s.proj_out = (nn.Conv2d(c, c, 1) for _ in range(4))
    def forward(s, x):
        h = s.norm(x); q, k, v = s.q(h), s.k(h), s.v(h); b, c, hh, ww = q.shape
        w = torch.bmm(q.reshape(b, c, -1).permute(0, 2, 1), k.reshape(b, c, -1)) * (int(c) ** -0.5)
        w = F.softmax(w, dim=2)
        h = torch.bmm(v.reshape(b, c, -1), w.permute(0, 2, 1)).reshape(b, c, hh, ww)
        return x + s.proj_out(h)

class VDownsample(nn.Module):
    def __init__(s, c): super().__init__(); s.conv = nn.Conv2d(c, c, 3, stride=2)
    def forward(s, x): return s.conv(F.pad(x, (0, 1, 0, 1)))

class VUpsample(nn.Module):
    def __init__(s, c): super().__init__(); s.conv = nn.Conv2d(c, c, 3, padding=1)
    def forward(s, x): return s.conv(F.interpolate(x, scale_factor=2.0, mode='nearest'))

class Mid(nn.Module):
    def __init__(s, c): super().__init__(); s.block_1 = ResnetBlock(c, c); s.attn_1 = AttnBlock(c); s.block_2 = ResnetBlock(c, c)
    def forward(s, h): return s.block_2(s.attn_1(s.block_1(h)))

class Encoder(nn.Module):
    def __init__(s, ch, ch_mult, num_res_blocks, attn_resolutions, in_channels, resolution, z_channels, double_z=True, **_):
        super().__init__(); s.num_res_blocks = num_res_blocks
        s.conv_in = nn.Conv2d(in_channels, ch, 3, padding=1)
        res, in_mult, s.down = resolution, (1,) + tuple(ch_mult), nn.ModuleList()
        for i in range(len(ch_mult)):
            d = nn.Module(); d.block, d.attn = nn.ModuleList(), nn.ModuleList(); bin_ = ch * in_mult[i]
            for _ in range(num_res_blocks):
                d.block.append(ResnetBlock(bin_, ch * ch_mult[i])); bin_ = ch * ch_mult[i]
                if res in attn_resolutions: d.attn.append(AttnBlock(bin_))
            if i != len(ch_mult) - 1: d.downsample = VDownsample(bin_); res //= 2
            s.down.append(d)
        s.mid = Mid(bin_); s.norm_out = Normalize(bin_)
        s.conv_out = nn.Conv2d(bin_, 2 * z_channels if double_z else z_channels, 3, padding=1)
    def forward(s, x):
        h = s.conv_in(x)
        for d in s.down:
            for i, b in enumerate(d.block):
                h = b(h)
                if len(d.attn): h = d.attn[i](h)
            if hasattr(d, 'downsample'): h = d.downsample(h)
        return s.conv_out(nonlinearity(s.norm_out(s.mid(h))))

class Decoder(nn.Module):
    def __init__(s, ch, out_ch, ch_mult, num_res_blocks, attn_resolutions, resolution, z_channels, **_):
        super().__init__(); n = len(ch_mult)
        bin_, res = ch * ch_mult[-1], resolution // 2 ** (n - 1)
        s.conv_in = nn.Conv2d(z_channels, bin_, 3, padding=1); s.mid = Mid(bin_)
        s.up = nn.ModuleList()
        for i in reversed(range(n)):
            u = nn.Module(); u.block, u.attn = nn.ModuleList(), nn.ModuleList()
            for _ in range(num_res_blocks + 1):
                u.block.append(ResnetBlock(bin_, ch * ch_mult[i])); bin_ = ch * ch_mult[i]
                if res in attn_resolutions: u.attn.append(AttnBlock(bin_))
            if i != 0: u.upsample = VUpsample(bin_); res *= 2
            s.up.insert(0, u)  # as the reference: up[i] is level i
        s.norm_out = Normalize(bin_); s.conv_out = nn.Conv2d(bin_, out_ch, 3, padding=1)
    def forward(s, z):
        h = s.mid(s.conv_in(z))
        for i in reversed(range(len(s.up))):
            u = s.up[i]
            for j, b in enumerate(u.block):
                h = b(h)
                if len(u.attn): h = u.attn[j](h)
            if hasattr(u, 'upsample'): h = u.upsample(h)
        return s.conv_out(nonlinearity(s.norm_out(h)))

class VectorQuantizer2(nn.Module):  # legacy=True, beta 0.25, no remap
    def __init__(s, n_e, e_dim, beta=0.25):
        super().__init__(); s.n_e, s.e_dim, s.beta = n_e, e_dim, beta
        s.embedding = nn.Embedding(n_e, e_dim); s.embedding.weight.data.uniform_(-1.0 / n_e, 1.0 / n_e)
    def forward(s, z):
        z = z.permute(0, 2, 3, 1).contiguous(); zf = z.view(-1, s.e_dim)
        d = torch.sum(zf ** 2, dim=1, keepdim=True) + torch.sum(s.embedding.weight ** 2, dim=1) - 2 * torch.einsum('bd,dn->bn', zf, s.embedding.weight.t())
        zq = s.embedding(torch.argmin(d, dim=1)).view(z.shape)
        loss = torch.mean((zq.detach() - z) ** 2) + s.beta * torch.mean((zq - z.detach()) ** 2)
        zq = z + (zq - z).detach()
        return zq.permute(0, 3, 1, 2).contiguous(), loss

class VQModelInterface(nn.Module):
    def __init__(s, embed_dim, n_embed, ddconfig):
        super().__init__()
        s.encoder = Encoder(**ddconfig); s.decoder = Decoder(**ddconfig)
        s.quantize = VectorQuantizer2(n_embed, embed_dim)
        s.quant_conv = nn.Conv2d(ddconfig['z_channels'], embed_dim, 1); s.post_quant_conv = nn.Conv2d(embed_dim, ddconfig['z_channels'], 1)
    def encode(s, x): return s.quant_conv(s.encoder(x))
    def decode(s, h):
        quant, _ = s.quantize(h)
        return s.decoder(s.post_quant_conv(quant))

# ------------------------------------------------------------------ ema.py
class LitEma(nn.Module):
    def __init__(s, model, decay=0.9999):
        super().__init__(); s.m_name2s_name = {}
        s.register_buffer('decay', torch.tensor(decay, dtype=torch.float32))
        s.register_buffer('num_updates', torch.tensor(0, dtype=torch.int))
        for name, p in model.named_parameters():
            if p.requires_grad:
                sn = name.replace('.', ''); s.m_name2s_name[name] = sn
                s.register_buffer(sn, p.clone().detach().data)
        s.collected_params = []
    def forward(s, model):
        decay = s.decay
        if s.num_updates >= 0:
            s.num_updates += 1
            decay = min(s.decay, (1 + s.num_updates) / (10 + s.num_updates))
        one_minus = 1.0 - decay
        with torch.no_grad():
            m_param = dict(model.named_parameters()); shadow = dict(s.named_buffers())
            for key in m_param:
                if m_param[key].requires_grad:
                    sn = s.m_name2s_name[key]
                    shadow[sn] = shadow[sn].type_as(m_param[key])
                    shadow[sn].sub_(one_minus * (shadow[sn] - m_param[key]))
    def copy_to(s, model):
        shadow = dict(s.named_buffers())
        for key, p in model.named_parameters():
            if p.requires_grad: p.data.copy_(shadow[s.m_name2s_name[key]].data)

# ------------------------------------------------------------------ ddpm.py LatentDiffusion (the parts these cases use)
class DiffusionWrapper(nn.Module):
    def __init__(s, unet): super().__init__(); s.diffusion_model = unet
    def forward(s, x, t, c_crossattn=None):
        return s.diffusion_model(x, t, context=None if c_crossattn is None else torch.cat(c_crossattn, 1))

class LatentDiffusion(nn.Module):
    def __init__(s, unet, first_stage, timesteps=1000, linear_start=0.0015, linear_end=0.0195, use_ema=True, scale_factor=1.0):
        super().__init__()
        s.model = DiffusionWrapper(unet)
        if use_ema: s.model_ema = LitEma(s.model)
        betas = (torch.linspace(linear_start ** 0.5, linear_end ** 0.5, timesteps, dtype=torch.float64) ** 2).numpy()
        import numpy as np
        alphas = 1. - betas; ac = np.cumprod(alphas); acp = np.append(1., ac[:-1])
        t32 = lambda a: torch.tensor(a, dtype=torch.float32)
        s.num_timesteps = timesteps
        pv = betas * (1. - acp) / (1. - ac)
        for k, v in dict(betas=betas, alphas_cumprod=ac, alphas_cumprod_prev=acp, sqrt_alphas_cumprod=np.sqrt(ac),
                         sqrt_one_minus_alphas_cumprod=np.sqrt(1. - ac), log_one_minus_alphas_cumprod=np.log(1. - ac),
                         sqrt_recip_alphas_cumprod=np.sqrt(1. / ac), sqrt_recipm1_alphas_cumprod=np.sqrt(1. / ac - 1),
                         posterior_variance=pv, posterior_log_variance_clipped=np.log(np.maximum(pv, 1e-20)),
                         posterior_mean_coef1=betas * np.sqrt(acp) / (1. - ac), posterior_mean_coef2=(1. - acp) * np.sqrt(alphas) / (1. - ac)).items():
            s.register_buffer(k, t32(v))
        with np.errstate(divide='ignore'): lvlb = betas ** 2 / (2 * pv * alphas * (1 - ac))
        lvlb[0] = lvlb[1]
        s.register_buffer('lvlb_weights', t32(lvlb), persistent=False)
        s.logvar = torch.full((timesteps,), 0.0)
        s.first_stage_model = first_stage.eval()
        for p in s.first_stage_model.parameters(): p.requires_grad = False
        s.scale_factor = scale_factor
    def p_losses(s, z, t, noise):
        ex = lambda a: a[t].reshape(-1, 1, 1, 1)
        x_noisy = ex(s.sqrt_alphas_cumprod) * z + ex(s.sqrt_one_minus_alphas_cumprod) * noise
        out = s.model(x_noisy, t)
        loss_simple = ((noise - out) ** 2).mean(dim=[1, 2, 3])
        logvar_t = s.logvar[t]
        loss = (loss_simple / torch.exp(logvar_t) + logvar_t).mean()  # l_simple_weight 1
        loss_vlb = (s.lvlb_weights[t] * loss_simple).mean()
        return loss + 0.0 * loss_vlb  # original_elbo_weight 0

def celeba_ld():
    # examples/celeba256.yaml (= the reference's configs/latent-diffusion/celebahq-ldm-vq-4.yaml)
    unet = UNetModel(in_channels=3, out_channels=3, model_channels=224, attention_resolutions=[8, 4, 2], num_res_blocks=2,
                     channel_mult=[1, 2, 3, 4], num_head_channels=32)
    dd = dict(double_z=False, z_channels=3, resolution=256, in_channels=3, out_ch=3, ch=128, ch_mult=[1, 2, 4], num_res_blocks=2, attn_resolutions=[])
    return LatentDiffusion(unet, VQModelInterface(3, 8192, dd))

def txt2img_unet():
    # txt2img-1p4B-eval.yaml unet_config (use_checkpoint True, legacy False)
    return UNetModel(in_channels=4, out_channels=4, model_channels=320, attention_resolutions=[4, 2, 1], num_res_blocks=2,
                     channel_mult=[1, 2, 4, 4], num_heads=8, use_spatial_transformer=True, transformer_depth=1, context_dim=1280,
                     use_checkpoint=True, legacy=False)

def randomise(m, scale=0.02):
    # Zero-initialised output convs would make the bench trivial: give every parameter small random values.
    g = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for p in m.parameters(): p.copy_(torch.randn(p.shape, generator=g) * scale)

def load_state_dict_file(path):
    sd = torch.load(path, map_location='cpu')
    return sd['state_dict'] if 'state_dict' in sd else sd

# ------------------------------------------------------------------ safetensors (f32 only; no extra package)
def write_safetensors(path, tensors):
    header, off, blobs = {}, 0, []
    for k, t in tensors.items():
        b = t.detach().contiguous().float().numpy().tobytes()
        header[k] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}; off += len(b); blobs.append(b)
    h = json.dumps(header).encode(); h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h))); f.write(h)
        for b in blobs: f.write(b)

def read_safetensors(path):
    import numpy as np
    with open(path, 'rb') as f: data = f.read()
    n = struct.unpack('<Q', data[:8])[0]; header = json.loads(data[8:8 + n]); out = {}
    for k, v in header.items():
        if k == '__metadata__': continue
        a, b = v['data_offsets']
        out[k] = torch.from_numpy(np.frombuffer(data[8 + n + a:8 + n + b], dtype=np.float32).copy()).reshape(v['shape'])
    return out

def peak_rss_mib(): return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)

# ------------------------------------------------------------------ commands
# (under main(): bench/torch_sd.py imports the modules above)
def main():
    cmd = pos[0] if pos else ''
    if cmd == 'make-celeba-ckpt':
        ld = celeba_ld(); randomise(ld.model); randomise(ld.first_stage_model)
        ld.model_ema = LitEma(ld.model)  # EMA shadows equal to the (random) weights
        torch.save({'epoch': 0, 'global_step': 0, 'pytorch-lightning_version': '1.4.2', 'state_dict': ld.state_dict()}, pos[1])
        print(json.dumps({"wrote": pos[1], "keys": len(ld.state_dict()), "bytes": os.path.getsize(pos[1])}))
    elif cmd == 'make-txt2img-ckpt':
        u = txt2img_unet(); randomise(u)
        torch.save({'state_dict': {f'model.diffusion_model.{k}': v for k, v in u.state_dict().items()}}, pos[1])
        print(json.dumps({"wrote": pos[1], "params": sum(p.numel() for p in u.parameters()), "bytes": os.path.getsize(pos[1])}))
    elif cmd == 'make-txt2img-inputs':
        g = torch.Generator().manual_seed(1)
        write_safetensors(pos[1], {'x': torch.randn(1, 4, 32, 32, generator=g), 'timesteps': torch.tensor([421.0]),
                                   'context': torch.randn(1, 77, 1280, generator=g)})
    elif cmd == 'celeba-sample':
        # scripts/sample_diffusion.py at batch 1: build, load (strict=False), ema_scope, DDIM, decode_first_stage, PNG.
        steps = opt('--steps', 5); eta = opt('--eta', 0.0)
        ld = celeba_ld(); t_build = time.perf_counter()
        missing, unexpected = ld.load_state_dict(load_state_dict_file(pos[1]), strict=False)
        ld.eval(); t_load = time.perf_counter()
        with torch.no_grad():
            ld.model_ema.copy_to(ld.model)  # ema_scope
            ac = ld.alphas_cumprod.double()
            ts = list(range(0, 1000, 1000 // steps)); ts = [t + 1 for t in ts]  # make_ddim_timesteps 'uniform'
            a_t_all = ac[ts]; a_prev_all = torch.cat([ac[:1], ac[ts[:-1]]])
            sig_all = eta * ((1 - a_prev_all) / (1 - a_t_all) * (1 - a_t_all / a_prev_all)).sqrt()
            x = torch.randn(1, 3, 64, 64); t_step = []
            for i in reversed(range(len(ts))):
                t0 = time.perf_counter()
                e = ld.model(x, torch.full((1,), ts[i], dtype=torch.long))
                a_t, a_p, sg = a_t_all[i].float(), a_prev_all[i].float(), sig_all[i].float()
                x0 = (x - (1 - a_t).sqrt() * e) / a_t.sqrt()
                x = a_p.sqrt() * x0 + (1. - a_p - sg ** 2).sqrt() * e + sg * torch.randn_like(x)
                t_step.append(time.perf_counter() - t0)
            t_dec0 = time.perf_counter()
            img = ld.first_stage_model.decode(x / ld.scale_factor)
            t_dec = time.perf_counter() - t_dec0
        from PIL import Image
        a = ((img[0].clamp(-1., 1.) + 1.) / 2. * 255).permute(1, 2, 0).numpy().astype('uint8')
        Image.fromarray(a).save(pos[2])
        print(json.dumps({"build_s": round(t_build - T_IMPORT0, 2), "load_s": round(t_load - T_IMPORT0, 2),
                          "step_s": [round(t, 3) for t in t_step], "decode_s": round(t_dec, 2), "missing": len(missing), "unexpected": len(unexpected),
                          "peak_rss_mib": peak_rss_mib()}))
    elif cmd == 'celeba-train':
        # LatentDiffusion.training_step at batch 2 on random images: encode (no grad), p_losses, AdamW, then LitEma.
        iters, warm = opt('--iters', 3), opt('--warmup', 1)
        ld = celeba_ld()
        if len(pos) > 1 and os.path.exists(pos[1]): ld.load_state_dict(load_state_dict_file(pos[1]), strict=False)
        else: randomise(ld.model); randomise(ld.first_stage_model); ld.model_ema = LitEma(ld.model)
        ld.model.train()
        opt_ = torch.optim.AdamW([p for p in ld.model.parameters()], lr=2.0e-06 * 2)  # base_lr x batch (scale_lr)
        g = torch.Generator().manual_seed(3); imgs = torch.rand(2, 3, 256, 256, generator=g) * 2 - 1
        ts = []
        for i in range(warm + iters):
            t0 = time.perf_counter()
            with torch.no_grad(): z = ld.first_stage_model.encode(imgs) * ld.scale_factor
            t = torch.randint(0, ld.num_timesteps, (2,)); noise = torch.randn_like(z)
            loss = ld.p_losses(z, t, noise)
            opt_.zero_grad(); loss.backward(); opt_.step()
            ld.model_ema(ld.model)
            if i >= warm: ts.append((time.perf_counter() - t0) * 1000)
        print(json.dumps({"case": "celeba-train", "median_ms": round(statistics.median(ts), 1), "times_ms": [round(t, 1) for t in ts],
                          "threads": torch.get_num_threads(), "peak_rss_mib": peak_rss_mib()}))
    elif cmd == 'txt2img-fwd':
        iters = opt('--iters', 3)
        u = txt2img_unet()
        sd = load_state_dict_file(pos[1])
        u.load_state_dict({k[len('model.diffusion_model.'):]: v for k, v in sd.items() if k.startswith('model.diffusion_model.')}); del sd
        u.eval(); inp = read_safetensors(pos[2]); ts = []
        with torch.no_grad():
            for i in range(1 + iters):
                t0 = time.perf_counter(); out = u(inp['x'], inp['timesteps'], context=inp['context']); dt = (time.perf_counter() - t0) * 1000
                if i: ts.append(dt)
        if len(pos) > 3: write_safetensors(pos[3], {'out': out})
        print(json.dumps({"case": "txt2img-fwd", "median_ms": round(statistics.median(ts), 1), "times_ms": [round(t, 1) for t in ts],
                          "threads": torch.get_num_threads(), "peak_rss_mib": peak_rss_mib()}))
    else:
        print(open(__file__).read().split('\nimport')[0], file=sys.stderr); sys.exit(2)

if __name__ == '__main__':
    main()
