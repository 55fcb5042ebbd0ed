// Backend selection: tensorflow (tfjs-node-gpu / tfjs-node, when installed) > wasm (threads via a
// worker_threads shim) > cpu. Also loads tfjs-core's gradient registrations, which the Node
// (CommonJS) bundle of tfjs-core leaves out.
import { register } from 'node:module';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

export interface InitBackendOptions {
  /** Start exactly this backend, or throw. Default: the best one that starts. */
  backend?: BackendName;
  /** Backends the default order leaves out (e.g. wasm for a run over its 4 GiB heap: runtime/fit.ts). */
  skip?: readonly BackendName[];
  /** wasm threads (default: 1 with the native kernels, else the number of cores). 1 = single-threaded. */
  threads?: number;
  /** Don't print the chosen backend to stderr. */
  quiet?: boolean;
}

const require = createRequire(import.meta.url);
let announced = false;
let nativeNote = '';
let cpuNote = '';

/** Starts a backend (see InitBackendOptions) and returns its tfjs name ('tensorflow', 'wasm', 'cpu'). */
export async function initBackend(opts: InitBackendOptions = {}): Promise<string> {
  await loadGradients();
  // Frees each activation's gradient and saved tensors during backprop (runtime/perf/lean-backprop.ts):
  // the celeba256 step at batch 2 peaks 2.5 GB lower. It reads tfjs-core 4.22 internals (the version
  // is pinned); LDMC_LEAN_BACKPROP=0 keeps tfjs's own walk.
  if (process.env.LDMC_LEAN_BACKPROP !== '0') (await import('./perf/lean-backprop.js')).installLeanBackprop();
  const order: BackendName[] = opts.backend ? [opts.backend] : (['tensorflow', 'wasm', 'cpu'] as const).filter((b) => !opts.skip?.includes(b));
  const failures: string[] = [];
  for (const name of order) {
    try {
      const got = await start(name, opts);
      // LDMC_KERNEL_PROFILE=1: time every kernel of the backend, ours and tfjs's (a no-op when off).
      (await import('./perf/kernel-profile.js')).profileBackendKernels(got);
      if (!opts.quiet && !announced) {
        announced = true;
        const extra = got === 'wasm' ? ` (${wasmThreads()} thread${wasmThreads() === 1 ? '' : 's'}${nativeNote})` : got === 'cpu' ? cpuNote : '';
        process.stderr.write(`ldmc: tfjs backend ${got}${extra}\n`);
      }
      return got;
    } catch (e) {
      failures.push(`${name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  throw new Error(`ldmc: could not start the ${opts.backend ? `'${opts.backend}'` : 'any'} tfjs backend:\n  ${failures.join('\n  ')}`);
}

async function start(name: BackendName, opts: InitBackendOptions): Promise<string> {
  switch (name) {
    case 'tensorflow': {
      if (!(await importFirst(['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']))) {
        throw new Error('neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node is installed');
      }
      await setBackendOrThrow('tensorflow');
      return 'tensorflow';
    }
    case 'wasm': {
      await import('@tensorflow/tfjs-backend-wasm');
      const { registerConv2dGradient } = await import('./nn/conv-grad.js');
      registerConv2dGradient();
      // With the native kernels every heavy op runs on their OpenMP threads and wasm's own pthreads
      // measured no faster (ResBlock, attention, both training steps), so wasm starts on one
      // thread, which also skips the threaded start-up and its occasional stalls.
      const { loadNative } = await import('./native/index.js');
      // Loaded before wasm starts: its OpenMP wait policy depends on whether wasm runs pthreads too.
      const addon = loadNative({ alongsideWasmThreads: (opts.threads ?? 1) > 1 }).addon;
      await startWasm(opts.threads ?? (addon ? 1 : os.cpus().length));
      const { installNativeKernels } = await import('./perf/native-kernels.js');
      const native = installNativeKernels();
      nativeNote = native.installed ? `, native kernels: ${native.library}, ${native.threads} threads` : `, no native kernels: ${native.why}`;
      return 'wasm';
    }
    case 'cpu': {
      await import('@tensorflow/tfjs-backend-cpu');
      await setBackendOrThrow('cpu');
      // tfjs prints a multi-line banner on the cpu backend's first write; ldmc names the backend itself.
      const cpu = tf.backend() as unknown as { firstUse?: boolean };
      if ('firstUse' in cpu) cpu.firstUse = false;
      // The native kernels work on the cpu backend's own typed arrays, which have no 4 GiB cap.
      const { installNativeKernels } = await import('./perf/native-kernels.js');
      const native = installNativeKernels('cpu');
      cpuNote = native.installed ? ` (native kernels: ${native.library}, ${native.threads} threads)` : ` (no native kernels: ${native.why})`;
      return 'cpu';
    }
  }
}

async function importFirst(specs: string[]): Promise<boolean> {
  for (const s of specs) {
    try {
      await import(s);
      return true;
    } catch {
      // not installed (or its native library failed to load): try the next one
    }
  }
  return false;
}

async function setBackendOrThrow(name: string): Promise<void> {
  if (tf.getBackend() === name) return;
  if (!(await tf.setBackend(name))) throw new Error(`tf.setBackend('${name}') failed`);
  await tf.ready();
}

// ---- gradients ----

let gradients: Promise<void> | undefined;

/**
 * tfjs-core's Node bundle (dist/tf-core.node.js) registers no gradients (nor the chained tensor
 * methods); they exist only as the
 * ES modules under dist/, whose relative imports lack file extensions, which Node's ESM loader
 * rejects. A resolve hook, limited to relative imports from inside tfjs-core/dist, adds '.js'
 * (or '/index.js'). That copy shares the engine and the registries (kept on globalThis) with the
 * bundle, so its registerGradient calls reach the bundle's engine.
 */
export function loadGradients(): Promise<void> {
  gradients ??= (async () => {
    if (tf.getGradient('Conv2D') && tf.getGradient('BatchMatMul')) return; // e.g. tfjs-node already did
    const hook = `export async function resolve(spec, ctx, next) {
  try { return await next(spec, ctx); } catch (e) {
    const inCore = ctx.parentURL && ctx.parentURL.includes('/@tensorflow/tfjs-core/dist/');
    if (!inCore || !(spec.startsWith('./') || spec.startsWith('../'))) throw e;
    try { return await next(spec + '.js', ctx); } catch { return next(spec + '/index.js', ctx); }
  }
}`;
    register('data:text/javascript,' + encodeURIComponent(hook));
    const spec = '@tensorflow/tfjs-core/dist/register_all_gradients.js';
    await import(spec);
    // The chained methods (x.add(y)) are missing from the Node bundle too; the runtime itself uses
    // only functional ops, but code written against the tfjs docs expects them.
    const chained = '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops.js';
    await import(chained);
    if (!tf.getGradient('Conv2D')) throw new Error('ldmc: tfjs-core gradient registrations did not load');
  })();
  return gradients;
}

// ---- wasm ----

interface WasmModule {
  setThreadsCount(n: number): void;
  getThreadsCount(): number;
}

function wasmThreads(): number {
  try {
    return (require('@tensorflow/tfjs-backend-wasm') as WasmModule).getThreadsCount();
  } catch {
    return 1;
  }
}

async function startWasm(threads: number): Promise<void> {
  // Already initialised in this process (threaded or not): just switch back to it.
  if (tf.getBackend() === 'wasm' || tf.findBackend('wasm')) return setBackendOrThrow('wasm');
  if (threads > 1 && typeof SharedArrayBuffer === 'function') {
    // Two tries: a start that stalls (see startThreadedWasm) usually succeeds the second time.
    for (let attempt = 1; attempt <= 2; attempt++) {
      try {
        await startThreadedWasm(threads);
        return;
      } catch (e) {
        tf.removeBackend('wasm');
        tf.registerBackend('wasm', wasmFactory(), 2);
        if (attempt === 2) process.stderr.write(`ldmc: wasm threads unavailable (${e instanceof Error ? e.message : String(e)}); using 1 thread\n`);
      }
    }
  }
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  await setBackendOrThrow('wasm');
}

/** The wasm backend's registered factory, kept so a failed threaded start can be retried plainly. */
let savedFactory: (() => tf.KernelBackend | Promise<tf.KernelBackend>) | undefined;
function wasmFactory(): () => tf.KernelBackend | Promise<tf.KernelBackend> {
  if (!savedFactory) throw new Error('wasm backend factory not captured');
  return savedFactory;
}

/**
 * tfjs-backend-wasm switches threads off in Node (tensorflow/tfjs#3830) because its Emscripten
 * pthread glue hands workers Blob URLs, which Node's worker_threads cannot load. The shim:
 * 1. captures the two Blobs the backend builds (the pthread worker bootstrap and the main module
 *    script) and writes them to a temp directory, so workers load plain files;
 * 2. gives the main-module file the few bundle-level helpers its source refers to (tslib's
 *    __values/__read/__spreadArray and the bundle's `require$$N` aliases);
 * 3. reports 2·threads logical cores while the backend starts, since its C++ side caps the
 *    thread pool at half of emscripten_num_logical_cores();
 * 4. unrefs the pool's workers once the backend is up: they would otherwise keep Node alive
 *    after the program ends (the main thread waits on them synchronously, so they need no ref).
 */
const THREADED_START_TIMEOUT_MS = Number(process.env.LDMC_WASM_START_TIMEOUT_MS ?? 20000);

async function startThreadedWasm(threads: number): Promise<void> {
  const wasm = require('@tensorflow/tfjs-backend-wasm') as WasmModule;
  const dir = mkdtempSync(join(os.tmpdir(), 'ldmc-wasm-'));
  const mainFile = join(dir, 'wasm-main.js'), workerFile = join(dir, 'wasm-worker.js');
  const prelude = mainScriptPrelude();
  const texts = new WeakMap<Blob, string>();
  const OrigBlob = globalThis.Blob;
  const origCreate = URL.createObjectURL;
  const origCpus = os.cpus;
  let wroteMain = false, wroteWorker = false;
  const threadsModule = require('node:worker_threads') as typeof import('node:worker_threads');
  const OrigWorker = threadsModule.Worker;
  const pool: InstanceType<typeof OrigWorker>[] = [];
  let started = false;
  // Emscripten copies worker_threads.Worker to globalThis.Worker when its factory starts.
  class PoolWorker extends OrigWorker {
    constructor(...args: ConstructorParameters<typeof OrigWorker>) {
      super(...args);
      if (started) this.unref();
      else pool.push(this);
    }
  }

  class CapturingBlob extends OrigBlob {
    constructor(...args: ConstructorParameters<typeof Blob>) {
      super(...args);
      const parts = args[0];
      if (parts && parts.every((p) => typeof p === 'string')) {
        const t = (parts as unknown as string[]).join('');
        texts.set(this, t);
        if (t.startsWith('var WasmBackendModuleThreadedSimd')) {
          writeFileSync(mainFile, prelude + t);
          wroteMain = true;
        }
      }
    }
  }
  globalThis.Blob = CapturingBlob;
  URL.createObjectURL = (obj: Blob): string => {
    const t = texts.get(obj);
    if (t !== undefined && t.includes('nodeWorkerThreads') && t.includes('importScripts')) {
      // Inside the worker the main script arrives as a Blob too: point it at the file instead.
      const redirect = `URL.createObjectURL=function(){return ${JSON.stringify(mainFile)}};URL.revokeObjectURL=function(){};\n`;
      writeFileSync(workerFile, redirect + t);
      wroteWorker = true;
      return workerFile;
    }
    return origCreate.call(URL, obj);
  };
  os.cpus = () => {
    const c = origCpus.call(os);
    while (c.length < 2 * threads) c.push(c[0]!);
    return c;
  };
  savedFactory ??= tf.findBackendFactory('wasm') ?? undefined;
  threadsModule.Worker = PoolWorker;
  try {
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
    wasm.setThreadsCount(threads);
    // Now and then (about one start in five here) the pthread workers exit cleanly during start-up
    // and the backend's init promise never settles, with nothing left to keep Node alive. A
    // watchdog turns that into an error, and startWasm falls back to one thread.
    let timer: NodeJS.Timeout | undefined;
    const watchdog = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the threaded start did not finish in ${THREADED_START_TIMEOUT_MS / 1000} s`)), THREADED_START_TIMEOUT_MS);
    });
    try {
      await Promise.race([setBackendOrThrow('wasm'), watchdog]);
    } finally {
      clearTimeout(timer);
    }
    if (!wroteMain || !wroteWorker) throw new Error('the threaded wasm module was not built (SIMD unsupported?)');
    if (wasm.getThreadsCount() < 2) throw new Error(`thread pool has ${wasm.getThreadsCount()} thread(s)`);
    started = true;
    for (const w of pool) w.unref();
  } finally {
    threadsModule.Worker = OrigWorker;
    globalThis.Blob = OrigBlob;
    URL.createObjectURL = origCreate;
    os.cpus = origCpus;
  }
}

/** Definitions the threaded module's source needs when evaluated outside the bundle. */
function mainScriptPrelude(): string {
  const bundle = readFileSync(require.resolve('@tensorflow/tfjs-backend-wasm'), 'utf8');
  const aliases = [...bundle.matchAll(/^var (require\$\$\d+) = require\('([\w-]+)'\);$/gm)]
    .map((m) => `var ${m[1]} = require(${JSON.stringify(m[2])});`);
  return [
    'var commonjsGlobal = globalThis;',
    ...aliases,
    'function __values(o) { var s = typeof Symbol === "function" && Symbol.iterator, m = s && o[s], i = 0;',
    '  if (m) return m.call(o); if (o && typeof o.length === "number") return { next: function () { if (o && i >= o.length) o = void 0; return { value: o && o[i++], done: !o }; } };',
    '  throw new TypeError("Object is not iterable."); }',
    'function __read(o, n) { var it = o[Symbol.iterator](), out = [], r; while ((n === void 0 || n-- > 0) && !(r = it.next()).done) out.push(r.value); return out; }',
    'function __spreadArray(to, from) { return to.concat(Array.prototype.slice.call(from)); }',
    '',
  ].join('\n');
}
