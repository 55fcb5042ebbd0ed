// The optional native kernel addon (runtime/native/ldmc_native.cc, built by
// scripts/build-native.mjs into build/native/). Loading it is best-effort: without it, or with
// LDMC_NATIVE=0, the runtime runs on tfjs's own kernels; LDMC_NATIVE=1 makes a missing addon an error.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The addon's functions. Float32Arrays may be views of the wasm heap; every call is synchronous. */
export interface NativeAddon {
  conv2d(x: Float32Array, xShape: number[], w: Float32Array, wShape: number[], y: Float32Array, yShape: number[],
    strides: number[], dilations: number[], pads: number[]): void;
  conv2dBackpropInput(dy: Float32Array, dyShape: number[], w: Float32Array, wShape: number[], dx: Float32Array, dxShape: number[],
    strides: number[], dilations: number[], pads: number[]): void;
  conv2dBackpropFilter(x: Float32Array, xShape: number[], dy: Float32Array, dyShape: number[], dw: Float32Array, wShape: number[],
    strides: number[], dilations: number[], pads: number[]): void;
  matmul(a: Float32Array, b: Float32Array, c: Float32Array, batchA: number, batchB: number, m: number, k: number, n: number,
    transposeA: boolean, transposeB: boolean): void;
  /** y = GroupNorm(x), then SiLU when `silu`. */
  groupNormForward(x: Float32Array, B: number, S: number, C: number, G: number, eps: number, gamma: Float32Array | null,
    beta: Float32Array | null, y: Float32Array, mean: Float32Array, rstd: Float32Array, silu: boolean): void;
  /** The gradient of groupNormForward (β is needed only with `silu`). */
  groupNormBackward(dy: Float32Array, x: Float32Array, mean: Float32Array, rstd: Float32Array, B: number, S: number, C: number,
    G: number, gamma: Float32Array | null, beta: Float32Array | null, dx: Float32Array, dgamma: Float32Array | null,
    dbeta: Float32Array | null, silu: boolean): void;
  silu(x: Float32Array, y: Float32Array): void;
  siluGrad(dy: Float32Array, x: Float32Array, dx: Float32Array): void;
  sumLeading(x: Float32Array, rows: number, cols: number, out: Float32Array): void;
  adamStep(p: Float32Array, m: Float32Array, v: Float32Array, g: Float32Array, pOut: Float32Array, mOut: Float32Array, vOut: Float32Array,
    lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, bc1: number, bc2: number): void;
  gelu(x: Float32Array, y: Float32Array): void;
  geluGrad(dy: Float32Array, x: Float32Array, dx: Float32Array): void;
  /** out[r, c] = x[r, c] + v[c] (op 0) or x[r, c]·v[c] (op 1); rows 1 for two equal shapes. */
  rowOp(x: Float32Array, v: Float32Array, out: Float32Array, rows: number, cols: number, op: 0 | 1): void;
  /** For o < outer: dst[o·dstRow + dstOff ..+len] = src[o·srcRow + srcOff ..+len]. */
  copyRows(src: Float32Array, dst: Float32Array, outer: number, srcRow: number, srcOff: number, dstRow: number, dstOff: number, len: number): void;
  emaStep(shadow: Float32Array, param: Float32Array, out: Float32Array, oneMinusDecay: number): void;
  // -- general kernels, used on the cpu backend (runtime/perf/native-cpu-kernels.ts)
  /** out = a ∘ b, broadcast by element strides per output axis (0 = broadcast); op: 0 + 1 − 2 · 3 ÷ 4 (a−b)² 5 max 6 min. */
  binary(a: Float32Array, b: Float32Array, out: Float32Array, outShape: number[], aStrides: number[], bStrides: number[], op: number): void;
  /** y = f(x): 0 exp 1 log 2 sqrt 3 rsqrt 4 x² 5 −x 6 |x| 7 σ 8 tanh 9 sign 10 1/x 11 relu 12 leaky relu(alpha) 13 alpha·x 14 step(alpha). */
  unary(x: Float32Array, y: Float32Array, op: number, alpha: number): void;
  /** y = x with axes permuted (4-byte elements). */
  transpose(x: Float32Array | Int32Array, shape: number[], perm: number[], y: Float32Array | Int32Array): void;
  /** x as [outer, red, inner] reduced over the middle axis: op 0 sum 1 mean 2 max 3 min. */
  reduce(x: Float32Array, outer: number, red: number, inner: number, out: Float32Array, op: number): void;
  /** Index of the min (op 0) or max (op 1) along the middle axis of [outer, red, inner]. */
  argReduce(x: Float32Array, outer: number, red: number, inner: number, out: Int32Array, op: number): void;
  /** Softmax along the last axis of [rows, cols]. */
  softmax(x: Float32Array, rows: number, cols: number, y: Float32Array): void;
  /**
   * Per batch item and head: softmax(scale·q_h·k_hᵀ)·v_h, q [batch, n, heads·d], k [batch, m, heads·d],
   * v [batch, m, heads·dv] → out [batch, n, heads·dv]; the [n, m] matrix is never stored.
   */
  attention(q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, batch: number, heads: number, n: number, m: number, d: number, dv: number, scale: number): void;
  /** Constant padding. */
  pad(x: Float32Array, shape: number[], before: number[], after: number[], value: number, y: Float32Array): void;
  /** Asks for 2 MiB pages under a new typed array, before its first touch (the cpu backend's outputs). */
  adviseHugePages(a: Float32Array | Int32Array): void;
  info(): { library: string; threads: number };
}

/** Where the build script puts the addon, from the package root. */
export const ADDON_PATH = join('build', 'native', 'ldmc_native.node');

function packageRoot(): string {
  // dist/runtime/native/index.js (or runtime/native/index.ts under a TS loader) → the package root
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = resolve(dir, '..');
  }
  return process.cwd();
}

let loaded: { addon: NativeAddon | undefined; why: string } | undefined;

/** What scripts/build-native.mjs left in build/native/NOT_BUILT, with how to build it again. */
function notBuiltReason(root: string): string {
  // Installed as a dependency, the build ran from the package's `install` script: `npm rebuild ldmc` reruns it.
  const again = /[\\/]node_modules[\\/]/.test(root) ? 'npm rebuild ldmc' : 'npm run build:native';
  let why = '';
  try {
    why = readFileSync(join(root, 'build', 'native', 'NOT_BUILT'), 'utf8').trim().replace(/\.$/, '');
  } catch {
    // no record: the build never ran (e.g. npm install --ignore-scripts)
  }
  return why ? `${why}; to retry: ${again}` : `${again} builds it, with g++ and libdnnl-dev`;
}

/** The addon, or undefined with the reason (not built, disabled, failed to load). */
export function loadNative(opts: { alongsideWasmThreads?: boolean } = {}): { addon: NativeAddon | undefined; why: string } {
  if (loaded) return loaded;
  const mode = process.env.LDMC_NATIVE;
  if (mode === '0' || mode === 'off') return (loaded = { addon: undefined, why: 'disabled by LDMC_NATIVE=0' });
  const root = packageRoot();
  const path = join(root, ADDON_PATH);
  if (!existsSync(path)) {
    loaded = { addon: undefined, why: `${ADDON_PATH} is not built (${notBuiltReason(root)})` };
  } else {
    // OpenMP's workers spin a while after each parallel region by default (libgomp: ~300k turns).
    // Next to the wasm backend's own pthreads that starves them on a machine with as many cores as
    // threads (a UNet step took 2–9 s instead of 1), so they then sleep at once ('passive'). Alone
    // (wasm on one thread, the default with the addon; the cpu backend) the short spin is what a
    // step of many small kernels needs: passive waking cost the VQ step ~2× (368 → 182 ms here).
    // libgomp reads this when the addon loads it; a value the user set wins.
    if (opts.alongsideWasmThreads) process.env.OMP_WAIT_POLICY ??= 'passive';
    try {
      loaded = { addon: createRequire(import.meta.url)(path) as NativeAddon, why: '' };
    } catch (e) {
      loaded = { addon: undefined, why: `${ADDON_PATH} failed to load: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}` };
    }
  }
  if (!loaded.addon && (mode === '1' || mode === 'on')) throw new Error(`ldmc: LDMC_NATIVE=1 but ${loaded.why}`);
  return loaded;
}
