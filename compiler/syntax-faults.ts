// Turns the `yaml` package's syntax errors into one fault per mistake, at the line a person must edit.
//
// `yaml` reports where its parser gave up, which is often not where the mistake is: an over-indented
// key is reported twice at the end of the line *above* it, a tab or an under-indented key sets off a
// cascade of errors down the block. So we treat its first error as a symptom and look for the edit that
// cures it: a few candidate repairs of the lines around it (re-indent a line, replace a tab, add a
// missing `:`, closing bracket or quote, drop a stray `-`), each checked by parsing the repaired text.
// The repair that leaves the fewest errors names the fault, its line and the indentation expected; the
// errors it cures are its cascade and are not reported. Then the next remaining error, and so on. An
// error no repair explains is reported as `yaml` gave it, once per line.
//
// Repairs never add or remove a line break, so line numbers stay those of the original text. Only
// a broken file pays for the search: one or two re-parses a mistake, at most MAX_REPARSES a file.

/** An error as `yaml` reports it. */
export interface RawSyntaxError {
  readonly code: string;
  readonly pos: readonly [number, number];
  readonly message: string;
}

/** One mistake: a span of the original text, a message (no "YAML syntax error:" prefix) and what to do. */
export interface SyntaxFault {
  readonly start: number;
  readonly end: number;
  readonly message: string;
  readonly hint: string | undefined;
}

export interface SyntaxReport {
  readonly faults: readonly SyntaxFault[];
  /**
   * The duplicate keys left once the faults are repaired, as spans of the original text: a broken
   * flow mapping or block makes keys look repeated that are not.
   */
  readonly duplicateKeys: readonly (readonly [number, number])[];
}

/** Parses a (repaired) text and returns all its errors. */
export type SyntaxCheck = (text: string) => readonly RawSyntaxError[];

/** Re-parses allowed per file, and per error: each costs a millisecond or two on a reference config. */
const MAX_REPARSES = 16;
const MAX_TRIES = 6;
/** Faults located per file before the rest is reported as `yaml` gave it. */
const MAX_FAULTS = 4;
/** Above this size a broken file gets the parser's errors only (each re-parse would cost too much). */
const MAX_TEXT = 256 * 1024;

const isDuplicate = (e: RawSyntaxError): boolean => e.code === 'DUPLICATE_KEY';

/** `errors` are those of `text` as `check` gives them; duplicate keys among them are not syntax faults. */
export function locateSyntaxFaults(text: string, errors: readonly RawSyntaxError[], check: SyntaxCheck, hintFor: (code: string) => string | undefined): SyntaxReport {
  const original = scan(text);
  const toOriginal = (line: number, col: number): number => {
    const l = original[Math.min(line, original.length - 1)]!;
    return l.start + Math.min(col, l.content.length);
  };
  const faults: SyntaxFault[] = [];
  let cur = text;
  let all: readonly RawSyntaxError[] = errors;
  let errs = sortErrors(all.filter((e) => !isDuplicate(e)));
  let budget = text.length > MAX_TEXT ? 0 : MAX_REPARSES;
  while (errs.length > 0 && faults.length < MAX_FAULTS && budget > 0) {
    const lines = scan(cur);
    const anchor = lineOf(lines, errs[0]!.pos[0]);
    const before = errorLines(lines, errs);
    const blockEnd = endOfBlock(lines, anchor);
    let best: { repair: Repair; all: readonly RawSyntaxError[]; errs: RawSyntaxError[] } | undefined;
    let tries = 0;
    for (const repair of candidates(cur, lines, errs[0]!, anchor)) {
      if (++tries > MAX_TRIES || budget-- <= 0) break;
      const afterAll = check(repair.text);
      const after = sortErrors(afterAll.filter((e) => !isDuplicate(e)));
      const afterLines = errorLines(lineStarts(repair.text), after);
      // It must cure the error it answers (nothing left up to that line) and leave fewer errors.
      const cured = after.length === 0 || afterLines[0]! > Math.max(anchor, repair.line);
      if (!cured || after.length >= errs.length) continue;
      if (!best || after.length < best.errs.length) best = { repair, all: afterAll, errs: after };
      // Nothing left in this block, and nothing after it but errors that were there before (the other
      // mistakes of the file): no repair of this one can do better, so stop looking.
      if ((after.length === 0 || afterLines[0]! >= blockEnd) && isSubset(afterLines.map((l, k) => `${after[k]!.code}@${l}`), before.map((l, k) => `${errs[k]!.code}@${l}`))) break;
    }
    if (!best) break;
    const f = best.repair.fault(scan(best.repair.text));
    faults.push({ start: toOriginal(f.line, f.col), end: toOriginal(f.endLine, f.endCol), message: f.message, hint: f.hint });
    cur = best.repair.text;
    all = best.all;
    errs = best.errs;
  }
  const lines = scan(cur);
  const span = (e: RawSyntaxError): [number, number] => {
    const a = lineOf(lines, e.pos[0]), b = lineOf(lines, e.pos[1]);
    return [toOriginal(a, e.pos[0] - lines[a]!.start), toOriginal(b, e.pos[1] - lines[b]!.start)];
  };
  // What no repair explained, as the parser said it, once per line.
  const seen = new Set(faults.map((f) => lineOf(original, f.start)));
  for (const e of errs) {
    const line = lineOf(lines, e.pos[0]);
    if (seen.has(line)) continue;
    seen.add(line);
    const [start, end] = span(e);
    faults.push({ start, end, message: firstLine(e.message), hint: hintFor(e.code) });
  }
  return { faults: faults.sort((a, b) => a.start - b.start), duplicateKeys: all.filter(isDuplicate).map(span) };
}

/** The first line after the block around line i (the lines next to it, and those deeper). */
function endOfBlock(lines: readonly Line[], i: number): number {
  const near = [prevLine(lines, i), i, nextLine(lines, i)].filter((j) => j >= 0);
  const level = Math.min(...near.map((j) => lines[j]!.ws.length));
  for (let j = Math.max(...near) + 1; j < lines.length; j++) if (!lines[j]!.skip && lines[j]!.ws.length < level) return j;
  return lines.length;
}

/** The line of each error, in order. */
function errorLines(lines: readonly { readonly start: number }[], errors: readonly RawSyntaxError[]): number[] {
  return errors.map((e) => lineOf(lines, e.pos[0]));
}

function lineStarts(text: string): { start: number }[] {
  const out = [{ start: 0 }];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) out.push({ start: i + 1 });
  return out;
}

/** Every item of `a` is in `b` (as many times). */
function isSubset(a: readonly string[], b: readonly string[]): boolean {
  const count = new Map<string, number>();
  for (const x of b) count.set(x, (count.get(x) ?? 0) + 1);
  for (const x of a) {
    const n = count.get(x) ?? 0;
    if (n === 0) return false;
    count.set(x, n - 1);
  }
  return true;
}

function sortErrors(errors: readonly RawSyntaxError[]): RawSyntaxError[] {
  return [...errors].sort((a, b) => a.pos[0] - b.pos[0]);
}

export function firstLine(s: string): string {
  return s.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}

// ------------------------------------------------------------------ the lines of a YAML text

interface Line {
  /** Offset of the line's first character in the text. */
  readonly start: number;
  /** The line without its line break (and without a trailing \r). */
  readonly content: string;
  /** Leading blanks (spaces and tabs). */
  readonly ws: string;
  /** Leading `- ` sequence indicators after the blanks (`- - ` for a nested list), or `-` alone. */
  readonly dashes: string;
  /** Column (0-based) of what follows the blanks and dashes: where a key on this line starts. */
  readonly keyCol: number;
  /** The key this line defines, when it is a `key: value` or `key:` line. */
  readonly key: string | undefined;
  /** The text after the blanks and dashes, without a trailing comment. */
  readonly body: string;
  /** The line ends in a key with no value or in a bare `-`: the next, deeper lines belong to it. */
  readonly opensBlock: boolean;
  /** Not a line of the block layout: blank, a comment, or inside a flow collection, quote or block scalar. */
  readonly skip: boolean;
}

interface Scan extends Array<Line> {
  /** Every flow bracket that opens or closes, in text order. */
  flowEvents?: FlowEvent[];
  /** Every quoted scalar: where its quote opens and closes (Infinity when it never does). */
  quotes?: QuoteSpan[];
}

interface FlowEvent {
  readonly offset: number;
  readonly open: boolean;
  readonly ch: string;
}

interface QuoteSpan {
  readonly open: number;
  close: number;
  readonly ch: string;
}

const KEY = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s#'"[\]{},&*!|>%@`?:-][^#]*?|[?:-][^\s#][^#]*?)[ \t]*:(?:[ \t]|$)/;
const BLOCK_SCALAR = /(?:^|:[ \t]+)[|>][1-9+-]{0,2}$/;

function scan(text: string): Scan {
  const out: Scan = [];
  const events: FlowEvent[] = [];
  const quotes: QuoteSpan[] = [];
  let depth = 0;
  let quote: '' | '"' | "'" = '';
  let blockParent = -1; // inside a block scalar: its lines are deeper than this column
  let start = 0;
  for (const raw of text.split('\n')) {
    const content = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const ws = /^[ \t]*/.exec(content)![0];
    const afterWs = content.slice(ws.length);
    const dashes = /^(?:-(?:[ \t]+|$))*/.exec(afterWs)![0];
    const keyCol = ws.length + dashes.length;
    const inScalar = blockParent >= 0 && (afterWs === '' || ws.length > blockParent);
    if (!inScalar) blockParent = -1;
    const continuing = depth > 0 || quote !== '' || inScalar;
    // Walk the line for quotes, comments and flow brackets; a quote only opens where a token starts.
    let commentAt = content.length;
    if (!inScalar) {
      for (let i = 0; i < content.length; i++) {
        const c = content[i]!;
        if (quote === '"') {
          if (c === '\\') i++;
          else if (c === '"') {
            quote = '';
            quotes[quotes.length - 1]!.close = start + i;
          }
          continue;
        }
        if (quote === "'") {
          if (c === "'" && content[i + 1] === "'") i++;
          else if (c === "'") {
            quote = '';
            quotes[quotes.length - 1]!.close = start + i;
          }
          continue;
        }
        const prev = i === 0 ? ' ' : content[i - 1]!;
        if (c === '#' && (prev === ' ' || prev === '\t' || i === 0)) {
          commentAt = i;
          break;
        }
        if ((c === '"' || c === "'") && /[\s[{,:-]/.test(prev)) {
          quote = c;
          quotes.push({ open: start + i, close: Infinity, ch: c });
        }
        else if (c === '[' || c === '{') {
          depth++;
          events.push({ offset: start + i, open: true, ch: c });
        } else if ((c === ']' || c === '}') && depth > 0) {
          depth--;
          events.push({ offset: start + i, open: false, ch: c });
        }
      }
    }
    const body = content.slice(keyCol, Math.max(keyCol, commentAt)).trimEnd();
    const key = KEY.exec(body)?.[1];
    const skip = continuing || body === '' && dashes === '';
    if (!continuing && depth === 0 && quote === '' && BLOCK_SCALAR.test(body)) blockParent = dashes && !key ? ws.length : keyCol;
    out.push({ start, content, ws, dashes, keyCol, key, body, opensBlock: body === '' ? dashes !== '' : key !== undefined && KEY.exec(body)![0].trimEnd().length === body.length, skip });
    start += raw.length + 1;
  }
  out.flowEvents = events;
  out.quotes = quotes;
  return out;
}

function lineOf(lines: readonly { readonly start: number }[], offset: number): number {
  let lo = 0, hi = lines.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (lines[mid]!.start <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function prevLine(lines: readonly Line[], i: number): number {
  for (let j = i - 1; j >= 0; j--) if (!lines[j]!.skip) return j;
  return -1;
}

function nextLine(lines: readonly Line[], i: number): number {
  for (let j = i + 1; j < lines.length; j++) if (!lines[j]!.skip) return j;
  return -1;
}

/** Indentations line i could take, best guess first: the previous line's level, then the levels it closes. */
function indentChoices(lines: readonly Line[], i: number): number[] {
  const out: number[] = [];
  const p = prevLine(lines, i);
  if (p < 0) return [0];
  const prev = lines[p]!;
  if (prev.opensBlock) {
    // The first entry of a block may take any deeper indentation; its followers set the one expected.
    const parent = prev.body === '' ? prev.ws.length : prev.keyCol;
    const n = nextLine(lines, i);
    const follow = n >= 0 && !lines[n]!.ws.includes('\t') ? lines[n]!.ws.length : -1;
    out.push(follow > parent ? follow : parent + 2);
  }
  let limit = Infinity;
  for (let j = p; j >= 0 && limit > 0; j--) {
    const l = lines[j]!;
    if (l.skip) continue;
    // A `- - key:` line opens a level at each dash and one at its key.
    const levels = [l.keyCol];
    for (let k = l.dashes.length - 1; k >= 0; k--) if (l.dashes[k] === '-') levels.push(l.ws.length + k);
    for (const lv of levels) {
      if (lv < limit) {
        out.push(lv);
        limit = lv;
      }
    }
  }
  return [...new Set(out)];
}

// ------------------------------------------------------------------ repairs

interface LocatedFault {
  readonly line: number;
  readonly col: number;
  readonly endLine: number;
  readonly endCol: number;
  readonly message: string;
  readonly hint: string | undefined;
}

interface Repair {
  /** The repaired text. */
  readonly text: string;
  /** The last line the repair touched or answers for. */
  readonly line: number;
  /** Describes the fault, given the lines of the repaired text (to name a sibling key). */
  readonly fault: (repaired: readonly Line[]) => LocatedFault;
}

function replaceLine(text: string, lines: readonly Line[], i: number, content: string): string {
  const l = lines[i]!;
  return text.slice(0, l.start) + content + text.slice(l.start + l.content.length);
}

function label(l: Line): string {
  return l.key !== undefined ? `\`${l.key}\`` : l.body !== '' ? `\`${clip(l.dashes + l.body)}\`` : 'this line';
}

function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/** Like clip, but keeps the end of the text (where a repair added something). */
function clipStart(s: string): string {
  return s.length > 40 ? `...${s.slice(-37)}` : s;
}

function plural(n: number): string {
  return n === 1 ? '1 space' : `${n} spaces`;
}

/** A key at `col` next to line i in the repaired text (above first, then below), to name in a hint. */
function sibling(lines: readonly Line[], i: number, col: number): [string, number] | undefined {
  for (const step of [-1, 1]) {
    for (let j = i + step; j >= 0 && j < lines.length; j += step) {
      const l = lines[j]!;
      if (l.skip) continue;
      if (l.keyCol === col && l.key !== undefined) return [l.key, j];
      if (l.ws.length < col || l.keyCol < col) break;
    }
  }
  return undefined;
}

function likeSibling(lines: readonly Line[], i: number, col: number): string {
  const s = sibling(lines, i, col);
  return s ? `, like \`${s[0]}\` on line ${s[1] + 1}` : '';
}

/** Candidate repairs for the first error, most specific first. */
function* candidates(text: string, lines: Scan, err: RawSyntaxError, anchor: number): Generator<Repair> {
  yield* closeQuote(text, lines, err);
  yield* closeFlow(text, lines, err, anchor);
  const n = nextLine(lines, anchor), p = prevLine(lines, anchor);
  const around = [anchor, n, p].filter((i, k, all) => i >= 0 && all.indexOf(i) === k && !lines[i]!.skip);
  // What a line says is wrong where `yaml` stops (or on the line after, where it stops early).
  for (const i of [anchor, n]) if (around.includes(i)) yield* fixLine(text, lines, i);
  // When moving either of two lines would do (a block of two keys), blame the later one: `yaml`
  // reports an over-indented line at the end of the line before it.
  // Each line's likeliest indentation (its sibling's) first, then the others, in turns.
  const moves = [n, anchor, p].filter((i) => around.includes(i)).map((i) => [...reindent(text, lines, i)]);
  for (let k = 0; moves.some((m) => k < m.length); k++) for (const m of moves) if (k < m.length) yield m[k]!;
}

/** A `[` or `{` still open where the parser gave up: close it at the end of the last line before. */
function* closeFlow(text: string, lines: Scan, err: RawSyntaxError, anchor: number): Generator<Repair> {
  const open: FlowEvent[] = [];
  for (const e of lines.flowEvents ?? []) {
    if (e.offset >= err.pos[0]) break;
    if (e.open) open.push(e);
    else open.pop();
  }
  if (open.length === 0) return;
  const opener = open[0]!;
  const openLine = lineOf(lines, opener.offset);
  // Close it where its text ends: the last line with content before the one the parser stopped at.
  let j = anchor;
  if (j > openLine && err.pos[0] - lines[j]!.start <= lines[j]!.ws.length) j--;
  while (j > openLine && lines[j]!.body === '' && lines[j]!.dashes === '') j--;
  const l = lines[j]!;
  const body = l.content.slice(0, l.keyCol + l.body.length);
  const closers = open.filter((e) => e.offset < l.start + body.length).reverse().map((e) => (e.ch === '[' ? ']' : '}')).join('');
  if (closers === '') return;
  const fixed = body + closers + l.content.slice(body.length);
  yield {
    text: replaceLine(text, lines, j, fixed),
    line: Math.max(j, anchor),
    fault: () => ({
      line: openLine,
      col: opener.offset - lines[openLine]!.start,
      endLine: j,
      endCol: body.length,
      message: `this \`${opener.ch}\` is never closed`,
      hint: `add \`${closers}\` at the end of line ${j + 1}: \`${clipStart(fixed.trim())}\``,
    }),
  };
}

/** A quote still open where the parser gave up: close it where its line ends. */
function* closeQuote(text: string, lines: Scan, err: RawSyntaxError): Generator<Repair> {
  const q = (lines.quotes ?? []).find((s) => s.open < err.pos[0] && s.close >= err.pos[0]);
  if (!q) return;
  const i = lineOf(lines, q.open);
  const l = lines[i]!;
  // The quoted text runs to the end of its line (a comment there is part of the string, as yaml reads it).
  const end = l.content.trimEnd().length;
  const fixed = l.content.slice(0, end) + q.ch + l.content.slice(end);
  yield {
    text: replaceLine(text, lines, i, fixed),
    line: lineOf(lines, err.pos[0]),
    fault: () => ({
      line: i,
      col: q.open - l.start,
      endLine: i,
      endCol: end,
      message: `this ${q.ch === '"' ? 'double' : 'single'} quote is never closed`,
      hint: `add the closing \`${q.ch}\` at the end of line ${i + 1}: \`${clipStart(fixed.trim())}\``,
    }),
  };
}

/** Repairs of what a line says: a tab in its indentation, a key without `:`, a stray `-`. */
function* fixLine(text: string, lines: readonly Line[], i: number): Generator<Repair> {
  const l = lines[i]!;
  const rest = l.content.slice(l.ws.length);
  if (l.ws.includes('\t')) {
    const tabCol = l.ws.indexOf('\t');
    for (const c of indentChoices(lines, i)) {
      yield {
        text: replaceLine(text, lines, i, ' '.repeat(c) + rest),
        line: i,
        fault: (r) => ({
          line: i,
          col: tabCol,
          endLine: i,
          endCol: l.keyCol + (l.key ?? l.body).length,
          message: `a tab in the indentation of ${label(l)}`,
          hint: `YAML indents with spaces only: indent ${label(l)} with ${plural(c)} and no tab${likeSibling(r, i, c + l.dashes.length)}`,
        }),
      };
    }
  }
  if (l.ws.includes('\t')) return;
  const bare = /^([A-Za-z_][\w.-]*)([ \t]+)([^\s#:][^:#]*)$/.exec(l.body);
  if (l.key === undefined && bare && !l.body.includes(': ')) {
    const [, k, , v] = bare as unknown as [string, string, string, string];
    const fixed = `${k}: ${v.trimEnd()}`;
    yield {
      text: replaceLine(text, lines, i, l.content.slice(0, l.keyCol) + fixed + l.content.slice(l.keyCol + l.body.length)),
      line: i,
      fault: () => ({
        line: i,
        col: l.keyCol,
        endLine: i,
        endCol: l.keyCol + l.body.length,
        message: `\`${clip(l.body)}\` has no \`:\` after its key`,
        hint: `write \`${clip(fixed)}\``,
      }),
    };
  }
  if (l.dashes !== '') {
    const p = prevLine(lines, i);
    const prev = p >= 0 ? lines[p]! : undefined;
    // A `-` at the column of the mapping keys before it, or a `-` with nothing after it.
    if (l.body === '' || (prev && prev.dashes === '' && prev.key !== undefined && prev.keyCol === l.ws.length)) {
      yield {
        text: replaceLine(text, lines, i, l.ws + l.content.slice(l.keyCol)),
        line: i,
        fault: () => ({
          line: i,
          col: l.ws.length,
          endLine: i,
          endCol: l.ws.length + 1,
          message: l.body === '' ? 'a `-` with no list item after it' : 'a `-` list item among the keys of a mapping',
          hint: l.body === ''
            ? 'remove the stray `-`'
            : `remove the \`-\` before ${label(l)} (a mapping's entries are \`key: value\` lines), or put the list under a key of its own`,
        }),
      };
    }
  }
}

/** Moves a line to another indentation that the lines above it allow. */
function* reindent(text: string, lines: readonly Line[], i: number): Generator<Repair> {
  const l = lines[i]!;
  if (l.ws.includes('\t')) return;
  const have = l.ws.length;
  for (const c of indentChoices(lines, i)) {
    if (c === have || c < 0) continue;
    yield {
      text: replaceLine(text, lines, i, ' '.repeat(c) + l.content.slice(have)),
      line: i,
      fault: (r) => {
        const s = sibling(r, i, c + l.dashes.length);
        const what = label(l);
        const message = s
          ? `${what} is indented ${plural(have)}, ${have > c ? 'deeper than' : 'less than'} its siblings (${c})`
          : `${what} is indented ${plural(have)}; ${c} expected here`;
        const hint = s
          ? `indent ${what} like its siblings (${plural(c)}), e.g. \`${s[0]}\` on line ${s[1] + 1}`
          : `indent ${what} by ${plural(c)}`;
        return { line: i, col: have, endLine: i, endCol: l.keyCol + (l.key ?? l.body).length, message, hint };
      },
    };
  }
}
