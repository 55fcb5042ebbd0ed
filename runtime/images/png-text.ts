// PNG text chunks: settings written next to the pixels (prompt, seed, sampler, ...), as image
// tools show them. sharp cannot write arbitrary text chunks, so they are spliced into its output
// right after IHDR. Latin-1 text goes in tEXt (what every reader shows); anything else in an
// uncompressed iTXt (UTF-8). Reading returns both kinds.
import { crc32 } from '../weights/zip.js';

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** A chunk's position in a PNG: type, data offset and length. */
interface Chunk {
  readonly type: string;
  readonly start: number;
  readonly dataStart: number;
  readonly length: number;
  /** Offset just past the chunk's CRC. */
  readonly end: number;
}

function* chunks(png: Uint8Array): Generator<Chunk> {
  if (png.length < 8 || SIGNATURE.some((b, i) => png[i] !== b)) throw new Error('not a PNG file (bad signature)');
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let off = 8;
  while (off + 12 <= png.length) {
    const length = view.getUint32(off);
    const type = fromLatin1(png.subarray(off + 4, off + 8));
    const end = off + 12 + length;
    if (end > png.length) throw new Error(`PNG chunk ${type} at byte ${off} runs past the end of the file`);
    yield { type, start: off, dataStart: off + 8, length, end };
    if (type === 'IEND') return;
    off = end;
  }
}

const isLatin1 = (s: string) => [...s].every((c) => c.codePointAt(0)! <= 0xff);

/** Bytes as Latin-1 (TextDecoder's 'latin1' is windows-1252, which differs at 0x80–0x9f). */
function fromLatin1(b: Uint8Array): string {
  let s = '';
  for (const c of b) s += String.fromCharCode(c);
  return s;
}

function latin1(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

function checkKeyword(k: string): void {
  // PNG: 1–79 Latin-1 printable characters, no leading, trailing or double spaces
  if (k.length < 1 || k.length > 79 || !/^[\x20-\x7e\xa1-\xff]+$/.test(k) || /^ | $| {2}/.test(k)) {
    throw new Error(`PNG text keyword '${k}' must be 1 to 79 printable Latin-1 characters without leading, trailing or double spaces`);
  }
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(latin1(type), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** One text chunk: tEXt for Latin-1 text (NULs are not allowed there: those go to iTXt too), else iTXt. */
function textChunk(key: string, value: string): Uint8Array {
  checkKeyword(key);
  if (isLatin1(value) && !value.includes('\0')) {
    const k = latin1(key), v = latin1(value);
    const data = new Uint8Array(k.length + 1 + v.length);
    data.set(k, 0);
    data.set(v, k.length + 1);
    return chunk('tEXt', data);
  }
  // iTXt: keyword \0, compression flag 0, method 0, empty language tag \0, empty translated keyword \0, UTF-8 text
  const k = latin1(key), v = new TextEncoder().encode(value);
  const data = new Uint8Array(k.length + 5 + v.length);
  data.set(k, 0);
  data.set(v, k.length + 5);
  return chunk('iTXt', data);
}

/** `png` with one text chunk per entry, in order, right after IHDR. */
export function withPngText(png: Uint8Array, entries: Iterable<readonly [string, string]>): Uint8Array {
  const first = chunks(png).next();
  if (first.done || first.value.type !== 'IHDR') throw new Error('not a PNG file (no IHDR first)');
  const at = first.value.end;
  const added = [...entries].map(([k, v]) => textChunk(k, v));
  const out = new Uint8Array(png.length + added.reduce((n, c) => n + c.length, 0));
  out.set(png.subarray(0, at), 0);
  let off = at;
  for (const c of added) {
    out.set(c, off);
    off += c.length;
  }
  out.set(png.subarray(at), off);
  return out;
}

/** The tEXt and (uncompressed) iTXt entries of a PNG, in file order (a repeated keyword keeps its last value). */
export function readPngText(png: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  for (const c of chunks(png)) {
    if (c.type !== 'tEXt' && c.type !== 'iTXt') continue;
    const data = png.subarray(c.dataStart, c.dataStart + c.length);
    const nul = data.indexOf(0);
    if (nul < 1) continue;
    const key = fromLatin1(data.subarray(0, nul));
    if (c.type === 'tEXt') {
      out.set(key, fromLatin1(data.subarray(nul + 1)));
      continue;
    }
    if (data[nul + 1] !== 0) continue; // compressed iTXt: not written here, skipped
    const lang = data.indexOf(0, nul + 3);
    const translated = lang < 0 ? -1 : data.indexOf(0, lang + 1);
    if (translated < 0) continue;
    out.set(key, new TextDecoder().decode(data.subarray(translated + 1)));
  }
  return out;
}
