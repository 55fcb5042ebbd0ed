// A restricted unpickler: it reads the pickle opcodes that torch.save and Python's pickle emit
// (protocols 2 to 5; the text opcodes of protocols 0/1 are refused) into plain data.
// Nothing is ever executed or imported. A GLOBAL opcode is looked up in the caller's allow-list
// (`resolveGlobal`), which either gives a pure JS reconstruction (`call`) or marks the name as
// data-only; REDUCE/NEWOBJ/BUILD on a data-only name yield an inert PickleObject that records
// its arguments and state. Any other name is refused with an error that names it.

import type { WeightsFaultId } from './faults.js';

/** Raised for malformed, truncated or disallowed pickles; `offset` is the opcode's position. */
export class PickleError extends Error {
  override readonly name = 'PickleError';
  /** `fault`: which weights-file fault this is (./faults.ts); by default a corrupt pickle. */
  constructor(message: string, readonly offset: number, readonly fault: WeightsFaultId = 'pickle_corrupt') {
    super(`${message} (pickle offset ${offset})`);
  }
}

/**
 * A value built by the host (e.g. a tensor). Subclass it so that `instanceof` tells host values
 * apart from the plain values below.
 */
export abstract class PickleHostValue {
  abstract readonly kind: string;
}

/** A reference to a Python global that the allow-list accepted. */
export class PickleGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
    /** Pure reconstruction for REDUCE/NEWOBJ; absent = data-only class, see PickleObject. */
    readonly call?: (args: readonly PickleValue[], offset: number) => PickleValue,
  ) {}
  get qualifiedName(): string { return `${this.module}.${this.name}`; }
}

/** An instance of a data-only class: its constructor arguments and BUILD state, never run. */
export class PickleObject {
  state: PickleValue | undefined = undefined;
  /** Items added by SETITEM(S) / APPEND(S) when the class subclasses dict / list. */
  dictItems: Map<PickleValue, PickleValue> | undefined = undefined;
  listItems: PickleValue[] | undefined = undefined;
  constructor(readonly cls: PickleGlobal, readonly args: readonly PickleValue[]) {}
}

/** Tuples are frozen arrays (lists are mutable arrays): see `isTuple`. */
export type PickleTuple = readonly PickleValue[];

export type PickleValue =
  | null | boolean | number | bigint | string | Uint8Array
  | PickleValue[] | PickleTuple | Map<PickleValue, PickleValue> | Set<PickleValue>
  | PickleGlobal | PickleObject | PickleHostValue;

export function isTuple(v: PickleValue): v is PickleTuple {
  return Array.isArray(v) && Object.isFrozen(v);
}

export interface UnpicklePolicy {
  /** Returns the global's handler, or throws (a PickleError naming it) to refuse it. */
  resolveGlobal(module: string, name: string, offset: number): PickleGlobal;
  /** BINPERSID: torch uses it for storages. Absent = persistent ids are refused. */
  persistentLoad?(pid: PickleValue, offset: number): PickleValue;
}

/** State set by BUILD on values that are not PickleObjects (e.g. an OrderedDict's `_metadata`). */
export const pickleAttributes = new WeakMap<object, PickleValue>();

// Python 2 names that protocol-2 pickles written by Python 3 use (fix_imports).
const PY2_MODULES: Record<string, string> = { __builtin__: 'builtins', copy_reg: 'copyreg' };

export function normalizeModule(module: string): string {
  return PY2_MODULES[module] ?? module;
}

const MARK = Symbol('mark');
type Slot = PickleValue | typeof MARK;

const utf8 = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');

/** Unpickles one object starting at `start`; returns it and the offset after STOP. */
export function unpickle(bytes: Uint8Array, policy: UnpicklePolicy, start = 0): { value: PickleValue; end: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: Slot[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PickleValue>();
  let pos = start;
  let op = start;

  const fail = (msg: string): never => { throw new PickleError(msg, op); };
  const need = (n: number): number => {
    if (n < 0 || pos + n > bytes.length) fail(`truncated pickle: needs ${n} more bytes at ${pos}, input has ${bytes.length}`);
    const p = pos; pos += n; return p;
  };
  const u8 = (): number => bytes[need(1)]!;
  const u16 = (): number => view.getUint16(need(2), true);
  const u32 = (): number => view.getUint32(need(4), true);
  const i32 = (): number => view.getInt32(need(4), true);
  const u64 = (): number => {
    const v = view.getBigUint64(need(8), true);
    if (v > BigInt(bytes.length)) fail(`length ${v} exceeds the input`);
    return Number(v);
  };
  const take = (n: number): Uint8Array => { const p = need(n); return bytes.subarray(p, p + n); };
  const str = (n: number): string => {
    try { return utf8.decode(take(n)); } catch { return fail('invalid UTF-8 in a string'); }
  };
  const line = (): string => {
    const nl = bytes.indexOf(0x0a, pos);
    if (nl < 0) fail('truncated pickle: unterminated text line');
    const s = latin1.decode(bytes.subarray(pos, nl));
    pos = nl + 1;
    return s;
  };
  const pop = (): PickleValue => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1]!)) fail('stack underflow');
    const v = stack.pop()!;
    if (v === MARK) return fail('unexpected MARK');
    return v;
  };
  const top = (): PickleValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) return fail('stack underflow');
    return v;
  };
  const popMark = (): PickleValue[] => {
    const m = marks.pop();
    if (m === undefined) return fail('no MARK on the stack');
    return stack.splice(m).slice(1) as PickleValue[]; // drop the MARK itself
  };
  const tuple = (items: PickleValue[]): PickleTuple => Object.freeze(items);
  const list = (v: PickleValue): PickleValue[] => {
    if (v instanceof PickleObject) return (v.listItems ??= []);
    if (!Array.isArray(v) || Object.isFrozen(v)) fail('APPEND(S) target is not a list');
    return v as PickleValue[];
  };
  const dict = (v: PickleValue): Map<PickleValue, PickleValue> => {
    if (v instanceof PickleObject) return (v.dictItems ??= new Map());
    if (!(v instanceof Map)) fail('SETITEM(S) target is not a dict');
    return v as Map<PickleValue, PickleValue>;
  };
  const addItems = (target: PickleValue, items: PickleValue[]): void => {
    if (!(target instanceof Set)) fail('ADDITEMS target is not a set');
    for (const x of items) (target as Set<PickleValue>).add(x);
  };
  const global = (module: string, name: string): PickleGlobal => policy.resolveGlobal(normalizeModule(module), name, op);
  const instantiate = (cls: PickleValue, args: PickleValue, kwargs?: PickleValue): PickleValue => {
    if (!(cls instanceof PickleGlobal)) return fail('REDUCE/NEWOBJ on a value that is not an allowed global');
    if (!Array.isArray(args)) return fail(`arguments of ${cls.qualifiedName} are not a tuple`);
    if (kwargs instanceof Map && kwargs.size > 0 && cls.call) return fail(`keyword arguments to ${cls.qualifiedName} are not supported`);
    return cls.call ? cls.call(args, op) : new PickleObject(cls, args);
  };
  const long = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  for (;;) {
    op = pos;
    const code = u8();
    switch (code) {
      case 0x80: { // PROTO
        const p = u8();
        if (p < 2 || p > 5) fail(`unsupported pickle protocol ${p}`);
        break;
      }
      case 0x95: need(8); break; // FRAME (protocol 4): framing is only a hint for buffered readers
      case 0x2e: { // STOP
        const value = pop();
        if (stack.length !== 0) fail('stack not empty at STOP');
        return { value, end: pos };
      }
      case 0x28: marks.push(stack.length); stack.push(MARK); break; // MARK
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP
      // --- constants and numbers
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: stack.push(u16()); break; // BININT2
      case 0x4a: stack.push(i32()); break; // BININT
      case 0x8a: stack.push(long(take(u8()))); break; // LONG1
      case 0x8b: { const n = i32(); if (n < 0) fail('negative LONG4 length'); stack.push(long(take(n))); break; } // LONG4
      case 0x47: stack.push(view.getFloat64(need(8), false)); break; // BINFLOAT (big-endian)
      // --- strings and bytes
      case 0x58: stack.push(str(u32())); break; // BINUNICODE
      case 0x8c: stack.push(str(u8())); break; // SHORT_BINUNICODE
      case 0x8d: stack.push(str(u64())); break; // BINUNICODE8
      case 0x54: { const n = i32(); if (n < 0) fail('negative BINSTRING length'); stack.push(latin1.decode(take(n))); break; } // BINSTRING
      case 0x55: stack.push(latin1.decode(take(u8()))); break; // SHORT_BINSTRING
      case 0x42: stack.push(take(u32()).slice()); break; // BINBYTES
      case 0x43: stack.push(take(u8()).slice()); break; // SHORT_BINBYTES
      case 0x8e: stack.push(take(u64()).slice()); break; // BINBYTES8
      case 0x96: stack.push(take(u64()).slice()); break; // BYTEARRAY8
      // --- containers
      case 0x29: stack.push(tuple([])); break; // EMPTY_TUPLE
      case 0x85: stack.push(tuple([pop()])); break; // TUPLE1
      case 0x86: { const b = pop(), a = pop(); stack.push(tuple([a, b])); break; } // TUPLE2
      case 0x87: { const c = pop(), b = pop(), a = pop(); stack.push(tuple([a, b, c])); break; } // TUPLE3
      case 0x74: stack.push(tuple(popMark())); break; // TUPLE
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x6c: stack.push(popMark()); break; // LIST
      case 0x61: { const v = pop(); list(top()).push(v); break; } // APPEND
      case 0x65: { const items = popMark(), l = list(top()); for (const x of items) l.push(x); break; } // APPENDS
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x64: { // DICT
        const items = popMark(), d = new Map<PickleValue, PickleValue>();
        if (items.length % 2) fail('DICT with an odd number of items');
        for (let i = 0; i < items.length; i += 2) d.set(items[i]!, items[i + 1]!);
        stack.push(d);
        break;
      }
      case 0x73: { const v = pop(), k = pop(); dict(top()).set(k, v); break; } // SETITEM
      case 0x75: { // SETITEMS
        const items = popMark(), d = dict(top());
        if (items.length % 2) fail('SETITEMS with an odd number of items');
        for (let i = 0; i < items.length; i += 2) d.set(items[i]!, items[i + 1]!);
        break;
      }
      case 0x8f: stack.push(new Set()); break; // EMPTY_SET
      case 0x90: { const items = popMark(); addItems(top(), items); break; } // ADDITEMS
      case 0x91: stack.push(new Set(popMark())); break; // FROZENSET
      // --- memo
      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x68: case 0x6a: { // BINGET, LONG_BINGET
        const i = code === 0x68 ? u8() : u32();
        if (!memo.has(i)) fail(`memo key ${i} not defined`);
        stack.push(memo.get(i)!);
        break;
      }
      // --- globals and objects
      case 0x63: { const module = line(); const name = line(); stack.push(global(module, name)); break; } // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const name = pop(), module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(global(module as string, name as string));
        break;
      }
      case 0x52: { const args = pop(), fn = pop(); stack.push(instantiate(fn, args)); break; } // REDUCE
      case 0x81: { const args = pop(), cls = pop(); stack.push(instantiate(cls, args)); break; } // NEWOBJ
      case 0x92: { const kw = pop(), args = pop(), cls = pop(); stack.push(instantiate(cls, args, kw)); break; } // NEWOBJ_EX
      case 0x62: { // BUILD
        const state = pop(), obj = top();
        if (obj instanceof PickleObject) obj.state = state;
        else if (obj !== null && typeof obj === 'object') pickleAttributes.set(obj, state);
        else fail('BUILD on a primitive value');
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        if (!policy.persistentLoad) fail('persistent ids are not allowed here');
        stack.push(policy.persistentLoad!(pid, op));
        break;
      }
      default: {
        const c = String.fromCharCode(code);
        fail(`unsupported pickle opcode 0x${code.toString(16).padStart(2, '0')}${code >= 0x20 && code < 0x7f ? ` ('${c}')` : ''}`
          + ' — only binary protocols 2 to 5 are read; this may not be a pickle');
      }
    }
  }
}
