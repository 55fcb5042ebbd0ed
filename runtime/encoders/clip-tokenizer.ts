// OpenAI CLIP's byte-level BPE tokenizer, in the two forms Stable Diffusion's text encoders call:
//
// - 'hf': transformers' slow CLIPTokenizer, as FrozenCLIPEmbedder calls it (truncation to
//   max_length, padding="max_length"): `<|startoftext|>` / `<|endoftext|>` written in the prompt
//   are those tokens; bos + at most max_length − 2 tokens + eos, padded with eos (49407);
// - 'open_clip': open_clip 2.7.0's `tokenize`, as FrozenOpenCLIPEmbedder calls it: its special
//   tokens are spelled `<start_of_text>` / `<end_of_text>`; sot + tokens + eot, cut to the context
//   length with eot forced into the last place, padded with 0.
//
// Both clean the text (ftfy.fix_text; open_clip then html.unescape twice and strips), collapse
// whitespace, lowercase, split with CLIP's regex, map each word's UTF-8 bytes to GPT-2's printable
// characters, merge them by the ranks of bpe_simple_vocab_16e6.txt.gz (the last symbol carries
// `</w>`) and look the pieces up in the 49,408-entry vocabulary.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { pythonHtmlUnescape } from './text/html-entities.js';
import { PY_SPACE, fixText, pyStrip, whitespaceClean } from './text/clean.js';

export type ClipTokenizerFlavour = 'hf' | 'open_clip';

export const CLIP_VOCAB_FILE = 'bpe_simple_vocab_16e6.txt.gz';
/** The merges the vocabulary uses: lines 1..48894 of the file (49152 − 256 − 2 of them). */
const MERGES = 49152 - 256 - 2;
export const CLIP_SOT = 49406;
export const CLIP_EOT = 49407;
/** open_clip's fixed context length (tokenize's default, which FrozenOpenCLIPEmbedder keeps). */
export const OPEN_CLIP_CONTEXT = 77;

/**
 * Where the vocabulary ships: runtime/encoders/assets/ of the package. This module runs compiled
 * from dist/runtime/encoders/, so that is three folders up and back down; next to the module is
 * checked first for a build that copies the assets beside it.
 */
export function defaultClipVocabPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const beside = join(here, 'assets', CLIP_VOCAB_FILE);
  const shipped = join(here, '..', '..', '..', 'runtime', 'encoders', 'assets', CLIP_VOCAB_FILE);
  return existsSync(beside) ? beside : shipped;
}

/** The vocabulary file is missing or not CLIP's. */
export class ClipVocabError extends Error {}

/** GPT-2's byte → character map: printable Latin-1 bytes stand for themselves, the rest for U+0100 onwards. */
function bytesToUnicode(): string[] {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const map = new Array<string>(256);
  let n = 0;
  for (let b = 0; b < 256; b++) map[b] = String.fromCodePoint(printable(b) ? b : 256 + n++);
  return map;
}

/** The BPE tables of one vocabulary file, shared by both flavours. */
class ClipBpe {
  /** byte value → its character */
  readonly byteChar = bytesToUnicode();
  /** piece → id, without the two special tokens (their spelling is the flavour's). */
  readonly encoder = new Map<string, number>();
  /** `"a b"` (a merge line) → its rank */
  readonly ranks = new Map<string, number>();
  private readonly cache = new Map<string, readonly string[]>();

  constructor(text: string) {
    const lines = text.split('\n');
    if (lines.length < MERGES + 1) throw new ClipVocabError(`the CLIP vocabulary has ${lines.length} lines, expected at least ${MERGES + 1}`);
    // The vocabulary order: the byte characters in the order GPT-2 lists them (the printable bytes,
    // then the stand-ins from U+0100: ascending code points), the same with `</w>`, then one entry
    // per merge.
    const printableFirst = [...this.byteChar].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
    const vocab = [...printableFirst, ...printableFirst.map((c) => `${c}</w>`)];
    for (let i = 1; i <= MERGES; i++) {
      const line = lines[i]!;
      const [a, b] = line.split(' ');
      if (a === undefined || b === undefined) throw new ClipVocabError(`line ${i} of the CLIP vocabulary is not a merge: '${line}'`);
      this.ranks.set(line, i - 1);
      vocab.push(a + b);
    }
    vocab.forEach((piece, id) => this.encoder.set(piece, id));
    if (vocab.length !== CLIP_SOT) throw new ClipVocabError(`the CLIP vocabulary makes ${vocab.length} pieces, expected ${CLIP_SOT}`);
  }

  /** One word (already in byte characters) → its BPE pieces; cached per word, as CLIP does. */
  bpe(word: string): readonly string[] {
    const hit = this.cache.get(word);
    if (hit) return hit;
    let parts = Array.from(word);
    parts[parts.length - 1] += '</w>';
    while (parts.length > 1) {
      let best = Infinity, at = -1;
      for (let i = 0; i < parts.length - 1; i++) {
        const r = this.ranks.get(`${parts[i]} ${parts[i + 1]}`);
        if (r !== undefined && r < best) {
          best = r;
          at = i;
        }
      }
      if (at < 0) break;
      const first = parts[at]!, second = parts[at + 1]!;
      // Every occurrence of the pair, left to right, without overlaps.
      const merged: string[] = [];
      for (let i = 0; i < parts.length; i++) {
        if (i < parts.length - 1 && parts[i] === first && parts[i + 1] === second) {
          merged.push(first + second);
          i++;
        } else merged.push(parts[i]!);
      }
      parts = merged;
    }
    // A bounded cache: a server tokenizing many prompts should not grow without end.
    if (this.cache.size >= 100_000) this.cache.clear();
    this.cache.set(word, parts);
    return parts;
  }

  /** A word's ids. */
  ids(word: string, out: number[]): void {
    const bytes = Buffer.from(word, 'utf8');
    let chars = '';
    for (const b of bytes) chars += this.byteChar[b];
    for (const piece of this.bpe(chars)) {
      const id = this.encoder.get(piece);
      // Every merge result is in the vocabulary; this only fires for a corrupt file.
      if (id === undefined) throw new ClipVocabError(`the BPE piece '${piece}' is not in the CLIP vocabulary`);
      out.push(id);
    }
  }
}

const loaded = new Map<string, ClipBpe>();

/** The BPE tables of a vocabulary file, read once per path. */
function loadBpe(path: string): ClipBpe {
  let bpe = loaded.get(path);
  if (!bpe) {
    let text: string;
    try {
      text = gunzipSync(readFileSync(path)).toString('utf8');
    } catch (e) {
      throw new ClipVocabError(`cannot read the CLIP vocabulary ${path}: ${(e as Error).message}`);
    }
    bpe = new ClipBpe(text);
    loaded.set(path, bpe);
  }
  return bpe;
}

/** CLIP's word split; a flavour's special-token spellings come first. */
function splitter(specials: readonly string[]): RegExp {
  const esc = specials.map((s) => s.replace(/[|\\{}()[\]^$+*?.]/g, '\\$&'));
  return new RegExp([...esc, "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", '\\p{L}+', '\\p{N}', `[^${PY_SPACE}\\p{L}\\p{N}]+`].join('|'), 'giu');
}

const SPECIALS: Record<ClipTokenizerFlavour, readonly [string, string]> = {
  hf: ['<|startoftext|>', '<|endoftext|>'],
  open_clip: ['<start_of_text>', '<end_of_text>'],
};

/** Token ids of a batch of prompts, `[batch, length]` row-major. */
export interface ClipTokens {
  readonly ids: Int32Array;
  readonly shape: readonly [number, number];
}

export class ClipTokenizer {
  private bpeTables: ClipBpe | undefined;
  private readonly specials: readonly [string, string];
  private readonly pattern: RegExp;

  /** The vocabulary is read on first use, once per process and path. */
  constructor(
    readonly flavour: ClipTokenizerFlavour,
    readonly vocabPath: string = defaultClipVocabPath(),
  ) {
    this.specials = SPECIALS[flavour];
    this.pattern = splitter(this.specials);
  }

  private get tables(): ClipBpe {
    return (this.bpeTables ??= loadBpe(this.vocabPath));
  }

  /** The flavour's cleaning: `whitespace_clean(clean(text)).lower()`. */
  clean(text: string): string {
    switch (this.flavour) {
      case 'hf':
        return whitespaceClean(fixText(text)).toLowerCase();
      case 'open_clip':
        return whitespaceClean(pyStrip(pythonHtmlUnescape(pythonHtmlUnescape(fixText(text))))).toLowerCase();
      default: {
        const never: never = this.flavour;
        throw new Error(`unknown tokenizer flavour ${String(never)}`);
      }
    }
  }

  /** One prompt's BPE ids, without start/end tokens, truncation or padding. */
  encode(text: string): number[] {
    const out: number[] = [];
    // HF splits the raw text on its special tokens before anything else; open_clip matches its
    // spellings in the cleaned text (its regex lists them first).
    const pieces = this.flavour === 'hf' ? splitOn(text, this.specials) : [text];
    for (const piece of pieces) {
      const special = this.specials.indexOf(piece);
      if (this.flavour === 'hf' && special >= 0) {
        out.push(CLIP_SOT + special);
        continue;
      }
      for (const m of this.clean(piece).matchAll(this.pattern)) {
        const word = m[0];
        const sp = this.specials.indexOf(word);
        if (sp >= 0) out.push(CLIP_SOT + sp);
        else this.tables.ids(word, out);
      }
    }
    return out;
  }

  /**
   * A batch as the encoder takes it: `[prompts.length, length]`. 'hf': bos + ≤ length − 2 tokens
   * + eos, padded with eos; 'open_clip': sot + tokens + eot cut to `length` (eot kept last),
   * padded with 0.
   */
  tokenize(prompts: readonly string[], length: number): ClipTokens {
    if (!Number.isInteger(length) || length < 2) throw new RangeError(`CLIP tokens need a length of at least 2, got ${length}`);
    const ids = new Int32Array(prompts.length * length);
    prompts.forEach((p, row) => {
      const bpe = this.encode(p);
      let toks: number[];
      switch (this.flavour) {
        case 'hf':
          toks = [CLIP_SOT, ...bpe.slice(0, length - 2), CLIP_EOT];
          while (toks.length < length) toks.push(CLIP_EOT);
          break;
        case 'open_clip':
          toks = [CLIP_SOT, ...bpe, CLIP_EOT];
          if (toks.length > length) {
            toks = toks.slice(0, length);
            toks[length - 1] = CLIP_EOT;
          }
          break;
        default: {
          const never: never = this.flavour;
          throw new Error(`unknown tokenizer flavour ${String(never)}`);
        }
      }
      ids.set(toks, row * length);
    });
    return { ids, shape: [prompts.length, length] };
  }
}

/** `text` cut around each occurrence of the given strings, which are kept as pieces of their own. */
function splitOn(text: string, tokens: readonly string[]): string[] {
  const out: string[] = [];
  let pos = 0;
  for (;;) {
    let at = -1, tok = '';
    for (const t of tokens) {
      const i = text.indexOf(t, pos);
      if (i >= 0 && (at < 0 || i < at)) {
        at = i;
        tok = t;
      }
    }
    if (at < 0) break;
    if (at > pos) out.push(text.slice(pos, at));
    out.push(tok);
    pos = at + tok.length;
  }
  if (pos < text.length) out.push(text.slice(pos));
  return out;
}
