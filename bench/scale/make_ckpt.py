# Writes a Lightning-style checkpoint with PyTorch itself (torch.save of {'state_dict': ...,
# 'global_step': ..., 'epoch': ...}), with random values, from the names and shapes that
# bench/scale/state-dict-names.mjs prints for a config. Values follow PyTorch's default
# initialisation (U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases, norms at (1, 0)),
# so sampling from the result stays finite.
# Usage: /usr/bin/python3 (Debian's, which has torch) bench/scale/make_ckpt.py NAMES.json OUT.ckpt [--dtype float32|float16|bfloat16] [--seed N]
import argparse, json, math, collections
import torch

ap = argparse.ArgumentParser()
ap.add_argument('names'); ap.add_argument('out')
ap.add_argument('--dtype', default='float32', choices=['float32', 'float16', 'bfloat16'])
ap.add_argument('--seed', type=int, default=0)
a = ap.parse_args()
torch.manual_seed(a.seed)
dtype = getattr(torch, a.dtype)
entries = json.load(open(a.names))
fan_in = {}
for name, shape, kind in entries:
    if len(shape) >= 2: fan_in[name.rsplit('weight', 1)[0]] = math.prod(shape[1:])
sd = collections.OrderedDict()
for name, shape, kind in entries:
    if kind == 'int':
        sd[name] = torch.tensor(1000, dtype=torch.int)
    elif kind == 'decay':
        sd[name] = torch.tensor(0.9999, dtype=torch.float32)
    elif kind == 'schedule':
        sd[name] = torch.linspace(0.0015 ** 0.5, 0.0195 ** 0.5, shape[0], dtype=torch.float64).pow(2).float()
    else:
        base = name.rsplit('weight', 1)[0] if name.endswith('weight') else name.rsplit('bias', 1)[0]
        if len(shape) == 1 and name.endswith('weight') and base not in fan_in:
            t = torch.ones(shape)  # a norm's scale
        elif len(shape) == 1 and name.endswith('bias') and base not in fan_in:
            t = torch.zeros(shape)  # a norm's shift
        else:
            b = 1 / math.sqrt(fan_in.get(base, shape[-1] if shape else 1))
            t = torch.empty(shape).uniform_(-b, b)
        sd[name] = t.to(dtype)
torch.save({'epoch': 0, 'global_step': 1000, 'pytorch-lightning_version': '1.4.2', 'state_dict': sd}, a.out)
print(f'wrote {a.out}: {len(sd)} tensors, {sum(t.numel() * t.element_size() for t in sd.values()) / 1e9:.2f} GB')
