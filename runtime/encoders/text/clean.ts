// The text cleaning in front of CLIP's BPE: the part of ftfy.fix_text (ftfy 6.3, default settings)
// that changes prompts, and CLIP's whitespace_clean.
//
// ftfy.fix_text works line by line; on each line it repeats, until nothing changes: HTML entities
// (only while no line so far had a literal `<`), mojibake, C1 controls, Latin ligatures, full-width
// characters, curly quotes, line breaks, lone surrogates, terminal escapes, control characters,
// then NFC. The mojibake repair here is the common case only: a run of characters that are the
// Windows-1252 / Latin-1 reading of one UTF-8 sequence (`Ã©` → `é`, `â€œ` → `“`) is read back as
// UTF-8. ftfy's other encodings (Windows-1250/1251, MacRoman, cp437) and its badness scoring are
// left out: they only matter for text that was mangled through those code pages.
import { CP1252_HIGH, ftfyUnescapeHtml } from './html-entities.js';

/** Python's `str.isspace` characters, which `re`'s `\s` matches (JS's `\s` differs: no \x1c-\x1f or \x85, but \ufeff). */
export const PY_SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

const SPACE_RUN = new RegExp(`[${PY_SPACE}]+`, 'g');
const EDGE_SPACE = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, 'g');

/** Python's `s.strip()`. */
export function pyStrip(s: string): string {
  return s.replace(EDGE_SPACE, '');
}

/** CLIP's `whitespace_clean`: every whitespace run becomes one space, then strip. */
export function whitespaceClean(s: string): string {
  return pyStrip(s.replace(SPACE_RUN, ' '));
}

/** The byte a character stands for when UTF-8 was read as Windows-1252 (or Latin-1); -1 if none. */
function mojibakeByte(cp: number): number {
  if (cp < 0x100) return cp;
  const i = CP1252_HIGH.indexOf(cp);
  return i < 0 ? -1 : 0x80 + i;
}

/** How many continuation bytes a UTF-8 lead byte takes, and the range of the first (no overlongs or surrogates). */
function utf8Lead(b: number): { need: number; lo: number; hi: number } | null {
  if (b >= 0xc2 && b <= 0xdf) return { need: 1, lo: 0x80, hi: 0xbf };
  if (b >= 0xe0 && b <= 0xef) return { need: 2, lo: b === 0xe0 ? 0xa0 : 0x80, hi: b === 0xed ? 0x9f : 0xbf };
  if (b >= 0xf0 && b <= 0xf4) return { need: 3, lo: b === 0xf0 ? 0x90 : 0x80, hi: b === 0xf4 ? 0x8f : 0xbf };
  return null;
}

/** Reads back each run of characters that is one UTF-8 sequence seen through Windows-1252. */
export function fixMojibake(s: string): string {
  if (!/[^\x00-\x7f]/.test(s)) return s;
  const cps = Array.from(s, (c) => c.codePointAt(0)!);
  const out: string[] = [];
  let changed = false;
  for (let i = 0; i < cps.length; i++) {
    const lead = utf8Lead(mojibakeByte(cps[i]!));
    if (lead && i + lead.need < cps.length) {
      const bytes = [mojibakeByte(cps[i]!)];
      for (let k = 1; k <= lead.need; k++) {
        const b = mojibakeByte(cps[i + k]!);
        if (b < (k === 1 ? lead.lo : 0x80) || b > (k === 1 ? lead.hi : 0xbf)) break;
        bytes.push(b);
      }
      if (bytes.length === lead.need + 1) {
        out.push(Buffer.from(bytes).toString('utf8'));
        i += lead.need;
        changed = true;
        continue;
      }
    }
    out.push(String.fromCodePoint(cps[i]!));
  }
  return changed ? out.join('') : s;
}

/** ftfy `fix_c1_controls`: a C1 control is the Windows-1252 character of that byte (the unassigned five stay). */
function fixC1Controls(s: string): string {
  return s.replace(/[\x80-\x9f]/g, (c) => String.fromCodePoint(CP1252_HIGH[c.charCodeAt(0) - 0x80]!));
}

/** ftfy's ligature table (Latin only: Œ, Æ and the like are letters, not ligatures, and stay). */
const LIGATURES: Readonly<Record<string, string>> = {
  'Ĳ': 'IJ', 'ĳ': 'ij', 'ŉ': 'ʼn', 'Ǳ': 'DZ', 'ǲ': 'Dz', 'ǳ': 'dz', 'Ǆ': 'DŽ', 'ǅ': 'Dž', 'ǆ': 'dž',
  'Ǉ': 'LJ', 'ǈ': 'Lj', 'ǉ': 'lj', 'Ǌ': 'NJ', 'ǋ': 'Nj', 'ǌ': 'nj',
  'ﬀ': 'ff', 'ﬁ': 'fi', 'ﬂ': 'fl', 'ﬃ': 'ffi', 'ﬄ': 'ffl', 'ﬅ': 'ſt', 'ﬆ': 'st',
};
const LIGATURE_RE = new RegExp(`[${Object.keys(LIGATURES).join('')}]`, 'gu');

/** ftfy `fix_character_width`: full- and half-width forms (U+FF01..U+FFEF) by NFKC, and the ideographic space. */
function fixCharacterWidth(s: string): string {
  return s.replace(/[\uff01-\uffef\u3000]/g, (c) => (c === '\u3000' ? ' ' : c.normalize('NFKC')));
}

/** ftfy `uncurl_quotes`. */
function uncurlQuotes(s: string): string {
  return s.replace(/[\u02bc\u2018-\u201b]/g, "'").replace(/[\u201c-\u201f]/g, '"');
}

/** ftfy `fix_line_breaks`. */
function fixLineBreaks(s: string): string {
  return s.replace(/\r\n/g, '\n').replace(/[\r\u2028\u2029\u0085]/g, '\n');
}

/** ftfy `fix_surrogates`: a surrogate without its partner is U+FFFD (JS strings hold pairs as one character already). */
function fixSurrogates(s: string): string {
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

/** ftfy `remove_terminal_escapes` (ANSI colour codes and the like). */
function removeTerminalEscapes(s: string): string {
  return s.replace(/\x1b\[[\d;]*[a-zA-Z]/g, '');
}

/** ftfy `remove_control_chars`: C0 controls but tab, newline, form feed and CR; DEL; deprecated format characters; BOM; interlinear annotations. */
function removeControlChars(s: string): string {
  return s.replace(/[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/g, '');
}

function fixSegment(segment: string, unescapeHtml: boolean): string {
  let s = segment;
  for (;;) {
    const before = s;
    if (unescapeHtml) s = ftfyUnescapeHtml(s);
    s = fixMojibake(s);
    s = fixC1Controls(s);
    s = s.replace(LIGATURE_RE, (c) => LIGATURES[c]!);
    s = fixCharacterWidth(s);
    s = uncurlQuotes(s);
    s = fixLineBreaks(s);
    s = fixSurrogates(s);
    s = removeTerminalEscapes(s);
    s = removeControlChars(s);
    s = s.normalize('NFC');
    if (s === before) return s;
  }
}

/** `ftfy.fix_text(text)` with its defaults, as far as the module comment says. */
export function fixText(text: string): string {
  let unescapeHtml = true;
  const out: string[] = [];
  let pos = 0;
  while (pos < text.length) {
    let end = text.indexOf('\n', pos) + 1;
    if (end === 0) end = text.length;
    const segment = text.slice(pos, end);
    // A literal `<` means markup: from this line on, entities are the text's own and stay.
    if (unescapeHtml && segment.includes('<')) unescapeHtml = false;
    out.push(fixSegment(segment, unescapeHtml));
    pos = end;
  }
  return out.join('');
}
