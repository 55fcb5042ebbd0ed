// Shared shapes of the static facts. Pure data: no tensors, no I/O.

/** `[C, H, W]` of one sample (the batch axis is left out). */
export type Shape3 = [number, number, number];

/** `[tokens, dim]` of one sample's cross-attention context. */
export type Shape2 = [number, number];

/**
 * Every rule the facts walkers check, with its severity. `error`: PyTorch raises while building
 * the module (an `assert` in a constructor), so the config cannot be instantiated. `warning`: the
 * module builds (the parameter count is exact) but a forward pass fails or silently differs from
 * what the config suggests. Codes are stable (kebab-case, prefixed by the module family); the
 * compiler maps each one to an LDMC code of the same severity (compiler/check.ts `factRules`,
 * held together by test/compiler/messages.test.ts).
 */
export const FactRules = {
  'unet/context-dim-missing': 'error',
  'unet/context-dim-without-transformer': 'error',
  'unet/heads-unset': 'error',
  'unet/dims': 'error',
  'unet/channel-mult-empty': 'error',
  'unet/attention-head-channels': 'error',
  'unet/attention-heads': 'warning',
  'unet/transformer-heads': 'error',
  'unet/skip-size-mismatch': 'warning',
  'unet/out-channels-mismatch': 'warning',
  'unet/adm-in-channels-missing': 'error',
  'unet/per-level-length': 'error',
  'unet/attention-blocks-exceed': 'error',
  'unet/linear-proj-out': 'warning',
  'autoencoder/attn-type': 'error',
  'autoencoder/ch-mult-empty': 'error',
  'autoencoder/vq-double-z': 'warning',
  'autoencoder/kl-double-z': 'error',
  'rescaler/n-stages': 'error',
  'rescaler/method': 'error',
  'clip/layer-idx': 'error',
  'clip/max-length': 'warning',
  'clip/image-layer': 'error',
  'clip/noise-aug-width': 'warning',
  'clip/unknown-model': 'warning',
  'clip/config-unreadable': 'error',
  'clip/config-invalid': 'error',
  'sd/adm-in-channels': 'error',
  'sd/noise-levels': 'error',
} as const satisfies Record<string, 'error' | 'warning'>;

export type FactCode = keyof typeof FactRules;
export type FactSeverity = (typeof FactRules)[FactCode];
/** The codes whose severity is `S`, so that `issues.error` only takes an error rule's code. */
export type FactCodeOf<S extends FactSeverity> = { [C in FactCode]: (typeof FactRules)[C] extends S ? C : never }[FactCode];

/**
 * Something the reference would do wrong with these params (see `FactRules`). `message` says it
 * in words for callers of the facts; `args` are the values the compiler's message template for
 * this code takes, in the order `factRules` in compiler/check.ts documents. `param` names the
 * offending constructor param when there is one.
 */
export interface FactIssue {
  severity: FactSeverity;
  code: FactCode;
  message: string;
  args: readonly (string | number)[];
  param?: string;
  /** state_dict-style path of the module concerned, e.g. `input_blocks.4.1`. */
  path?: string;
}

/** A GroupNorm with 32 groups: `channels` must be divisible by 32 or PyTorch raises. */
export interface GroupNormSite {
  path: string;
  channels: number;
  groups: number;
}

interface IssueExtra {
  param?: string;
  path?: string;
  args?: readonly (string | number)[];
}

/** Collects issues while a walker mirrors a constructor. */
export class IssueList {
  readonly items: FactIssue[] = [];
  error(code: FactCodeOf<'error'>, message: string, extra: IssueExtra = {}): void {
    this.add(code, message, extra);
  }
  warning(code: FactCodeOf<'warning'>, message: string, extra: IssueExtra = {}): void {
    this.add(code, message, extra);
  }
  private add(code: FactCode, message: string, { args = [], ...rest }: IssueExtra): void {
    this.items.push({ severity: FactRules[code], code, message, args, ...rest });
  }
  get errors(): FactIssue[] {
    return this.items.filter((i) => i.severity === 'error');
  }
  get warnings(): FactIssue[] {
    return this.items.filter((i) => i.severity === 'warning');
  }
}

/** Python's `a // b` for ints (floors towards -inf, unlike Math.trunc). */
export function floorDiv(a: number, b: number): number {
  return Math.floor(a / b);
}
