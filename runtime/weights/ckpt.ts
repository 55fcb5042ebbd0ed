// Import of PyTorch `.ckpt` / `.pt` files (torch.save's zip format, torch >= 1.6): the pickle in
// `<archive>/data.pkl` is read by the restricted unpickler in ./pickle.ts and tensor data is
// taken from the `<archive>/data/<key>` storages. Nothing in the file is executed: only the
// globals torch checkpoints need are reconstructed (in JS), Lightning/omegaconf/numpy metadata
// become inert placeholders, and every other global is refused with an error naming it.
// `readTorchCheckpoint` reads every tensor (from bytes, or a path via positional reads);
// `openTorchCheckpoint` reads the pickle only and each tensor on request, so a multi-GB
// checkpoint can be converted with about one tensor in memory.
import {
  PickleError, PickleGlobal, PickleHostValue, PickleObject, type PickleValue, isTuple, unpickle,
} from './pickle.js';
import { DTYPE_BYTES, floatBytesInto, isFloatingDtype, type LazyTensor, type RawTensor, type SafetensorsDtype } from './safetensors.js';
import { FileSource, ZipArchive, ZipError, type RandomAccessSource, type ZipEntry } from './zip.js';
import { WeightsFileError, quote, type WeightsFaultId } from './faults.js';

/**
 * Tensors come out in the same widened form as parseSafetensors gives (F16/BF16 → Float32Array,
 * I64 → Float64Array, I16/I8 → Int32Array), so both formats feed the same loadStateDict.
 */
export type { RawTensor };
export type RawDType = SafetensorsDtype;

/** A checkpoint that cannot be read; `fault` (./faults.ts) gives its code and hint. */
export class CheckpointError extends WeightsFileError {
  override readonly name = 'CheckpointError';
}

export interface TorchCheckpoint {
  /** The whole unpickled object; tensors in it are `CkptTensor`s. */
  readonly root: PickleValue;
  /** `extractStateDict(root)`. */
  readonly tensors: Map<string, RawTensor>;
  /** Keys of the state dict whose values are not tensors (ignored). */
  readonly nonTensorKeys: string[];
  /** Data-only globals met (e.g. pytorch_lightning ... ModelCheckpoint), kept as placeholders. */
  readonly placeholderGlobals: string[];
}

export interface ReadCheckpointOptions {
  /** Check each zip entry's CRC-32 (default true; native zlib.crc32 where Node has it, else ~1 s per GB). */
  verifyCrc?: boolean;
}

/**
 * A checkpoint opened for reading one tensor at a time (`openTorchCheckpoint`): the pickle has
 * been read and every tensor's dtype, shape and place in the archive is known, but no tensor
 * data has been read yet. `load` reads one tensor (its storage entry, CRC-checked); memory is
 * about one storage at a time. `close()` when done.
 */
export interface LazyTorchCheckpoint {
  /** The whole unpickled object; tensors in it are `CkptTensorRef`s. */
  readonly root: PickleValue;
  /** The state dict (see `extractStateDict`), as references to the data. */
  readonly tensors: ReadonlyMap<string, CkptTensorRef>;
  readonly nonTensorKeys: string[];
  readonly placeholderGlobals: string[];
  /** Reads the state-dict tensor `name`. Errors are CheckpointErrors naming the tensor. */
  load(name: string): CkptTensor;
  /**
   * The state dict as tensors read on request (`LazyTensor`): `readInto` puts a float tensor's
   * values straight into the caller's Float32Array, with one positional read of its storage
   * when it is the whole storage (the usual case); errors are CheckpointErrors naming the tensor.
   */
  readonly lazyTensors: ReadonlyMap<string, LazyTensor>;
  /** Closes the file when `openTorchCheckpoint` opened it (a path); otherwise does nothing. */
  close(): void;
}


const STORAGE_DTYPE: Record<string, RawDType> = {
  DoubleStorage: 'F64', FloatStorage: 'F32', HalfStorage: 'F16', BFloat16Storage: 'BF16',
  LongStorage: 'I64', IntStorage: 'I32', ShortStorage: 'I16', CharStorage: 'I8',
  ByteStorage: 'U8', BoolStorage: 'BOOL', UntypedStorage: 'U8',
};

const TORCH_DTYPE: Record<string, RawDType> = {
  float64: 'F64', double: 'F64', float32: 'F32', float: 'F32', float16: 'F16', half: 'F16',
  bfloat16: 'BF16', int64: 'I64', long: 'I64', int32: 'I32', int: 'I32', int16: 'I16', short: 'I16',
  int8: 'I8', uint8: 'U8', bool: 'BOOL',
};

/** A tensor as the unpickler builds it (C-contiguous, PyTorch layout); what `extractStateDict` returns. */
export class CkptTensor extends PickleHostValue implements RawTensor {
  readonly kind = 'tensor';
  constructor(readonly dtype: RawDType, readonly shape: readonly number[], readonly data: RawTensor['data']) { super(); }
}

/**
 * A tensor whose data has not been read yet (what `openTorchCheckpoint` gives): dtype and shape
 * as `CkptTensor` has them, and where its elements are in the archive.
 */
export class CkptTensorRef extends PickleHostValue {
  readonly kind = 'tensor-ref';
  constructor(
    readonly dtype: RawDType,
    readonly shape: readonly number[],
    /** Storage key: the data is the zip entry `<archive>/data/<key>`. */
    readonly storageKey: string,
    /** Offset into the storage and strides, in elements. */
    readonly storageOffset: number,
    readonly stride: readonly number[],
    /** Position of the pickle opcode that built it (for messages). */
    readonly pickleOffset: number,
  ) { super(); }
  get numel(): number { return this.shape.reduce((a, b) => a * b, 1); }
}

/** A storage reference from a persistent id; its bytes are read from the archive on first use. */
class TorchStorage extends PickleHostValue {
  readonly kind = 'storage';
  constructor(readonly dtype: RawDType, readonly key: string, readonly numel: number) { super(); }
}

// Names whose instances are metadata only (Lightning callbacks' state, hparams, numpy scalars):
// they become inert PickleObjects. Prefixes end with '.'.
const PLACEHOLDER_PREFIXES = ['pytorch_lightning.', 'lightning.pytorch.', 'lightning.fabric.', 'lightning_fabric.', 'omegaconf.'];
const PLACEHOLDER_NAMES = new Set([
  'numpy.core.multiarray.scalar', 'numpy._core.multiarray.scalar',
  'numpy.core.multiarray._reconstruct', 'numpy._core.multiarray._reconstruct',
  'numpy.dtype', 'numpy.ndarray', 'typing.Any', 'argparse.Namespace',
  'pathlib.PosixPath', 'pathlib.WindowsPath', 'pathlib.Path',
  'torch.device', 'torch.Tensor', 'torch.nn.parameter.Parameter', 'torch.nn.parameter.Buffer',
  'builtins.object', 'builtins.complex', 'builtins.slice', 'builtins.range', 'datetime.datetime', 'datetime.timedelta',
]);

function int(v: PickleValue, what: string, offset: number): number {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  throw new PickleError(`${what} must be a non-negative integer, got ${describe(v)}`, offset);
}

function intTuple(v: PickleValue, what: string, offset: number): number[] {
  if (!Array.isArray(v)) throw new PickleError(`${what} must be a tuple of integers, got ${describe(v)}`, offset);
  return (v as readonly PickleValue[]).map((x, i) => int(x, `${what}[${i}]`, offset));
}

function describe(v: PickleValue): string {
  if (v === null) return 'None';
  if (v instanceof PickleGlobal) return v.qualifiedName;
  if (v instanceof PickleObject) return `${v.cls.qualifiedName} object`;
  if (v instanceof PickleHostValue) return v.kind;
  if (v instanceof Map) return 'dict';
  if (Array.isArray(v)) return isTuple(v) ? 'tuple' : 'list';
  return typeof v;
}

class CheckpointReader {
  private readonly storageBytes = new Map<string, Uint8Array>();
  readonly placeholders = new Set<string>();
  private readonly prefix: string;
  private readonly bigEndian: boolean;

  /**
   * `lazy`: tensors in the unpickled object are CkptTensorRefs, read later by `materialize`.
   * `cacheAll`: keep every storage read (cheap when the archive is in memory: stored entries are
   * views); otherwise only the last one, so memory stays about one storage.
   */
  constructor(private readonly zip: ZipArchive, private readonly verifyCrc: boolean, private readonly lazy: boolean, private readonly cacheAll: boolean) {
    const pkl = [...zip.entries.keys()].filter((n) => /^[^/]*\/data\.pkl$/.test(n) || n === 'data.pkl');
    if (pkl.length !== 1) {
      throw new CheckpointError('not_torch_archive', pkl.length === 0
        ? 'zip archive has no <name>/data.pkl entry: not a torch.save checkpoint'
        : `zip archive has several data.pkl entries: ${pkl.slice(0, 3).map((n) => quote(n)).join(', ')}${pkl.length > 3 ? ', …' : ''}`);
    }
    this.prefix = pkl[0]!.slice(0, -'data.pkl'.length);
    const bo = zip.entries.has(`${this.prefix}byteorder`)
      ? new TextDecoder().decode(zip.read(`${this.prefix}byteorder`, verifyCrc)).trim() : 'little';
    if (bo !== 'little' && bo !== 'big') throw new CheckpointError('not_torch_archive', `unknown byteorder ${quote(bo, 20)} (expected 'little' or 'big')`);
    this.bigEndian = bo === 'big';
  }

  read(): PickleValue {
    return unpickle(this.zip.read(`${this.prefix}data.pkl`, this.verifyCrc), {
      resolveGlobal: (m, n, o) => this.resolveGlobal(m, n, o),
      persistentLoad: (pid, o) => this.persistentLoad(pid, o),
    }).value;
  }

  private resolveGlobal(module: string, name: string, offset: number): PickleGlobal {
    const q = `${module}.${name}`;
    const fn = (call: (args: readonly PickleValue[], offset: number) => PickleValue): PickleGlobal => new PickleGlobal(module, name, call);
    switch (q) {
      case 'torch._utils._rebuild_tensor_v2': // (storage, offset, size, stride, requires_grad, hooks[, metadata])
      case 'torch._utils._rebuild_tensor': // (storage, offset, size, stride)
        return fn((a, o) => this.rebuildTensor(a[0] ?? null, a[1] ?? null, a[2] ?? null, a[3] ?? null, undefined, o));
      case 'torch._utils._rebuild_tensor_v3': // (storage, offset, size, stride, requires_grad, hooks, dtype[, metadata])
        return fn((a, o) => this.rebuildTensor(a[0] ?? null, a[1] ?? null, a[2] ?? null, a[3] ?? null, torchDtype(a[6] ?? null, o), o));
      case 'torch._utils._rebuild_parameter': // (data, requires_grad, hooks)
      case 'torch._utils._rebuild_parameter_with_state': // (data, requires_grad, hooks, state)
        return fn((a, o) => {
          if (!(a[0] instanceof CkptTensor || a[0] instanceof CkptTensorRef)) throw new PickleError(`${q} expects a tensor`, o);
          return a[0];
        });
      case 'torch._tensor._rebuild_from_type_v2': // (func, new_type, args, state): a tensor subclass
        return fn((a, o) => {
          const f = a[0], args = a[2];
          if (!(f instanceof PickleGlobal) || !f.call || !Array.isArray(args)) throw new PickleError(`${q}: bad arguments`, o);
          return f.call(args, o);
        });
      case 'torch.Size':
        return fn((a, o) => Object.freeze(intTuple(a[0] ?? [], 'torch.Size', o)));
      case 'collections.OrderedDict':
      case 'collections.defaultdict': // the default factory is irrelevant to data
        return fn((a, o) => {
          const m = new Map<PickleValue, PickleValue>();
          const items = q === 'collections.OrderedDict' ? a[0] : undefined;
          if (items !== undefined && items !== null) {
            if (!Array.isArray(items)) throw new PickleError('OrderedDict(items) needs a list of pairs', o);
            for (const kv of items as readonly PickleValue[]) {
              if (!Array.isArray(kv) || kv.length !== 2) throw new PickleError('OrderedDict item is not a pair', o);
              m.set(kv[0]!, kv[1]!);
            }
          }
          return m;
        });
      case 'builtins.set':
      case 'builtins.frozenset':
        return fn((a) => new Set(Array.isArray(a[0]) ? (a[0] as readonly PickleValue[]) : []));
      case '_codecs.encode': // protocol 2 writes Python 3 bytes as _codecs.encode(text, 'latin1')
        return fn((a, o) => latin1Bytes(a[0] ?? null, a[1] ?? 'latin1', o));
      case 'builtins.bytes':
      case 'builtins.bytearray':
        return fn((a, o) => (a.length === 0 ? new Uint8Array(0) : latin1Bytes(a[0] ?? null, a[1] ?? 'latin1', o)));
      case 'copyreg._reconstructor': // (cls, base, state): protocol 0/1 object creation
        return fn((a, o) => {
          if (!(a[0] instanceof PickleGlobal) || a[0].call) throw new PickleError(`${q}: class is not a data-only global`, o);
          const obj = new PickleObject(a[0], []);
          obj.state = a[2] ?? null;
          return obj;
        });
    }
    if (module === 'torch' && (name in STORAGE_DTYPE || name in TORCH_DTYPE)) return new PickleGlobal(module, name);
    if (PLACEHOLDER_NAMES.has(q) || PLACEHOLDER_PREFIXES.some((p) => q.startsWith(p))) {
      this.placeholders.add(q);
      return new PickleGlobal(module, name);
    }
    if (/Storage$/.test(name) && module === 'torch') throw new PickleError(`unsupported storage type ${quote(q)}`, offset, 'ckpt_unsupported');
    if (q.startsWith('torch._utils._rebuild_')) {
      throw new PickleError(`unsupported tensor kind ${quote(q)} (sparse, quantized or meta tensors are not supported)`, offset, 'ckpt_unsupported');
    }
    throw new PickleError(`refused global ${quote(q, 80)}: it is not on the allow-list for torch checkpoints, and nothing in the file was run`
      + (q.startsWith('torch.nn.') || q.startsWith('ldm.') ? ' (the file pickles a whole module; save model.state_dict() instead)' : ''), offset, 'pickle_refused');
  }

  private persistentLoad(pid: PickleValue, offset: number): PickleValue {
    // ('storage', storage_type, key, location, numel)
    if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) {
      throw new PickleError(`unsupported persistent id ${describe(pid)}${Array.isArray(pid) ? ` '${String(pid[0])}'` : ''}`, offset);
    }
    const type = pid[1], key = pid[2];
    if (!(type instanceof PickleGlobal) || type.module !== 'torch') throw new PickleError(`bad storage type ${describe(type ?? null)}`, offset);
    const dtype = STORAGE_DTYPE[type.name] ?? TORCH_DTYPE[type.name];
    if (!dtype) throw new PickleError(`unsupported storage type ${quote(type.qualifiedName)}`, offset, 'ckpt_unsupported');
    if (typeof key !== 'string') throw new PickleError('storage key is not a string', offset);
    return new TorchStorage(dtype, key, int(pid[4] ?? null, 'storage numel', offset));
  }

  private storageEntry(key: string, offset: number): ZipEntry {
    const name = `${this.prefix}data/${key}`;
    const e = this.zip.entries.get(name);
    if (!e) throw new PickleError(`storage ${quote(key)} has no entry ${quote(name)} in the archive`, offset, 'storage_missing');
    return e;
  }

  private bytesOf(key: string, offset: number): Uint8Array {
    let b = this.storageBytes.get(key);
    if (!b) {
      b = this.zip.read(this.storageEntry(key, offset).name, this.verifyCrc);
      if (!this.cacheAll) this.storageBytes.clear();
      this.storageBytes.set(key, b);
    }
    return b;
  }

  /** Drops cached storage bytes. */
  release(): void { this.storageBytes.clear(); }

  private rebuildTensor(
    storage: PickleValue, off: PickleValue, size: PickleValue, stride: PickleValue, dtypeOverride: RawDType | undefined, o: number,
  ): CkptTensor | CkptTensorRef {
    if (!(storage instanceof TorchStorage)) throw new PickleError(`tensor storage is ${describe(storage)}, not a storage`, o);
    const dtype = dtypeOverride ?? storage.dtype;
    const esize = DTYPE_BYTES[dtype];
    const shape = intTuple(size, 'tensor size', o);
    const strides = intTuple(stride, 'tensor stride', o);
    const start = int(off, 'storage offset', o);
    if (strides.length !== shape.length) throw new PickleError(`size ${shape.length}-D but stride ${strides.length}-D`, o);
    const numel = shape.reduce((a, b) => a * b, 1);
    // Stride-0 (expanded) views pass the bounds check below at any size: cap what we allocate.
    if (numel * esize > 2 ** 32) throw new PickleError(`tensor of size [${shape}] is too large (${numel * esize} bytes)`, o, 'ckpt_unsupported');
    // Bounds are checked against the entry's size in the central directory, before any data is read.
    checkBounds(shape, strides, start, Math.floor(this.storageEntry(storage.key, o).size / esize), o);
    const ref = new CkptTensorRef(dtype, Object.freeze(shape), storage.key, start, Object.freeze(strides), o);
    return this.lazy ? ref : this.materialize(ref);
  }

  // Reused for F16/BF16/F64 storages read in place before widening: one buffer, grown as needed.
  private scratch = new ArrayBuffer(0);

  /**
   * A float tensor's values as float32 into `dest` (length numel). When the tensor is its whole
   * stored storage, little-endian, the storage is read with one positional read straight into
   * `dest` (F32) or into a reused scratch buffer that is widened into `dest`, and the CRC is
   * checked on those bytes; otherwise (views, deflated entries) through `materialize`.
   */
  readInto(ref: CkptTensorRef, dest: Float32Array): void {
    const { dtype, shape, stride: strides, storageOffset: start, pickleOffset: o } = ref;
    const esize = DTYPE_BYTES[dtype];
    const numel = ref.numel;
    if (dest.length !== numel) throw new Error(`readInto: the tensor has ${numel} values, not ${dest.length}`);
    const entry = this.storageEntry(ref.storageKey, o);
    const contiguous = shape.every((n, i) => n === 1 || strides[i] === shape.slice(i + 1).reduce((a, b) => a * b, 1));
    if (isFloatingDtype(dtype) && contiguous && start === 0 && numel * esize === entry.size && !this.bigEndian && this.zip.canReadInto(entry.name)) {
      if (dtype === 'F32') {
        this.zip.readInto(entry.name, new Uint8Array(dest.buffer, dest.byteOffset, numel * 4), this.verifyCrc);
      } else {
        if (this.scratch.byteLength < entry.size) this.scratch = new ArrayBuffer(entry.size);
        const b = new Uint8Array(this.scratch, 0, entry.size);
        this.zip.readInto(entry.name, b, this.verifyCrc);
        floatBytesInto(dtype, b, dest);
      }
      return;
    }
    const t = this.materialize(ref);
    dest.set(t.data as ArrayLike<number>);
  }

  /** Reads a tensor's storage and gathers its elements (contiguous, little-endian, widened). */
  materialize(ref: CkptTensorRef): CkptTensor {
    const { dtype, shape, stride: strides, storageOffset: start, pickleOffset: o } = ref;
    const esize = DTYPE_BYTES[dtype];
    const numel = ref.numel;
    const bytes = this.bytesOf(ref.storageKey, o);
    // Again against the bytes actually read (a deflated entry may inflate short when CRCs are off).
    checkBounds(shape, strides, start, Math.floor(bytes.length / esize), o);
    const contiguous = shape.every((n, i) => n === 1 || strides[i] === shape.slice(i + 1).reduce((a, b) => a * b, 1));
    // A tensor that is its whole storage, read into a buffer of its own (from a file, or inflated),
    // takes that buffer: no copy. It leaves the cache, so later views of it read it afresh.
    const whole = contiguous && start === 0 && numel * esize === bytes.length
      && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
    const out = whole ? bytes : new Uint8Array(numel * esize);
    if (whole) {
      this.storageBytes.delete(ref.storageKey);
    } else if (contiguous) {
      out.set(bytes.subarray(start * esize, (start + numel) * esize));
    } else {
      // Generic strided gather, element by element (odometer over the index).
      const idx = new Array<number>(shape.length).fill(0);
      let src = start;
      for (let e = 0; e < numel; e++) {
        out.set(bytes.subarray(src * esize, src * esize + esize), e * esize);
        for (let d = shape.length - 1; d >= 0; d--) {
          idx[d]!++; src += strides[d]!;
          if (idx[d]! < shape[d]!) break;
          src -= idx[d]! * strides[d]!; idx[d] = 0;
        }
      }
    }
    if (this.bigEndian && esize > 1) {
      for (let i = 0; i < out.length; i += esize) out.subarray(i, i + esize).reverse();
    }
    return new CkptTensor(dtype, shape, widen(dtype, out.buffer, o));
  }
}

function checkBounds(shape: readonly number[], strides: readonly number[], start: number, avail: number, o: number): void {
  if (shape.some((n) => n === 0)) return;
  const last = start + shape.reduce((acc, n, i) => acc + (n - 1) * strides[i]!, 0);
  if (last >= avail) {
    throw new PickleError(`tensor of size [${shape}] stride [${strides}] offset ${start} reads element ${last} of a storage with ${avail}`, o, 'storage_short');
  }
}

function torchDtype(v: PickleValue, o: number): RawDType {
  const d = v instanceof PickleGlobal && v.module === 'torch' ? TORCH_DTYPE[v.name] : undefined;
  if (!d) throw new PickleError(`unsupported tensor dtype ${quote(describe(v))}`, o, 'ckpt_unsupported');
  return d;
}

function latin1Bytes(text: PickleValue, encoding: PickleValue, o: number): Uint8Array {
  if (typeof text !== 'string' || (encoding !== 'latin1' && encoding !== 'latin-1')) {
    throw new PickleError('only _codecs.encode(str, "latin1") is supported', o);
  }
  const b = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 255) throw new PickleError('latin1 text has a code point above 255', o);
    b[i] = c;
  }
  return b;
}

function widen(dtype: RawDType, buf: ArrayBufferLike, o: number): RawTensor['data'] {
  switch (dtype) {
    case 'F64': return new Float64Array(buf);
    case 'F32': return new Float32Array(buf);
    case 'F16': {
      const out = new Float32Array(buf.byteLength / 2);
      floatBytesInto('F16', new Uint8Array(buf), out);
      return out;
    }
    case 'BF16': {
      const h = new Uint16Array(buf), out = new Float32Array(h.length), bits = new Uint32Array(out.buffer);
      for (let i = 0; i < h.length; i++) bits[i] = h[i]! << 16;
      return out;
    }
    case 'I64': {
      const b = new BigInt64Array(buf), out = new Float64Array(b.length);
      for (let i = 0; i < b.length; i++) {
        const v = b[i]!;
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw new PickleError(`I64 tensor holds ${v}, beyond 2^53`, o, 'i64_range');
        out[i] = Number(v);
      }
      return out;
    }
    case 'I32': return new Int32Array(buf);
    case 'I16': return Int32Array.from(new Int16Array(buf));
    case 'I8': return Int32Array.from(new Int8Array(buf));
    case 'U8': case 'BOOL': return new Uint8Array(buf);
  }
}

// The first bytes of a pre-1.6 torch.save file: PROTO 2, LONG1 of the legacy magic number.
const LEGACY_MAGIC = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

type CheckpointInput = string | Uint8Array | RandomAccessSource;

/** Opens the input as a zip archive after checking its first bytes; `owned` = close it when done. */
function openArchive(input: CheckpointInput): { zip: ZipArchive; owned: FileSource | undefined; inMemory: boolean } {
  const owned = typeof input === 'string' ? FileSource.open(input) : undefined;
  const src = owned ?? (input as Uint8Array | RandomAccessSource);
  try {
    const head = src instanceof Uint8Array ? src : src.read(0, Math.min(src.size, LEGACY_MAGIC.length));
    if (LEGACY_MAGIC.every((b, i) => head[i] === b)) {
      throw new CheckpointError('legacy_ckpt', 'cannot read PyTorch checkpoint: this is the legacy (torch < 1.6) format, which is not supported');
    }
    if (!ZipArchive.looksLikeZip(head)) {
      throw new CheckpointError('not_weights', 'cannot read PyTorch checkpoint: not a zip archive (a torch.save file starts with "PK")');
    }
    return { zip: new ZipArchive(src), owned, inMemory: src instanceof Uint8Array };
  } catch (e) {
    owned?.close();
    throw e;
  }
}

/** Every failure as a CheckpointError that says what is wrong, the original error as its cause. */
function asCheckpointError(err: unknown, what = ''): CheckpointError {
  if (err instanceof CheckpointError && !what) return err;
  // ZipError / PickleError / WeightsFileError carry a message written for users and their fault.
  // An fs error keeps its code and message (they name the file and the syscall). Anything else
  // (e.g. a RangeError from an absurd size) is still this file's problem, not a crash, but its
  // V8 wording is not for users: it stays the cause only.
  let fault: WeightsFaultId, msg: string;
  if (err instanceof ZipError || err instanceof PickleError || err instanceof WeightsFileError) {
    fault = err.fault; msg = err.message;
  } else if (err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string' && 'syscall' in err) {
    fault = 'cannot_read'; msg = err.message;
  } else {
    fault = 'zip_structure'; msg = 'the archive is corrupted: its contents cannot be decoded';
  }
  return new CheckpointError(fault, `cannot read PyTorch checkpoint: ${what}${msg.replace(/^cannot read PyTorch checkpoint: /, '')}`, { cause: err });
}

/**
 * Reads a torch.save zip checkpoint, every tensor's data included: from bytes in memory, a
 * random-access source, or a file path (read with positional reads, so files over 2 GiB work;
 * the tensors still have to fit in memory: see `openTorchCheckpoint` for one at a time).
 * Errors (not a zip, truncated, corrupted, a refused global) are CheckpointErrors whose message
 * says what is wrong.
 */
export function readTorchCheckpoint(input: CheckpointInput, options: ReadCheckpointOptions = {}): TorchCheckpoint {
  let opened: ReturnType<typeof openArchive> | undefined;
  try {
    opened = openArchive(input);
    const reader = new CheckpointReader(opened.zip, options.verifyCrc ?? true, false, opened.inMemory);
    const root = reader.read();
    reader.release();
    const { tensors, nonTensorKeys } = collectStateDict(root, CkptTensor);
    return { root, tensors, nonTensorKeys, placeholderGlobals: [...reader.placeholders].sort() };
  } catch (err) {
    throw asCheckpointError(err);
  } finally {
    opened?.owned?.close();
  }
}

/**
 * Opens a torch.save zip checkpoint for reading one tensor at a time: the pickle is read and
 * checked now (refused globals, shapes and strides against the storage sizes in the zip's
 * central directory), tensor data only by `load`. With a path, the file stays open until
 * `close()`. This is how `ldmc convert` handles checkpoints larger than memory or 2 GiB.
 */
export function openTorchCheckpoint(input: CheckpointInput, options: ReadCheckpointOptions = {}): LazyTorchCheckpoint {
  let opened: ReturnType<typeof openArchive> | undefined;
  try {
    opened = openArchive(input);
    const reader = new CheckpointReader(opened.zip, options.verifyCrc ?? true, true, false);
    const root = reader.read();
    const { tensors, nonTensorKeys } = collectStateDict(root, CkptTensorRef);
    const owned = opened.owned;
    let closed = false;
    const checked = <T>(name: string, f: () => T): T => {
      if (closed) throw new CheckpointError('cannot_read', `cannot read tensor ${quote(name)}: the checkpoint was closed`);
      try {
        return f();
      } catch (err) {
        throw asCheckpointError(err, `tensor ${quote(name)}: `);
      }
    };
    const lazyTensors = new Map<string, LazyTensor>();
    for (const [name, ref] of tensors) {
      lazyTensors.set(name, {
        dtype: ref.dtype, shape: ref.shape, numel: ref.numel, floating: isFloatingDtype(ref.dtype),
        get data(): RawTensor['data'] { return checked(name, () => reader.materialize(ref).data); },
        readInto: (dest: Float32Array): void => checked(name, () => reader.readInto(ref, dest)),
      });
    }
    return {
      root, tensors, nonTensorKeys, placeholderGlobals: [...reader.placeholders].sort(), lazyTensors,
      load(name: string): CkptTensor {
        const ref = tensors.get(name);
        if (!ref) throw new CheckpointError('not_torch_archive', `cannot read PyTorch checkpoint: no tensor ${quote(name)} in its state dict`);
        return checked(name, () => reader.materialize(ref));
      },
      close(): void {
        if (closed) return;
        closed = true;
        reader.release();
        owned?.close();
      },
    };
  } catch (err) {
    opened?.owned?.close();
    throw asCheckpointError(err);
  }
}

function collectStateDict<T extends CkptTensor | CkptTensorRef>(
  obj: PickleValue, kind: abstract new (...args: never[]) => T,
): { tensors: Map<string, T>; nonTensorKeys: string[] } {
  let sd = obj;
  if (obj instanceof Map && obj.get('state_dict') instanceof Map) sd = obj.get('state_dict')!;
  const tensors = new Map<string, T>();
  const nonTensorKeys: string[] = [];
  if (!(sd instanceof Map)) return { tensors, nonTensorKeys };
  for (const [k, v] of sd) {
    if (typeof k === 'string' && v instanceof kind) tensors.set(k, v);
    else nonTensorKeys.push(String(k));
  }
  return { tensors, nonTensorKeys };
}

/**
 * The state dict of an unpickled checkpoint: `obj['state_dict']` when present (Lightning and
 * latent-diffusion checkpoints), else `obj` itself (a bare `torch.save(model.state_dict())`).
 * Entries that are not tensors are skipped.
 */
export function extractStateDict(obj: PickleValue): Map<string, RawTensor> {
  return collectStateDict(obj, CkptTensor).tensors;
}

/** The entries under `prefix` (e.g. 'first_stage_model.'), with the prefix removed. */
export function selectPrefix<T>(tensors: ReadonlyMap<string, T>, prefix: string): Map<string, T> {
  const out = new Map<string, T>();
  for (const [k, v] of tensors) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), v);
  return out;
}
