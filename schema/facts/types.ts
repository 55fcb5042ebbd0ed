// Shared shapes of the static facts. Pure data: no tensors, no I/O.

/** `[C, H, W]` of one sample (the batch axis is left out). */
export type Shape3 = [number, number, number];

/** `[tokens, dim]` of one sample's cross-attention context. */
export type Shape2 = [number, number];

/**
 * Something the reference would do wrong with these params. `error`: PyTorch raises while
 * building the module (an `assert` in a constructor), so the config cannot be instantiated.
 * `warning`: the module builds (the parameter count is exact) but a forward pass fails or
 * silently differs from what the config suggests.
 * `code` is stable (kebab-case, prefixed by the module family); the compiler maps it to an
 * LDMC diagnostic. `param` names the offending constructor param when there is one.
 */
export interface FactIssue {
  severity: 'error' | 'warning';
  code: string;
  message: string;
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

/** Collects issues while a walker mirrors a constructor. */
export class IssueList {
  readonly items: FactIssue[] = [];
  error(code: string, message: string, extra: { param?: string; path?: string } = {}): void {
    this.items.push({ severity: 'error', code, message, ...extra });
  }
  warning(code: string, message: string, extra: { param?: string; path?: string } = {}): void {
    this.items.push({ severity: 'warning', code, message, ...extra });
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
