# PyTorch CPU baseline for bench/runtime.js (same shapes, NCHW): python3 bench/torch_baseline.py [CASE ...] [--threads 2] [--json]
# Cases: resblock (GroupNorm->SiLU->conv3x3 twice + residual, B=4, 64x64, 128 ch) and attn (openaimodel
# AttentionBlock: GroupNorm32, qkv Conv1d, QKVAttentionLegacy, proj_out; [4,256,16,16], 4 heads): forward+backward,
# gradients of every parameter and the input, loss sum(out * R). 2 warm-ups, then the median of 5 (attn 7).
# unet / vq are not implemented here (ldm is not installed); bench/runtime.js uses the figures of
# ../shared/reference/bench/README.md, measured on this machine with the same PyTorch.
import sys, time, json, statistics, math
import torch, torch.nn as nn, torch.nn.functional as F

args = sys.argv[1:]
threads = int(args[args.index('--threads') + 1]) if '--threads' in args else 2
cases = [a for i, a in enumerate(args) if not a.startswith('--') and (i == 0 or args[i - 1] != '--threads')] or ['resblock', 'attn']
torch.set_num_threads(threads); torch.manual_seed(0)

def resblock():
    C = 128
    class RB(nn.Module):
        def __init__(s):
            super().__init__(); s.n1 = nn.GroupNorm(32, C); s.c1 = nn.Conv2d(C, C, 3, padding=1); s.n2 = nn.GroupNorm(32, C); s.c2 = nn.Conv2d(C, C, 3, padding=1)
        def forward(s, x): return x + s.c2(F.silu(s.n2(s.c1(F.silu(s.n1(x))))))
    m = RB(); x = torch.randn(4, C, 64, 64, requires_grad=True); R = torch.randn(4, C, 64, 64)
    return m, x, R, 3 * 2 * (2 * 4 * 64 * 64 * C * C * 9), 5

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
    return m, x, R, 3 * (2 * B * N * C * 3 * C + 2 * B * N * C * C + 2 * 2 * B * N * N * C), 7

for case in cases:
    if case not in ('resblock', 'attn'):
        print(json.dumps({"case": case, "error": "not implemented in torch_baseline.py"})); continue
    m, x, R, flops, iters = {'resblock': resblock, 'attn': attn}[case]()
    def run():
        m.zero_grad(set_to_none=True); x.grad = None
        (m(x) * R).sum().backward()
    ts = []
    for i in range(2 + iters):
        t0 = time.perf_counter(); run(); dt = (time.perf_counter() - t0) * 1000
        if i >= 2: ts.append(dt)
    med = statistics.median(ts)
    out = {"case": case, "backend": f"torch {torch.__version__} cpu", "threads": torch.get_num_threads(), "median_ms": round(med, 1),
           "min_ms": round(min(ts), 1), "max_ms": round(max(ts), 1), "times_ms": [round(t, 1) for t in ts], "gflops": round(flops / med / 1e6, 2)}
    print(json.dumps(out) if '--json' in args else f"{case}: {out['median_ms']} ms, {out['gflops']} GFLOP/s ({threads} threads)", flush=True)
