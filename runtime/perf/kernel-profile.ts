// Per-kernel wall time on a backend, for finding where a step goes (LDMC_KERNEL_PROFILE=1).
// initBackend wraps every kernel of the backend it starts in a timer when the switch is on, and
// wrapKernel wraps its fallbacks in a second one, so each row says how much of a kernel's time went to the
// tfjs kernel it wraps (a JavaScript loop on the cpu backend) instead of the addon. Off, nothing is
// wrapped and nothing is paid. Times are inclusive and taken with performance.now(); kernels that
// call other registered kernels through the engine (few do) count twice.
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';

type KernelArgs = Parameters<KernelFunc>[0];

/** One kernel's totals. `fallbackMs` is the part spent in the tfjs kernel (all of it for kernels ldmc does not wrap). */
export interface KernelProfileRow {
  name: string;
  calls: number;
  ms: number;
  fallbackCalls: number;
  fallbackMs: number;
  /** True when ldmc registered a kernel of its own under this name (native unless it fell back). */
  wrapped: boolean;
}

/** Read once: the switch is meant for a whole process. */
export const kernelProfileOn: boolean = process.env.LDMC_KERNEL_PROFILE === '1';

const rows = new Map<string, KernelProfileRow>();
const wrappedNames = new Set<string>();
const profiledOn = new Set<string>();

function rowOf(name: string): KernelProfileRow {
  let r = rows.get(name);
  if (!r) rows.set(name, (r = { name, calls: 0, ms: 0, fallbackCalls: 0, fallbackMs: 0, wrapped: wrappedNames.has(name) }));
  return r;
}

/** `prev` (a wrapped kernel's fallback) timed into its row's fallback columns; `prev` itself when profiling is off. */
export function timedFallback(name: string, prev: KernelFunc): KernelFunc {
  wrappedNames.add(name);
  if (!kernelProfileOn) return prev;
  return (args: KernelArgs) => {
    const t0 = performance.now();
    try {
      return prev(args);
    } finally {
      const r = rowOf(name);
      r.fallbackCalls++;
      r.fallbackMs += performance.now() - t0;
    }
  };
}

/** Marks a kernel registered by ldmc under its own name (no tfjs fallback) for the report. */
export function markOwnKernel(name: string): void {
  wrappedNames.add(name);
}

/**
 * Wraps every kernel registered on `backend` in a timer (once per backend; call it after the last
 * kernel is registered). Kernels ldmc does not wrap count entirely as fallback.
 */
export function profileBackendKernels(backend: string): void {
  if (!kernelProfileOn || profiledOn.has(backend)) return;
  profiledOn.add(backend);
  for (const k of tf.getKernelsForBackend(backend)) {
    const name = k.kernelName, inner = k.kernelFunc, own = wrappedNames.has(name);
    tf.unregisterKernel(name, backend);
    tf.registerKernel({
      ...k,
      kernelFunc: (args: KernelArgs): TensorInfo | TensorInfo[] => {
        const t0 = performance.now();
        try {
          return inner(args);
        } finally {
          const dt = performance.now() - t0, r = rowOf(name);
          r.calls++;
          r.ms += dt;
          if (!own) {
            r.fallbackCalls++;
            r.fallbackMs += dt;
          }
        }
      },
    } as KernelConfig);
  }
}

/** The rows so far, the slowest first. */
export function kernelProfile(): KernelProfileRow[] {
  return [...rows.values()].map((r) => ({ ...r, wrapped: wrappedNames.has(r.name) })).sort((a, b) => b.ms - a.ms);
}

export function resetKernelProfile(): void {
  rows.clear();
}

/** The rows as a text table (top `n`), for stderr. */
export function formatKernelProfile(n = 25): string {
  const all = kernelProfile();
  const total = all.reduce((s, r) => s + r.ms, 0);
  const lines = [`kernel                        calls      ms   fallback(calls, ms)   (all kernels: ${total.toFixed(0)} ms)`];
  for (const r of all.slice(0, n)) {
    lines.push(`${(r.name + (r.wrapped ? '' : ' [tfjs]')).padEnd(28)} ${String(r.calls).padStart(6)} ${r.ms.toFixed(1).padStart(8)}   ${String(r.fallbackCalls).padStart(6)} ${r.fallbackMs.toFixed(1).padStart(9)}`);
  }
  return lines.join('\n');
}
