# PyTorch side of the Stable Diffusion scale runs (bench/scale/sd-txt2img.sh): the reference's SD v1 / v2-v
# text-to-image process, as CompVis/stable-diffusion scripts/txt2img.py and Stability-AI/stablediffusion
# scripts/txt2img.py run it on the CPU, from a Lightning-style .ckpt or a float16 .safetensors.
#
#   python3 bench/torch_sd.py make-ckpt {v1|v2} OUT.ckpt [--safetensors-f16 OUT.safetensors] [--seed N]
#   python3 bench/torch_sd.py unet-inputs {v1|v2} OUT.safetensors [--size 64]     x, timesteps, context (NCHW)
#   python3 bench/torch_sd.py unet-fwd {v1|v2} WEIGHTS INPUTS.safetensors OUT.safetensors         one UNet forward ('out')
#   python3 bench/torch_sd.py text-embed {v1|v2} WEIGHTS OUT.safetensors --prompt P    'tokens' and the embedding 'out'
#   python3 bench/torch_sd.py tokens OUT.json --prompt P [--negative N]   the ids, for bench/scale/sd-tokens-shim.mjs
#   python3 bench/torch_sd.py txt2img {v1|v2} WEIGHTS --prompt P [--negative N] [--steps 20] [--scale 7.5]
#          [--H 512] [--W 512] [--seed S] [--x-T FILE.safetensors] --out OUT.png [--dump OUT.safetensors]
#   python3 bench/torch_sd.py compare A.safetensors B.safetensors [KEY ...]   max |a-b| per shared key (JSON line)
#   python3 bench/torch_sd.py compare-png A.png B.png                        max |a-b| of the 8-bit pixels
# Options: --threads N (default 2). WEIGHTS is a .ckpt (torch.load) or a .safetensors (read here, upcast).
# Run with Debian's /usr/bin/python3 (torch 1.13): env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 ...
#
# ldm, transformers and open_clip are not installed here: the modules are compact re-implementations with the
# reference's attribute names, so every state_dict key equals the reference's (checked against
# ../shared/reference/sd-configs/state-dict-shapes/ on every build):
# - UNet, VAE, LatentDiffusion's schedule buffers: bench/torch_scale.py (openaimodel.py, attention.py, model.py;
#   SpatialTransformer with use_linear for v2). CrossAttention is the v1 one (einsum, softmax in float32);
#   v2's q.float()/k.float() is the same thing in float32.
# - FrozenCLIPEmbedder (v1): HF CLIPTextModel (ViT-L/14 text: 12 layers, width 768, quick_gelu, causal mask of
#   finfo.min, final_layer_norm), keys cond_stage_model.transformer.text_model.*; the tokens padded with 49407.
# - FrozenOpenCLIPEmbedder (v2, layer penultimate): open_clip 2.7.0's text tower (ViT-H/14: 24 layers, width 1024,
#   16 heads, exact GELU, nn.MultiheadAttention, -inf causal mask), keys cond_stage_model.model.*; the last
#   resblock is skipped, then ln_final; tokens padded with 0.
# - The CLIP BPE tokenizer: lower-case, whitespace collapsed, the CLIP regex, byte-level BPE of
#   bpe_simple_vocab_16e6.txt.gz. ftfy and html.unescape are left out: plain-ASCII prompts only.
# - DDIM: ddim.py's make_schedule/p_sample_ddim, eta 0, with classifier-free guidance as the scripts run it
#   (one UNet call on cat([uc, c]), then u + scale * (c - u)); v2's v branch (predict_eps_from_z_and_v,
#   predict_start_from_z_and_v from the model's schedule buffers). uc is the embedding of '' (or --negative).
# Differences from the scripts: no safety checker, no watermark, no progress bars, no grid; the v2 UNet runs in
#   float32 (v2-inference-v.yaml says use_fp16: true, which on the CPU fails in the reference: `h = x.type(float16)`
#   against float32 weights; the CPU path there is float32 too).
import sys, os, time, json, math, struct, gzip, zlib, re, resource, argparse
T_START = time.perf_counter()
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F
import torch_scale as ts  # the ldm modules (its command-line part runs only as __main__)

REF = os.path.abspath(os.path.join(HERE, '..', '..', 'shared', 'reference'))
BPE_VOCAB = os.path.join(REF, 'sd-parity', 'bpe_simple_vocab_16e6.txt.gz')
SHAPES = os.path.join(REF, 'sd-configs', 'state-dict-shapes')
SOT, EOT, CTX = 49406, 49407, 77

# ------------------------------------------------------------------ HF CLIPTextModel (transformers models/clip)
class CLIPAttention(nn.Module):
    def __init__(s, d, heads):
        super().__init__(); s.heads, s.scale = heads, (d // heads) ** -0.5
        s.k_proj, s.v_proj, s.q_proj, s.out_proj = (nn.Linear(d, d) for _ in range(4))
    def forward(s, x, mask):
        B, T, D = x.shape; h = s.heads
        split = lambda t: t.reshape(B, T, h, D // h).transpose(1, 2)
        q, k, v = split(s.q_proj(x) * s.scale), split(s.k_proj(x)), split(s.v_proj(x))
        w = torch.softmax(q @ k.transpose(-1, -2) + mask, dim=-1, dtype=torch.float32)
        return s.out_proj((w @ v).transpose(1, 2).reshape(B, T, D))

class CLIPMLP(nn.Module):
    def __init__(s, d, inner): super().__init__(); s.fc1 = nn.Linear(d, inner); s.fc2 = nn.Linear(inner, d)
    def forward(s, x):
        h = s.fc1(x)
        return s.fc2(h * torch.sigmoid(1.702 * h))  # quick_gelu

class CLIPEncoderLayer(nn.Module):
    def __init__(s, d, heads, inner):
        super().__init__()
        s.self_attn = CLIPAttention(d, heads); s.layer_norm1 = nn.LayerNorm(d, eps=1e-5)
        s.mlp = CLIPMLP(d, inner); s.layer_norm2 = nn.LayerNorm(d, eps=1e-5)
    def forward(s, x, mask):
        x = x + s.self_attn(s.layer_norm1(x), mask)
        return x + s.mlp(s.layer_norm2(x))

class CLIPEncoder(nn.Module):
    def __init__(s, d, heads, inner, n): super().__init__(); s.layers = nn.ModuleList([CLIPEncoderLayer(d, heads, inner) for _ in range(n)])

class CLIPTextEmbeddings(nn.Module):
    def __init__(s, vocab, d, n_pos):
        super().__init__(); s.token_embedding = nn.Embedding(vocab, d); s.position_embedding = nn.Embedding(n_pos, d)
        s.register_buffer('position_ids', torch.arange(n_pos)[None], persistent=False)  # non-persistent (transformers 4.57)
    def forward(s, ids): return s.token_embedding(ids) + s.position_embedding(s.position_ids[:, :ids.shape[1]])

class CLIPTextTransformer(nn.Module):
    def __init__(s, vocab=49408, d=768, heads=12, inner=3072, n=12, n_pos=77):
        super().__init__()
        s.embeddings = CLIPTextEmbeddings(vocab, d, n_pos); s.encoder = CLIPEncoder(d, heads, inner, n)
        s.final_layer_norm = nn.LayerNorm(d, eps=1e-5)
    def forward(s, ids):
        x = s.embeddings(ids); T = ids.shape[1]
        mask = torch.full((T, T), torch.finfo(x.dtype).min).triu(1)  # HF's causal mask: finfo.min above the diagonal
        for l in s.encoder.layers: x = l(x, mask)
        return s.final_layer_norm(x)  # last_hidden_state

class CLIPTextModel(nn.Module):
    def __init__(s, **kw): super().__init__(); s.text_model = CLIPTextTransformer(**kw)

class FrozenCLIPEmbedder(nn.Module):
    """ldm.modules.encoders.modules.FrozenCLIPEmbedder (openai/clip-vit-large-patch14), from token ids."""
    def __init__(s): super().__init__(); s.transformer = CLIPTextModel()
    def forward(s, ids): return s.transformer.text_model(ids)
    pad = EOT

# ------------------------------------------------------------------ open_clip 2.7.0 text tower (ViT-H-14)
class ResidualAttentionBlock(nn.Module):
    def __init__(s, d, heads):
        super().__init__()
        s.ln_1 = nn.LayerNorm(d); s.attn = nn.MultiheadAttention(d, heads); s.ln_2 = nn.LayerNorm(d)
        s.mlp = nn.Sequential(); s.mlp.add_module('c_fc', nn.Linear(d, d * 4)); s.mlp.add_module('gelu', nn.GELU())
        s.mlp.add_module('c_proj', nn.Linear(d * 4, d))
    def forward(s, x, attn_mask):
        h = s.ln_1(x)
        x = x + s.attn(h, h, h, need_weights=False, attn_mask=attn_mask)[0]
        return x + s.mlp(s.ln_2(x))

class OpenCLIPTransformer(nn.Module):
    def __init__(s, d, heads, n): super().__init__(); s.resblocks = nn.ModuleList([ResidualAttentionBlock(d, heads) for _ in range(n)])

class OpenCLIPText(nn.Module):
    """open_clip.CLIP with `visual` deleted (what FrozenOpenCLIPEmbedder keeps as `model`)."""
    def __init__(s, vocab=49408, d=1024, heads=16, n=24, embed_dim=1024, ctx=77):
        super().__init__()
        s.transformer = OpenCLIPTransformer(d, heads, n)
        s.token_embedding = nn.Embedding(vocab, d)
        s.positional_embedding = nn.Parameter(torch.empty(ctx, d))
        s.ln_final = nn.LayerNorm(d)
        s.text_projection = nn.Parameter(torch.empty(d, embed_dim))
        s.logit_scale = nn.Parameter(torch.ones([]) * math.log(1 / 0.07))
        s.register_buffer('attn_mask', torch.empty(ctx, ctx).fill_(float('-inf')).triu_(1), persistent=False)

class FrozenOpenCLIPEmbedder(nn.Module):
    """ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder, layer 'penultimate' (layer_idx 1)."""
    def __init__(s, layer_idx=1): super().__init__(); s.model = OpenCLIPText(); s.layer_idx = layer_idx
    def forward(s, ids):
        m = s.model
        x = (m.token_embedding(ids) + m.positional_embedding).permute(1, 0, 2)  # NLD -> LND
        for i, r in enumerate(m.transformer.resblocks):
            if i == len(m.transformer.resblocks) - s.layer_idx: break
            x = r(x, m.attn_mask)
        return m.ln_final(x.permute(1, 0, 2))
    pad = 0

# ------------------------------------------------------------------ ldm.models.autoencoder.AutoencoderKL
class AutoencoderKL(nn.Module):
    def __init__(s, embed_dim, ddconfig):
        super().__init__()
        s.encoder = ts.Encoder(**ddconfig); s.decoder = ts.Decoder(**ddconfig)
        s.quant_conv = nn.Conv2d(2 * ddconfig['z_channels'], 2 * embed_dim, 1)
        s.post_quant_conv = nn.Conv2d(embed_dim, ddconfig['z_channels'], 1)
    def encode_mode(s, x): return s.quant_conv(s.encoder(x)).chunk(2, dim=1)[0]  # DiagonalGaussian's mode = mean
    def decode(s, z): return s.decoder(s.post_quant_conv(z))

# ------------------------------------------------------------------ the two configs
KINDS = {
    'v1': dict(config='examples/sd-v1-inference.yaml', shapes='v1-inference.json', parameterization='eps',
               unet=dict(in_channels=4, out_channels=4, model_channels=320, attention_resolutions=[4, 2, 1], num_res_blocks=2,
                         channel_mult=[1, 2, 4, 4], num_heads=8, use_spatial_transformer=True, transformer_depth=1,
                         context_dim=768, use_checkpoint=True, legacy=False),
               cond=FrozenCLIPEmbedder),
    'v2': dict(config='examples/sd-v2-inference-v.yaml', shapes='v2-inference.json', parameterization='v',
               unet=dict(in_channels=4, out_channels=4, model_channels=320, attention_resolutions=[4, 2, 1], num_res_blocks=2,
                         channel_mult=[1, 2, 4, 4], num_head_channels=64, use_spatial_transformer=True,
                         use_linear_in_transformer=True, transformer_depth=1, context_dim=1024, use_checkpoint=True, legacy=False),
               cond=FrozenOpenCLIPEmbedder),
}
DDCONFIG = dict(double_z=True, z_channels=4, resolution=256, in_channels=3, out_ch=3, ch=128, ch_mult=[1, 2, 4, 4],
                num_res_blocks=2, attn_resolutions=[], dropout=0.0)

def build(kind, parts=('unet', 'first_stage', 'cond_stage')):
    """LatentDiffusion of the kind (schedule buffers as DDPM.register_schedule); parts left out are None."""
    k = KINDS[kind]
    unet = ts.UNetModel(**k['unet']) if 'unet' in parts else nn.Identity()
    vae = AutoencoderKL(4, DDCONFIG) if 'first_stage' in parts else nn.Identity()
    ld = ts.LatentDiffusion(unet, vae, linear_start=0.00085, linear_end=0.012, use_ema=False, scale_factor=0.18215)
    ld.cond_stage_model = k['cond']() if 'cond_stage' in parts else nn.Identity()
    ld.parameterization = k['parameterization']
    return ld.eval()

SCHEDULE_BUFFERS = ['betas', 'alphas_cumprod', 'alphas_cumprod_prev', 'sqrt_alphas_cumprod', 'sqrt_one_minus_alphas_cumprod',
                    'log_one_minus_alphas_cumprod', 'sqrt_recip_alphas_cumprod', 'sqrt_recipm1_alphas_cumprod', 'posterior_variance',
                    'posterior_log_variance_clipped', 'posterior_mean_coef1', 'posterior_mean_coef2']

def check_keys(kind, sd):
    """The state_dict's names and shapes equal the reference's (state-dict-shapes/), part by part."""
    ref = json.load(open(os.path.join(SHAPES, KINDS[kind]['shapes'])))
    for part, prefix in (('unet', 'model.diffusion_model.'), ('first_stage', 'first_stage_model.'), ('cond_stage', 'cond_stage_model.')):
        ours = {k[len(prefix):]: list(v.shape) for k, v in sd.items() if k.startswith(prefix)}
        theirs = {n: list(s) for n, s in ref[part]}
        if ours != theirs:
            miss, extra = sorted(set(theirs) - set(ours)), sorted(set(ours) - set(theirs))
            bad = [n for n in set(ours) & set(theirs) if ours[n] != theirs[n]]
            raise SystemExit(f'{kind} {part}: state_dict differs from the reference: missing {miss[:5]}, extra {extra[:5]}, shapes {bad[:5]}')
    rest = sorted(k for k in sd if not k.startswith(('model.diffusion_model.', 'first_stage_model.', 'cond_stage_model.')))
    assert rest == sorted(SCHEDULE_BUFFERS), rest

# ------------------------------------------------------------------ weights files
def redraw(sd, seed, damp):
    """sd-parity's rule, every parameter in sorted-name order from one generator: dim >= 2 <- N(0,1)/sqrt(fan_in),
    1-D/0-D *weight <- 1 + 0.2 N, other 1-D/0-D <- 0.1 N. `damp` scales the zero-initialised output layers."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name in sorted(sd):
            if name in SCHEDULE_BUFFERS: continue
            p = sd[name]
            if p.dim() >= 2: p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p[0].numel()))
            elif name.endswith('weight'): p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            else: p.copy_(0.1 * torch.randn(p.shape, generator=g))
            if damp != 1.0 and is_zero_init(name): p.mul_(damp)

def is_zero_init(name):
    """The layers the reference creates with zero_module (and the VAE's last conv): the ones that would blow up."""
    return bool(re.search(r'^model\.diffusion_model\.(out\.2|.*\.out_layers\.3|.*\.proj_out)\.|^first_stage_model\.decoder\.conv_out\.', name))

def write_safetensors(path, tensors, dtype_of):
    """u64 LE header length | JSON header (space-padded to 8) | data, tensors in sorted-name order, no gaps."""
    names = sorted(tensors); header, off = {}, 0
    codes = {torch.float32: 'F32', torch.float16: 'F16'}
    for k in names:
        dt = dtype_of(k); n = tensors[k].numel() * (4 if dt == torch.float32 else 2)
        header[k] = {'dtype': codes[dt], 'shape': list(tensors[k].shape), 'data_offsets': [off, off + n]}; off += n
    h = json.dumps(header, separators=(',', ':')).encode(); h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h))); f.write(h)
        for k in names: f.write(tensors[k].detach().to(dtype_of(k)).contiguous().numpy().tobytes())

def read_safetensors(path, keep=lambda k: True):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]; header = json.loads(f.read(n)); base = 8 + n; out = {}
        np_of = {'F32': np.float32, 'F16': np.float16, 'F64': np.float64, 'I64': np.int64, 'I32': np.int32}
        for k, v in sorted(header.items(), key=lambda kv: kv[1]['data_offsets'][0] if kv[0] != '__metadata__' else -1):
            if k == '__metadata__' or not keep(k): continue
            a, b = v['data_offsets']; f.seek(base + a)
            out[k] = torch.from_numpy(np.frombuffer(f.read(b - a), dtype=np_of[v['dtype']]).copy()).reshape(v['shape'])
    return out

def load_weights(path, keep=lambda k: True):
    if path.endswith('.safetensors'): return read_safetensors(path, keep)
    sd = torch.load(path, map_location='cpu'); sd = sd.get('state_dict', sd)
    return {k: v for k, v in sd.items() if keep(k)}

def load_into(ld, path, prefixes):
    """As load_model_from_config: torch.load, then load_state_dict(strict=False); only the parts asked for."""
    sd = load_weights(path, lambda k: k.startswith(prefixes) or k in SCHEDULE_BUFFERS)
    missing, unexpected = ld.load_state_dict(sd, strict=False); del sd
    missing = [m for m in missing if m.startswith(prefixes)]
    if missing or unexpected: raise SystemExit(f'{path}: missing {missing[:5]}, unexpected {unexpected[:5]}')
    return ld

# ------------------------------------------------------------------ the CLIP BPE tokenizer (plain ASCII)
class Tokenizer:
    def __init__(s):
        merges = gzip.open(BPE_VOCAB).read().decode('utf-8').split('\n')[1:49152 - 256 - 2 + 1]
        merges = [tuple(m.split()) for m in merges]
        bs = list(range(ord('!'), ord('~') + 1)) + list(range(ord('¡'), ord('¬') + 1)) + list(range(ord('®'), ord('ÿ') + 1))
        cs, n = bs[:], 0
        for b in range(256):
            if b not in bs: bs.append(b); cs.append(256 + n); n += 1
        s.byte_encoder = dict(zip(bs, [chr(c) for c in cs]))
        vocab = [chr(c) for c in cs]; vocab += [v + '</w>' for v in vocab] + [''.join(m) for m in merges]
        vocab += ['<|startoftext|>', '<|endoftext|>']
        s.encoder = {v: i for i, v in enumerate(vocab)}; s.ranks = {m: i for i, m in enumerate(merges)}
        s.pat = re.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[a-z]+|[0-9]|[^\sa-z0-9]+""", re.IGNORECASE)
    def bpe(s, token):
        word = tuple(token[:-1]) + (token[-1] + '</w>',)
        while len(word) > 1:
            pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
            best = min(pairs, key=lambda p: s.ranks.get(p, float('inf')))
            if best not in s.ranks: break
            out, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best: out.append(word[i] + word[i + 1]); i += 2
                else: out.append(word[i]); i += 1
            word = tuple(out)
        return word
    def encode(s, text):
        if any(ord(c) > 127 for c in text): raise SystemExit('torch_sd tokenizer: plain-ASCII prompts only')
        text = re.sub(r'\s+', ' ', text).strip().lower()
        ids = []
        for tok in s.pat.findall(text):
            ids += [s.encoder[b] for b in s.bpe(''.join(s.byte_encoder[c] for c in tok.encode('utf-8')))]
        return ids
    def __call__(s, texts, pad):
        """FrozenCLIPEmbedder (HF: truncation to 77, padding with EOT) / open_clip.tokenize (padding with 0)."""
        rows = []
        for t in texts:
            ids = [SOT] + s.encode(t)[:CTX - 2] + [EOT]
            rows.append(ids + [pad] * (CTX - len(ids)))
        return torch.tensor(rows, dtype=torch.long)

# ------------------------------------------------------------------ PNG
def write_png(path, img):
    """8-bit RGB, filter 0 on every row, one IDAT."""
    h, w, _ = img.shape
    raw = b''.join(b'\x00' + img[y].tobytes() for y in range(h))
    chunk = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0))
                + chunk(b'IDAT', zlib.compress(raw, 6)) + chunk(b'IEND', b''))

def read_png(path):
    """8-bit gray/RGB/RGBA PNGs, non-interlaced, any row filter: uint8 [H, W, C]."""
    data = open(path, 'rb').read(); pos, idat = 8, b''
    while pos < len(data):
        n, t = struct.unpack('>I4s', data[pos:pos + 8]); d = data[pos + 8:pos + 8 + n]; pos += 12 + n
        if t == b'IHDR': w, h, depth, ctype, _, _, interlace = struct.unpack('>IIBBBBB', d)
        elif t == b'IDAT': idat += d
    assert depth == 8 and interlace == 0, 'only 8-bit non-interlaced PNGs'
    c = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]; raw = zlib.decompress(idat); stride = w * c
    out = np.zeros((h, stride), dtype=np.int32); prev = np.zeros(stride, dtype=np.int32)
    for y in range(h):
        f = raw[y * (stride + 1)]; row = np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int32)
        if f == 0: cur = row
        elif f == 2: cur = (row + prev) & 255
        else:
            cur = np.zeros(stride, dtype=np.int32)
            for i in range(stride):
                a = cur[i - c] if i >= c else 0; b = prev[i]; cc = prev[i - c] if i >= c else 0
                if f == 1: p = a
                elif f == 3: p = (a + b) >> 1
                else:
                    pa, pb, pc = abs(b - cc), abs(a - cc), abs(a + b - 2 * cc)
                    p = a if pa <= pb and pa <= pc else b if pb <= pc else cc
                cur[i] = (row[i] + p) & 255
        out[y] = cur; prev = cur
    return out.reshape(h, w, c).astype(np.uint8)

def peak_rss_mib(): return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)

# ------------------------------------------------------------------ DDIM (ddim.py), eta 0, CFG
def ddim_sample(ld, x, c, uc, steps, scale, log):
    ac = ld.alphas_cumprod  # float32 buffer, as make_schedule takes it
    ts_ = (np.asarray(list(range(0, 1000, 1000 // steps))) + 1).tolist()  # make_ddim_timesteps 'uniform'
    a_all = ac[ts_]; a_prev_all = torch.tensor([ac[0].item()] + ac[ts_[:-1]].tolist(), dtype=torch.float64)
    sqrt_1m_all = torch.sqrt(1. - a_all)
    unet = ld.model.diffusion_model
    for index in reversed(range(len(ts_))):
        t0 = time.perf_counter()
        t = torch.full((x.shape[0],), ts_[index], dtype=torch.long)
        if uc is None or scale == 1.0: out = unet(x, t, context=c)
        else:
            u, cc = unet(torch.cat([x] * 2), torch.cat([t] * 2), context=torch.cat([uc, c])).chunk(2)
            out = u + scale * (cc - u)
        a_t = torch.full((x.shape[0], 1, 1, 1), a_all[index].item()); a_prev = torch.full_like(a_t, a_prev_all[index].item())
        sqrt_1m = torch.full_like(a_t, sqrt_1m_all[index].item()); sigma = torch.zeros_like(a_t)
        if ld.parameterization == 'v':
            ex = lambda buf: buf.gather(-1, t).reshape(-1, 1, 1, 1)
            e_t = ex(ld.sqrt_alphas_cumprod) * out + ex(ld.sqrt_one_minus_alphas_cumprod) * x   # predict_eps_from_z_and_v
            pred_x0 = ex(ld.sqrt_alphas_cumprod) * x - ex(ld.sqrt_one_minus_alphas_cumprod) * out  # predict_start_from_z_and_v
        else:
            e_t = out; pred_x0 = (x - sqrt_1m * e_t) / a_t.sqrt()
        dir_xt = (1. - a_prev - sigma ** 2).sqrt() * e_t
        x = a_prev.sqrt() * pred_x0 + dir_xt  # + sigma * noise, zero at eta 0
        log.append(round(time.perf_counter() - t0, 2))
    return x

# ------------------------------------------------------------------ commands
def main():
    ap = argparse.ArgumentParser(add_help=True)
    ap.add_argument('cmd'); ap.add_argument('pos', nargs='*')
    ap.add_argument('--threads', type=int, default=2); ap.add_argument('--seed', type=int, default=42)
    ap.add_argument('--safetensors-f16'); ap.add_argument('--damp', type=float, default=1.0)
    ap.add_argument('--size', type=int, default=64); ap.add_argument('--prompt', default='a photograph of an astronaut riding a horse')
    ap.add_argument('--negative', default=''); ap.add_argument('--steps', type=int, default=20)
    ap.add_argument('--scale', type=float, default=7.5); ap.add_argument('--H', type=int, default=512); ap.add_argument('--W', type=int, default=512)
    ap.add_argument('--x-T', dest='x_T'); ap.add_argument('--out'); ap.add_argument('--dump')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    p = a.pos
    if a.cmd == 'make-ckpt':
        kind, out = p
        ld = build(kind); sd = ld.state_dict(); check_keys(kind, sd)
        redraw(sd, a.seed, a.damp)
        torch.save({'epoch': 0, 'global_step': 0, 'pytorch-lightning_version': '1.4.2', 'state_dict': sd}, out)
        info = {'wrote': out, 'keys': len(sd), 'params': sum(v.numel() for k, v in sd.items() if k not in SCHEDULE_BUFFERS), 'bytes': os.path.getsize(out), 'damp': a.damp}
        if a.safetensors_f16:
            # the parameters in float16 (as the usual half-precision SD files); the schedule buffers stay float32
            write_safetensors(a.safetensors_f16, sd, lambda k: torch.float32 if k in SCHEDULE_BUFFERS else torch.float16)
            info['wrote_f16'] = a.safetensors_f16; info['bytes_f16'] = os.path.getsize(a.safetensors_f16)
        print(json.dumps(info))
    elif a.cmd == 'unet-inputs':
        kind, out = p; g = torch.Generator().manual_seed(7); s = a.size
        write_safetensors(out, {'x': torch.randn(2, 4, s, s, generator=g), 'timesteps': torch.tensor([981.0, 421.0]),
                                'context': torch.randn(2, 77, KINDS[kind]['unet']['context_dim'], generator=g)}, lambda k: torch.float32)
    elif a.cmd == 'unet-fwd':
        kind, weights, inputs, out = p
        ld = load_into(build(kind, ('unet',)), weights, ('model.diffusion_model.',)); inp = read_safetensors(inputs)
        t0 = time.perf_counter()
        with torch.no_grad(): o = ld.model.diffusion_model(inp['x'], inp['timesteps'].long(), context=inp['context'])
        write_safetensors(out, {'out': o}, lambda k: torch.float32)
        print(json.dumps({'case': 'unet-fwd', 'kind': kind, 'forward_s': round(time.perf_counter() - t0, 2), 'max_abs_out': o.abs().max().item(), 'peak_rss_mib': peak_rss_mib()}))
    elif a.cmd == 'text-embed':
        kind, weights, out = p
        ld = load_into(build(kind, ('cond_stage',)), weights, ('cond_stage_model.',))
        ids = Tokenizer()([a.prompt, a.negative], ld.cond_stage_model.pad)
        with torch.no_grad(): z = ld.cond_stage_model(ids)
        write_safetensors(out, {'tokens': ids.float(), 'out': z}, lambda k: torch.float32)
        print(json.dumps({'case': 'text-embed', 'kind': kind, 'tokens': ids[0][:12].tolist(), 'max_abs_out': z.abs().max().item()}))
    elif a.cmd == 'tokens':
        # for bench/scale/sd-tokens-shim.mjs: the ids of the prompt and the negative, both paddings
        tok = Tokenizer(); texts = [a.prompt, a.negative]
        json.dump({form: {t: tok([t], pad)[0].tolist() for t in texts} for form, pad in (('hf', EOT), ('open_clip', 0))}, open(p[0], 'w'))
    elif a.cmd == 'txt2img':
        kind, weights = p
        ld = build(kind); t_build = time.perf_counter()
        load_into(ld, weights, ('model.diffusion_model.', 'first_stage_model.', 'cond_stage_model.')); t_load = time.perf_counter()
        tok = Tokenizer(); steps_s = []
        with torch.no_grad():
            c = ld.cond_stage_model(tok([a.prompt], ld.cond_stage_model.pad))
            uc = ld.cond_stage_model(tok([a.negative], ld.cond_stage_model.pad)) if a.scale != 1.0 else None
            t_cond = time.perf_counter()
            shape = [1, 4, a.H // 8, a.W // 8]
            if a.x_T:
                xs = read_safetensors(a.x_T); x_T = xs['x_T'] if 'x_T' in xs else next(iter(xs.values()))
                assert list(x_T.shape) == shape, f'x_T is {list(x_T.shape)}, not {shape}'
            else:
                torch.manual_seed(a.seed); x_T = torch.randn(shape)  # seed_everything + the sampler's randn
            x_T = x_T.float()
            samples = ddim_sample(ld, x_T, c, uc, a.steps, a.scale, steps_s); t_ddim = time.perf_counter()
            img = ld.first_stage_model.decode(samples / ld.scale_factor); t_dec = time.perf_counter()
        x = torch.clamp((img + 1.0) / 2.0, min=0.0, max=1.0)
        arr = (255. * x[0].permute(1, 2, 0).numpy()).astype(np.uint8)  # the scripts' astype(np.uint8): truncation
        write_png(a.out, arr)
        if a.dump: write_safetensors(a.dump, {'x_T': x_T, 'c': c, 'uc': uc if uc is not None else torch.zeros(0), 'samples': samples, 'image': img}, lambda k: torch.float32)
        print(json.dumps({'case': 'txt2img', 'kind': kind, 'weights': os.path.basename(weights), 'H': a.H, 'W': a.W, 'steps': a.steps, 'scale': a.scale,
                          'wall_s': round(time.perf_counter() - T_START, 2), 'build_s': round(t_build - T_START, 2), 'load_s': round(t_load - t_build, 2),
                          'cond_s': round(t_cond - t_load, 2), 'ddim_s': round(t_ddim - t_cond, 2), 'step_s': steps_s[:3] + ['...'] if len(steps_s) > 3 else steps_s,
                          'decode_s': round(t_dec - t_ddim, 2), 'max_abs_latent': samples.abs().max().item(), 'peak_rss_mib': peak_rss_mib(), 'threads': torch.get_num_threads()}))
    elif a.cmd == 'compare':
        A, B = read_safetensors(p[0]), read_safetensors(p[1]); keys = p[2:] or sorted(set(A) & set(B)); res = {}
        for k in keys:
            x, y = A[k].double(), B[k].double()
            res[k] = {'max_abs_diff': (x - y).abs().max().item() if x.shape == y.shape else f'shapes {list(x.shape)} vs {list(y.shape)}', 'max_abs': y.abs().max().item() if y.numel() else 0}
        print(json.dumps(res))
    elif a.cmd == 'compare-png':
        x, y = read_png(p[0]).astype(np.int32), read_png(p[1]).astype(np.int32)
        d = np.abs(x - y) if x.shape == y.shape else None
        print(json.dumps({'max_abs_diff': int(d.max()) if d is not None else f'shapes {x.shape} vs {y.shape}',
                          'pixels_differing': int((d > 0).any(-1).sum()) if d is not None else None, 'pixels': int(x.shape[0] * x.shape[1]),
                          'mean_abs_diff': float(d.mean()) if d is not None else None}))
    else:
        print(open(__file__).read().split('\nimport')[0], file=sys.stderr); sys.exit(2)

if __name__ == '__main__':
    main()
