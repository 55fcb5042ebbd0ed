// A running account of parameters, FLOPs and stored activations, fed by walkers that mirror
// the reference constructors and forward passes layer by layer.
//
// Conventions (shared by every walker, computed at batch 1; callers scale by the batch):
//
// - params: exactly PyTorch's `sum(p.numel())` for the layers recorded.
// - flops: 2 × multiply-accumulates of convolutions, linears, embeddings-as-matmul and the
//   attention matmuls (QKᵀ and AV). Bias adds, norms, nonlinearities, softmax, residual adds,
//   resampling and concatenation are NOT counted: they are O(elements), well under 1% of the
//   total for these models, and leaving them out keeps the figure comparable with tools that
//   count MACs (fvcore, thop, ptflops: multiply their number by 2).
// - activations: elements of every intermediate tensor a training forward creates and autograd
//   keeps for backward, estimated as "the output of every primitive op" (conv, linear, norm,
//   nonlinearity, residual add, concat, resample, attention scores, attention probabilities,
//   attention output). PyTorch mostly saves each op's input, which is the previous op's output,
//   so this is a close estimate; in-place ops, dropout masks and allocator slack are ignored.
//   Gradient checkpointing is honoured as the reference does it (`checkpoint()` in
//   ldm/modules/diffusionmodules/util.py runs the block under no_grad and keeps only its
//   inputs): a checkpointed block contributes only its output, and its internal total is
//   tracked in `recomputePeak` (the extra memory needed when backward re-runs it).
import type { GroupNormSite } from './types.js';

export class Tally {
  params = 0;
  macs = 0;
  activations = 0;
  /** Largest internal activation total of any checkpointed block below this tally. */
  recomputePeak = 0;

  /** `norms` is shared with child tallies so that every GroupNorm of a model lands in one list. */
  constructor(readonly norms: GroupNormSite[] = []) {}

  get flops(): number {
    return 2 * this.macs;
  }

  /** nn.Conv2d / nn.Conv1d (use `outW = 1` for 1-d) producing `cout × outH × outW`. */
  conv(cin: number, cout: number, k: number, outH: number, outW: number, bias = true): void {
    this.params += cout * cin * k * k + (bias ? cout : 0);
    this.macs += cout * outH * outW * cin * k * k;
    this.activations += cout * outH * outW;
  }

  /** nn.Linear applied to `rows` vectors. */
  linear(fin: number, fout: number, rows: number, bias = true): void {
    this.params += fin * fout + (bias ? fout : 0);
    this.macs += rows * fin * fout;
    this.activations += rows * fout;
  }

  /** GroupNorm(groups, channels, affine=True) over `channels × spatial` elements. */
  groupNorm(path: string, channels: number, spatial: number, groups = 32): void {
    this.norms.push({ path, channels, groups });
    this.params += 2 * channels;
    this.activations += channels * spatial;
  }

  /** nn.LayerNorm(dim) over `rows` vectors. */
  layerNorm(dim: number, rows: number): void {
    this.params += 2 * dim;
    this.activations += dim * rows;
  }

  /** nn.Embedding(n, dim) looked up `rows` times (a gather: no MACs). */
  embedding(n: number, dim: number, rows: number): void {
    this.params += n * dim;
    this.activations += rows * dim;
  }

  /** A batched matmul `[b, m, k] @ [b, k, n]`. */
  matmul(b: number, m: number, k: number, n: number): void {
    this.macs += b * m * k * n;
    this.activations += b * m * n;
  }

  /** An op with no parameters and no MACs that creates `elements` new values. */
  pointwise(elements: number): void {
    this.activations += elements;
  }

  /** A learned tensor that is not a layer (nn.Parameter). */
  parameter(elements: number): void {
    this.params += elements;
  }

  /**
   * Runs `build` for one block. With `flag` set the block is checkpointed as in the reference:
   * its params and MACs count, its internals do not stay in memory, only its output does.
   */
  block(flag: boolean, outputElements: number, build: (t: Tally) => void): void {
    if (!flag) {
      build(this);
      return;
    }
    const inner = new Tally(this.norms);
    build(inner);
    this.params += inner.params;
    this.macs += inner.macs;
    this.activations += outputElements;
    this.recomputePeak = Math.max(this.recomputePeak, inner.activations, inner.recomputePeak);
  }

  /** Adds another tally's totals (for summing per-module tallies into a model total). */
  absorb(other: Tally): void {
    this.params += other.params;
    this.macs += other.macs;
    this.activations += other.activations;
    this.recomputePeak = Math.max(this.recomputePeak, other.recomputePeak);
  }
}
