# PyTorch CPU baseline for bench/runtime.js (same workloads, NCHW): python3 bench/torch_baseline.py [CASE ...] [--threads 2] [--json] [--ckpt]
# Cases: resblock (GroupNorm->SiLU->conv3x3 twice + residual, B=4, 64x64, 128 ch) and attn (openaimodel
# AttentionBlock: GroupNorm32, qkv Conv1d, QKVAttentionLegacy, proj_out; [4,256,16,16], 4 heads): forward+backward,
# gradients of every parameter and the input, loss sum(out * R).
# unet: one training step (zero_grad, forward, backward, AdamW(lr 1e-4) step) of the UNetModel + ClassEmbedder of
# examples/fashion-ldm-cond.yaml at batch 64: random [64,3,8,8] latents, random int timesteps in [0,1000), labels i % 10,
# loss mse(unet(x, t, context=embed(y)[:, None]), noise). vq: one reconstruction step (zero_grad, forward, backward,
# Adam(lr 1e-4) step) of the VQModel of examples/fashion-vq-f4.yaml at batch 32 on uniform [-1,1] [32,1,32,32] input,
# loss mean|x - x^| + VectorQuantizer2 legacy codebook loss (mse(sg[zq], z) + 0.25 mse(zq, sg[z]), straight-through),
# no discriminator, no LPIPS. ldm is not installed: the modules below are compact re-implementations of
# CompVis/latent-diffusion's (openaimodel.py, attention.py, model.py, autoencoder.py; taming VectorQuantizer2) with the
# same layers and parameter counts as `ldmc inspect` reports. BasicTransformerBlock runs without gradient checkpointing
# (as ldmc does); --ckpt recomputes it in backward as the reference's checkpoint=True does.
# FLOPs: 2 x MACs of convs, linears, attention matmuls and the quantizer's distance matmul, counted on one forward
# pass (the compiler's convention, schema/facts/tally.ts); gflops = 3 x forward FLOPs / median step time.
# 2 warm-ups, then the median of 5 (attn 7). Each line also has params (trainable), batch and, for unet/vq, images_per_s.
import sys, time, json, statistics, math
import torch, torch.nn as nn, torch.nn.functional as F
import torch.utils.checkpoint

args = sys.argv[1:]
threads = int(args[args.index('--threads') + 1]) if '--threads' in args else 2
cases = [a for i, a in enumerate(args) if not a.startswith('--') and (i == 0 or args[i - 1] != '--threads')] or ['resblock', 'attn']
CKPT = '--ckpt' in args
torch.set_num_threads(threads); torch.manual_seed(0)

def nparams(m): return sum(p.numel() for p in m.parameters() if p.requires_grad)

def resblock():
    C = 128
    class RB(nn.Module):
        def __init__(s):
            super().__init__(); s.n1 = nn.GroupNorm(32, C); s.c1 = nn.Conv2d(C, C, 3, padding=1); s.n2 = nn.GroupNorm(32, C); s.c2 = nn.Conv2d(C, C, 3, padding=1)
        def forward(s, x): return x + s.c2(F.silu(s.n2(s.c1(F.silu(s.n1(x))))))
    m = RB(); x = torch.randn(4, C, 64, 64, requires_grad=True); R = torch.randn(4, C, 64, 64)
    def run():
        m.zero_grad(set_to_none=True); x.grad = None
        (m(x) * R).sum().backward()
    return dict(run=run, flops=3 * 2 * (2 * 4 * 64 * 64 * C * C * 9), iters=5, params=nparams(m), batch=4)

def attn():
    C, H = 256, 4
    class Attn(nn.Module):
        def __init__(s):
            super().__init__(); s.norm = nn.GroupNorm(32, C); s.qkv = nn.Conv1d(C, 3 * C, 1); s.proj_out = nn.Conv1d(C, C, 1)
        def forward(s, x):
            B, C_, Hh, W = x.shape; xs = x.reshape(B, C_, -1)
            qkv = s.qkv(s.norm(xs)); bs, width, length = qkv.shape; ch = width // (3 * H)
            q, k, v = qkv.reshape(bs * H, ch * 3, length).split(ch, dim=1)
            scale = 1 / math.sqrt(math.sqrt(ch))
            w = torch.softmax(torch.einsum('bct,bcs->bts', q * scale, k * scale), dim=-1)
            a = torch.einsum('bts,bcs->bct', w, v).reshape(bs, -1, length)
            return (xs + s.proj_out(a)).reshape(B, C_, Hh, W)
    m = Attn(); x = torch.randn(4, C, 16, 16, requires_grad=True); R = torch.randn(4, C, 16, 16)
    B, N = 4, 256
    def run():
        m.zero_grad(set_to_none=True); x.grad = None
        (m(x) * R).sum().backward()
    return dict(run=run, flops=3 * (2 * B * N * C * 3 * C + 2 * B * N * C * C + 2 * 2 * B * N * N * C), iters=7, params=nparams(m), batch=B)

# ---- FLOP counting (one forward pass): conv / linear hooks + explicit matmuls in attention and the quantizer
FLOPS = [None]  # None: not counting; an int: running total
def add_flops(n):
    if FLOPS[0] is not None: FLOPS[0] += n
def count_forward_flops(mods, fwd):
    def hook(m, inp, out):
        if isinstance(m, nn.Conv2d): add_flops(2 * out.numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1])
        elif isinstance(m, nn.Linear): add_flops(2 * out.numel() * m.in_features)
    hs = [x.register_forward_hook(hook) for m in mods for x in m.modules() if isinstance(x, (nn.Conv2d, nn.Linear))]
    FLOPS[0] = 0
    with torch.no_grad(): fwd()
    n = FLOPS[0]; FLOPS[0] = None
    for h in hs: h.remove()
    return n

def zero(m):
    for p in m.parameters(): nn.init.zeros_(p)
    return m

# ---- UNetModel (ldm/modules/diffusionmodules/openaimodel.py) with SpatialTransformer (ldm/modules/attention.py)
class UResBlock(nn.Module):  # ResBlock: use_scale_shift_norm False, no up/down, dropout 0
    def __init__(s, cin, emb_ch, cout):
        super().__init__()
        s.in_layers = nn.Sequential(nn.GroupNorm(32, cin), nn.SiLU(), nn.Conv2d(cin, cout, 3, padding=1))
        s.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_ch, cout))
        s.out_layers = nn.Sequential(nn.GroupNorm(32, cout), nn.SiLU(), zero(nn.Conv2d(cout, cout, 3, padding=1)))
        s.skip_connection = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)
    def forward(s, x, emb):
        return s.skip_connection(x) + s.out_layers(s.in_layers(x) + s.emb_layers(emb)[:, :, None, None])

class CrossAttention(nn.Module):
    def __init__(s, dim, heads, dim_head, ctx_dim=None):
        super().__init__(); inner = heads * dim_head; s.heads = heads; s.scale = dim_head ** -0.5
        s.to_q = nn.Linear(dim, inner, bias=False); s.to_k = nn.Linear(ctx_dim or dim, inner, bias=False)
        s.to_v = nn.Linear(ctx_dim or dim, inner, bias=False); s.to_out = nn.Linear(inner, dim)
    def forward(s, x, ctx=None):
        ctx = x if ctx is None else ctx
        B, N, _ = x.shape; M = ctx.shape[1]; h = s.heads
        q, k, v = (t.reshape(B, -1, h, t.shape[-1] // h).transpose(1, 2) for t in (s.to_q(x), s.to_k(ctx), s.to_v(ctx)))
        w = (torch.matmul(q, k.transpose(-1, -2)) * s.scale).softmax(dim=-1)
        add_flops(2 * 2 * B * h * N * M * q.shape[-1])
        return s.to_out(torch.matmul(w, v).transpose(1, 2).reshape(B, N, -1))

class FeedForward(nn.Module):  # FeedForward(glu=True, mult 4): GEGLU then Linear
    def __init__(s, dim, mult=4):
        super().__init__(); s.proj = nn.Linear(dim, dim * mult * 2); s.out = nn.Linear(dim * mult, dim)
    def forward(s, x):
        a, gate = s.proj(x).chunk(2, dim=-1)
        return s.out(a * F.gelu(gate))

class BasicTransformerBlock(nn.Module):
    def __init__(s, dim, heads, dim_head, ctx_dim):
        super().__init__()
        s.attn1 = CrossAttention(dim, heads, dim_head); s.ff = FeedForward(dim); s.attn2 = CrossAttention(dim, heads, dim_head, ctx_dim)
        s.norm1, s.norm2, s.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
    def _forward(s, x, ctx):
        x = s.attn1(s.norm1(x)) + x
        x = s.attn2(s.norm2(x), ctx) + x
        return s.ff(s.norm3(x)) + x
    def forward(s, x, ctx):
        if CKPT and torch.is_grad_enabled(): return torch.utils.checkpoint.checkpoint(s._forward, x, ctx)
        return s._forward(x, ctx)

class SpatialTransformer(nn.Module):
    def __init__(s, ch, heads, dim_head, depth, ctx_dim):
        super().__init__(); inner = heads * dim_head
        s.norm = nn.GroupNorm(32, ch, eps=1e-6); s.proj_in = nn.Conv2d(ch, inner, 1)
        s.transformer_blocks = nn.ModuleList([BasicTransformerBlock(inner, heads, dim_head, ctx_dim) for _ in range(depth)])
        s.proj_out = zero(nn.Conv2d(inner, ch, 1))
    def forward(s, x, ctx):
        B, C, H, W = x.shape
        h = s.proj_in(s.norm(x)).flatten(2).transpose(1, 2)
        for blk in s.transformer_blocks: h = blk(h, ctx)
        return x + s.proj_out(h.transpose(1, 2).reshape(B, -1, H, W))

class Downsample(nn.Module):  # conv_resample: 3x3 stride 2, padding 1
    def __init__(s, ch): super().__init__(); s.op = nn.Conv2d(ch, ch, 3, stride=2, padding=1)
    def forward(s, x): return s.op(x)

class Upsample(nn.Module):  # nearest x2 then 3x3 conv
    def __init__(s, ch): super().__init__(); s.conv = nn.Conv2d(ch, ch, 3, padding=1)
    def forward(s, x): return s.conv(F.interpolate(x, scale_factor=2, mode='nearest'))

class TimestepEmbedSequential(nn.Sequential):
    def forward(s, x, emb, ctx):
        for l in s:
            x = l(x, emb) if isinstance(l, UResBlock) else l(x, ctx) if isinstance(l, SpatialTransformer) else l(x)
        return x

class UNetModel(nn.Module):
    def __init__(s, in_channels, out_channels, model_channels, num_res_blocks, attention_resolutions, channel_mult,
                 num_heads=-1, num_head_channels=-1, transformer_depth=1, context_dim=None):
        super().__init__(); mc = model_channels; ed = 4 * mc; s.mc = mc
        def st(ch):  # legacy=True: dim_head = ch // num_heads
            nh = ch // num_head_channels if num_head_channels != -1 else num_heads
            return SpatialTransformer(ch, nh, ch // nh, transformer_depth, context_dim)
        s.time_embed = nn.Sequential(nn.Linear(mc, ed), nn.SiLU(), nn.Linear(ed, ed))
        s.input_blocks = nn.ModuleList([TimestepEmbedSequential(nn.Conv2d(in_channels, mc, 3, padding=1))])
        chans, ch, ds = [mc], mc, 1
        for level, mult in enumerate(channel_mult):
            for _ in range(num_res_blocks):
                layers = [UResBlock(ch, ed, mult * mc)]; ch = mult * mc
                if ds in attention_resolutions: layers.append(st(ch))
                s.input_blocks.append(TimestepEmbedSequential(*layers)); chans.append(ch)
            if level != len(channel_mult) - 1:
                s.input_blocks.append(TimestepEmbedSequential(Downsample(ch))); chans.append(ch); ds *= 2
        s.middle_block = TimestepEmbedSequential(UResBlock(ch, ed, ch), st(ch), UResBlock(ch, ed, ch))
        s.output_blocks = nn.ModuleList()
        for level, mult in list(enumerate(channel_mult))[::-1]:
            for i in range(num_res_blocks + 1):
                layers = [UResBlock(ch + chans.pop(), ed, mult * mc)]; ch = mult * mc
                if ds in attention_resolutions: layers.append(st(ch))
                if level and i == num_res_blocks: layers.append(Upsample(ch)); ds //= 2
                s.output_blocks.append(TimestepEmbedSequential(*layers))
        s.out = nn.Sequential(nn.GroupNorm(32, ch), nn.SiLU(), zero(nn.Conv2d(mc, out_channels, 3, padding=1)))
    def forward(s, x, t, context):
        half = s.mc // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
        a = t[:, None].float() * freqs[None]
        emb = s.time_embed(torch.cat([torch.cos(a), torch.sin(a)], dim=-1))
        hs, h = [], x
        for b in s.input_blocks: h = b(h, emb, context); hs.append(h)
        h = s.middle_block(h, emb, context)
        for b in s.output_blocks: h = b(torch.cat([h, hs.pop()], dim=1), emb, context)
        return s.out(h)

def unet():
    # examples/fashion-ldm-cond.yaml unet_config / cond_stage_config
    B, C, S = 64, 3, 8
    m = UNetModel(in_channels=3, out_channels=3, model_channels=64, num_res_blocks=2, attention_resolutions=[1, 2],
                  channel_mult=[1, 2], num_head_channels=32, transformer_depth=1, context_dim=64)
    cond = nn.Embedding(10, 64)  # ClassEmbedder(embed_dim 64, n_classes 10)
    x = torch.randn(B, C, S, S); noise = torch.randn(B, C, S, S)
    t = torch.randint(0, 1000, (B,)); y = torch.arange(B) % 10
    ps = list(m.parameters()) + list(cond.parameters())
    opt = torch.optim.AdamW(ps, lr=1e-4)
    fwd = lambda: m(x, t, cond(y)[:, None, :])
    def run():
        opt.zero_grad(set_to_none=True)
        F.mse_loss(fwd(), noise).backward()
        opt.step()
    flops = count_forward_flops([m], lambda: m(x[:1], t[:1], cond(y[:1])[:, None, :]))
    return dict(run=run, flops=3 * flops * B, fwd_flops_per_sample=flops, iters=5, params=nparams(m) + nparams(cond), batch=B,
                params_parts={"unet": nparams(m), "cond_stage": nparams(cond)})

# ---- VQModel (ldm/modules/diffusionmodules/model.py Encoder/Decoder, ldm/models/autoencoder.py, taming VectorQuantizer2)
def Normalize(c): return nn.GroupNorm(32, c, eps=1e-6)
def nonlinearity(x): return x * torch.sigmoid(x)

class ResnetBlock(nn.Module):  # temb_channels 0, conv_shortcut False, dropout 0
    def __init__(s, cin, cout):
        super().__init__()
        s.norm1 = Normalize(cin); s.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        s.norm2 = Normalize(cout); s.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        s.nin_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None
    def forward(s, x):
        h = s.conv2(nonlinearity(s.norm2(s.conv1(nonlinearity(s.norm1(x))))))
        return (x if s.nin_shortcut is None else s.nin_shortcut(x)) + h

class AttnBlock(nn.Module):
    def __init__(s, c):
        super().__init__(); s.norm = Normalize(c); s.q, s.k, s.v, s.proj_out = (nn.Conv2d(c, c, 1) for _ in range(4))
    def forward(s, x):
        h = s.norm(x); B, C, H, W = x.shape
        q, k, v = s.q(h).reshape(B, C, -1), s.k(h).reshape(B, C, -1), s.v(h).reshape(B, C, -1)
        w = (torch.bmm(q.transpose(1, 2), k) * C ** -0.5).softmax(dim=2)   # [B, HW(q), HW(k)]
        add_flops(2 * 2 * B * (H * W) ** 2 * C)
        return x + s.proj_out(torch.bmm(v, w.transpose(1, 2)).reshape(B, C, H, W))

class VDownsample(nn.Module):  # with_conv: pad (0,1,0,1), 3x3 stride 2, no padding
    def __init__(s, c): super().__init__(); s.conv = nn.Conv2d(c, c, 3, stride=2)
    def forward(s, x): return s.conv(F.pad(x, (0, 1, 0, 1)))

class VUpsample(nn.Module):
    def __init__(s, c): super().__init__(); s.conv = nn.Conv2d(c, c, 3, padding=1)
    def forward(s, x): return s.conv(F.interpolate(x, scale_factor=2.0, mode='nearest'))

class Level(nn.Module):
    def __init__(s, blocks, attns, resample):
        super().__init__(); s.block = nn.ModuleList(blocks); s.attn = nn.ModuleList(attns)
        if resample is not None: s.resample = resample
    def forward(s, h):
        for i, b in enumerate(s.block):
            h = b(h)
            if len(s.attn): h = s.attn[i](h)
        return s.resample(h) if hasattr(s, 'resample') else h

class Encoder(nn.Module):
    def __init__(s, ch, ch_mult, num_res_blocks, attn_resolutions, in_channels, resolution, z_channels, double_z):
        super().__init__(); s.conv_in = nn.Conv2d(in_channels, ch, 3, padding=1)
        res, bin_, s.down = resolution, ch, nn.ModuleList()
        for i, m in enumerate(ch_mult):
            blocks, attns = [], []
            for _ in range(num_res_blocks):
                blocks.append(ResnetBlock(bin_, ch * m)); bin_ = ch * m
                if res in attn_resolutions: attns.append(AttnBlock(bin_))
            last = i == len(ch_mult) - 1
            s.down.append(Level(blocks, attns, None if last else VDownsample(bin_)))
            if not last: res //= 2
        s.mid = nn.Sequential(ResnetBlock(bin_, bin_), AttnBlock(bin_), ResnetBlock(bin_, bin_))
        s.norm_out = Normalize(bin_); s.conv_out = nn.Conv2d(bin_, 2 * z_channels if double_z else z_channels, 3, padding=1)
    def forward(s, x):
        h = s.conv_in(x)
        for l in s.down: h = l(h)
        return s.conv_out(nonlinearity(s.norm_out(s.mid(h))))

class Decoder(nn.Module):
    def __init__(s, ch, out_ch, ch_mult, num_res_blocks, attn_resolutions, resolution, z_channels):
        super().__init__(); n = len(ch_mult)
        bin_, res = ch * ch_mult[-1], resolution // 2 ** (n - 1)
        s.conv_in = nn.Conv2d(z_channels, bin_, 3, padding=1)
        s.mid = nn.Sequential(ResnetBlock(bin_, bin_), AttnBlock(bin_), ResnetBlock(bin_, bin_))
        up = []
        for i in reversed(range(n)):
            blocks, attns = [], []
            for _ in range(num_res_blocks + 1):
                blocks.append(ResnetBlock(bin_, ch * ch_mult[i])); bin_ = ch * ch_mult[i]
                if res in attn_resolutions: attns.append(AttnBlock(bin_))
            up.append(Level(blocks, attns, VUpsample(bin_) if i != 0 else None))
            if i != 0: res *= 2
        s.up = nn.ModuleList(up)  # run order (lowest resolution first); the reference indexes it the other way round
        s.norm_out = Normalize(bin_); s.conv_out = nn.Conv2d(bin_, out_ch, 3, padding=1)
    def forward(s, z):
        h = s.mid(s.conv_in(z))
        for l in s.up: h = l(h)
        return s.conv_out(nonlinearity(s.norm_out(h)))

class VectorQuantizer(nn.Module):  # taming VectorQuantizer2, legacy=True, beta 0.25
    def __init__(s, n_e, e_dim, beta=0.25):
        super().__init__(); s.n_e, s.e_dim, s.beta = n_e, e_dim, beta
        s.embedding = nn.Embedding(n_e, e_dim); s.embedding.weight.data.uniform_(-1.0 / n_e, 1.0 / n_e)
    def forward(s, z):
        z = z.permute(0, 2, 3, 1).contiguous(); zf = z.view(-1, s.e_dim); e = s.embedding.weight
        d = zf.pow(2).sum(1, keepdim=True) + e.pow(2).sum(1) - 2 * zf @ e.t()
        add_flops(2 * zf.shape[0] * s.e_dim * s.n_e)
        zq = s.embedding(d.argmin(1)).view(z.shape)
        loss = torch.mean((zq.detach() - z) ** 2) + s.beta * torch.mean((zq - z.detach()) ** 2)
        zq = z + (zq - z).detach()
        return zq.permute(0, 3, 1, 2).contiguous(), loss

class VQModel(nn.Module):
    def __init__(s, embed_dim, n_embed, ddconfig):
        super().__init__(); dd = ddconfig
        s.encoder = Encoder(dd['ch'], dd['ch_mult'], dd['num_res_blocks'], dd['attn_resolutions'], dd['in_channels'], dd['resolution'], dd['z_channels'], dd['double_z'])
        s.decoder = Decoder(dd['ch'], dd['out_ch'], dd['ch_mult'], dd['num_res_blocks'], dd['attn_resolutions'], dd['resolution'], dd['z_channels'])
        s.quantize = VectorQuantizer(n_embed, embed_dim, beta=0.25)
        s.quant_conv = nn.Conv2d(dd['z_channels'], embed_dim, 1); s.post_quant_conv = nn.Conv2d(embed_dim, dd['z_channels'], 1)
    def forward(s, x):
        quant, diff = s.quantize(s.quant_conv(s.encoder(x)))
        return s.decoder(s.post_quant_conv(quant)), diff

def vq():
    # examples/fashion-vq-f4.yaml
    dd = dict(double_z=False, z_channels=3, resolution=32, in_channels=1, out_ch=1, ch=32, ch_mult=[1, 2, 2], num_res_blocks=1, attn_resolutions=[])
    B = 32
    m = VQModel(embed_dim=3, n_embed=256, ddconfig=dd)
    x = torch.rand(B, dd['in_channels'], dd['resolution'], dd['resolution']) * 2 - 1
    opt = torch.optim.Adam(m.parameters(), lr=1e-4)
    def run():
        opt.zero_grad(set_to_none=True)
        dec, diff = m(x)
        ((x - dec).abs().mean() + 1.0 * diff).backward()  # codebook_weight 1.0
        opt.step()
    flops = count_forward_flops([m], lambda: m(x[:1]))
    parts = {k: nparams(getattr(m, k)) for k in ('encoder', 'decoder', 'quantize', 'quant_conv', 'post_quant_conv')}
    return dict(run=run, flops=3 * flops * B, fwd_flops_per_sample=flops, iters=5, params=nparams(m), batch=B, params_parts=parts)

CASES = {'resblock': resblock, 'attn': attn, 'unet': unet, 'vq': vq}
for case in cases:
    if case not in CASES:
        print(json.dumps({"case": case, "error": f"unknown case (known: {', '.join(CASES)})"}), flush=True); continue
    c = CASES[case]()
    ts = []
    for i in range(2 + c['iters']):
        t0 = time.perf_counter(); c['run'](); dt = (time.perf_counter() - t0) * 1000
        if i >= 2: ts.append(dt)
    med = statistics.median(ts)
    out = {"case": case, "backend": f"torch {torch.__version__} cpu", "threads": torch.get_num_threads(), "median_ms": round(med, 1),
           "min_ms": round(min(ts), 1), "max_ms": round(max(ts), 1), "times_ms": [round(t, 1) for t in ts], "gflops": round(c['flops'] / med / 1e6, 2),
           "flops": c['flops'], "params": c['params'], "batch": c['batch']}
    if 'params_parts' in c: out["params_parts"] = c['params_parts']
    if 'fwd_flops_per_sample' in c: out["fwd_flops_per_sample"] = c['fwd_flops_per_sample']
    if case in ('unet', 'vq'): out["images_per_s"] = round(c['batch'] / (med / 1000), 1)
    if CKPT and case == 'unet': out["checkpoint"] = True
    print(json.dumps(out) if '--json' in args else
          f"{case}: {out['median_ms']} ms, {out['gflops']} GFLOP/s, {out['params']:,} params ({out['threads']} threads)"
          + (f", {out['images_per_s']} images/s" if 'images_per_s' in out else ''), flush=True)
