// Limits on a config text, checked before the YAML parser sees it. `yaml` recurses once per nesting
// level, so a depth bomb (`[[[[...]]]]`, thousands of indented mappings) overflows V8's stack inside
// it; a binary file gets a cascade of syntax errors that say nothing useful. Each check here is one
// linear pass over the text, and the first limit broken is the file's one diagnostic.
import { diag, spanAt, type Reporter } from './diagnostics.js';

export interface SourceLimits {
  /** Largest document, in UTF-8 bytes. */
  readonly maxDocumentBytes: number;
  /** Deepest nesting of mappings and sequences, block and flow together. */
  readonly maxDepth: number;
  /** Longest scalar, in characters. */
  readonly maxScalarLength: number;
}

export const DEFAULT_LIMITS: SourceLimits = {
  maxDocumentBytes: 16 * 1024 * 1024,
  maxDepth: 256,
  maxScalarLength: 1024 * 1024,
};

export function sourceLimits(overrides: Partial<SourceLimits> | undefined): SourceLimits {
  return { ...DEFAULT_LIMITS, ...overrides };
}

/** `U+0001`: how a character is named in a message. */
export function codePointName(c: number): string {
  return `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Reports the first limit `text` breaks and returns false; true when the parser may have it.
 * Order: size first (the other scans would be wasted on a huge file), then characters (a binary
 * file is not a depth bomb, whatever its brackets say), then depth.
 */
export function checkSourceLimits(path: string, text: string, limits: SourceLimits, ctx: Reporter): boolean {
  const bytes = utf8LengthOver(text, limits.maxDocumentBytes);
  if (bytes !== undefined) {
    ctx.report(diag(spanAt(path, text, 0, 0), 'Document_too_large_0_limit_1', [bytes, limits.maxDocumentBytes], {
      hint: 'a config is a few kilobytes; check that this is the right file (ldmc check --max-document-size BYTES raises the limit)',
    }));
    return false;
  }
  const bad = firstControlChar(text);
  if (bad >= 0) {
    const c = text.charCodeAt(bad);
    ctx.report(diag(spanAt(path, text, bad, 1), 'Not_a_text_file_0_holds_1', [path, c === 0 ? 'a NUL byte' : `the control character ${codePointName(c)}`], {
      hint: 'a config is a YAML text file; is this a binary file (weights, an image, an archive)? Otherwise delete the character',
    }));
    return false;
  }
  const deep = firstTooDeep(text, limits.maxDepth);
  if (deep >= 0) {
    ctx.report(diag(spanAt(path, text, deep, 1), 'Nesting_deeper_than_0', [limits.maxDepth], {
      hint: 'no model config nests this deep; look for brackets that are never closed or indentation that keeps growing',
    }));
    return false;
  }
  return true;
}

/** The UTF-8 length of `text` if it exceeds `max`, else undefined (it stops counting past the limit only at the end). */
function utf8LengthOver(text: string, max: number): number | undefined {
  // Each UTF-16 unit is at most 3 bytes (a surrogate pair, two units, is 4): a cheap bound first.
  if (text.length * 3 <= max) return undefined;
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c >= 0xd800 && c < 0xdc00 ? 4 : c >= 0xdc00 && c < 0xe000 ? 0 : 3;
  }
  return n > max ? n : undefined;
}

/** The offset of the first character YAML never allows raw (C0 controls but tab, LF, CR; DEL), or -1. */
function firstControlChar(text: string): number {
  // eslint-disable-next-line no-control-regex
  const m = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.exec(text);
  return m ? m.index : -1;
}

/**
 * The offset where nesting first exceeds `max`, or -1. One pass: flow brackets outside quotes and
 * comments count one level each; in block context, each new indentation column (a deeper key, a
 * `- ` item, a `? ` key) is one level. An approximation of YAML's grammar that never undercounts
 * what `yaml` would recurse on by more than the plain scalars it misreads, and never reads a real
 * config (a few levels deep) as deep.
 */
export function firstTooDeep(text: string, max: number): number {
  const indents: number[] = [];
  let flow = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    // Start of a line.
    const lineStart = i;
    if (flow === 0) {
      let col = 0;
      while (i < n && text[i] === ' ') i++, col++;
      const c = text[i];
      if (i >= n || c === '\n' || c === '\r' || c === '#') {
        // Blank or comment line: no level.
      } else {
        let at = col;
        for (;;) {
          while (indents.length > 0 && indents[indents.length - 1]! > at) indents.pop();
          if (indents.length === 0 || indents[indents.length - 1]! < at) indents.push(at);
          if (indents.length + flow > max) return i;
          // `- ` and `? ` open a nested node on the same line, one column further in.
          const ch = text[i];
          if ((ch === '-' || ch === '?') && (text[i + 1] === ' ' || text[i + 1] === '\t')) {
            i++;
            at++;
            while (i < n && (text[i] === ' ' || text[i] === '\t')) i++, at++;
            if (i >= n || text[i] === '\n' || text[i] === '\r' || text[i] === '#') break;
            continue;
          }
          break;
        }
      }
    }
    // The rest of the line: brackets, quotes, comments.
    let tokenStart = true;
    while (i < n && text[i] !== '\n') {
      const c = text[i]!;
      if (c === '#' && (i === lineStart || text[i - 1] === ' ' || text[i - 1] === '\t')) {
        while (i < n && text[i] !== '\n') i++;
        break;
      }
      if (tokenStart && (c === '"' || c === "'")) {
        i = skipQuoted(text, i);
        tokenStart = false;
        continue;
      }
      if ((c === '[' || c === '{') && (tokenStart || flow > 0)) {
        flow++;
        if (indents.length + flow > max) return i;
        i++;
        tokenStart = true;
        continue;
      }
      if ((c === ']' || c === '}') && flow > 0) flow--;
      // A bracket opens a collection only where a token starts: after a blank, or after `,`/`:` inside
      // a flow collection (in block context `x,[` and `x:[` are plain scalars).
      tokenStart = c === ' ' || c === '\t' || (flow > 0 && (c === ',' || c === ':'));
      i++;
    }
    i++;
  }
  return -1;
}

/** The offset after a quoted scalar starting at `i` (it may run over lines), or the end of the text. */
function skipQuoted(text: string, i: number): number {
  const q = text[i]!;
  let j = i + 1;
  while (j < text.length) {
    const c = text[j]!;
    if (q === '"' && c === '\\') j += 2;
    else if (c === q) {
      if (q === "'" && text[j + 1] === "'") j += 2;
      else return j + 1;
    } else j++;
  }
  return j;
}
