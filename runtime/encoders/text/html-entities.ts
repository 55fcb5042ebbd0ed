// HTML character references, as the two CLIP tokenizers' cleaning undoes them:
//
// - Python's `html.unescape` (open_clip runs it twice after ftfy): `&name;`, the legacy names also
//   without `;` (`&amp`), `&#NNN;` / `&#xHH;` with the HTML5 rules for invalid numbers;
// - ftfy's `unescape_html` (both run it, unless the text has a literal `<`): only `&...;` forms, and
//   the all-uppercase spelling of a lowercase name (`&EACUTE;`) as the uppercased character.
//
// The named table is HTML 4's 252 entities (plus the uppercase legacy six HTML5 keeps), not all
// 2,231 of HTML5: prompts spell the common ones, and an unknown name is left as written, as both
// unescapers do for names they do not know.

/** name:hex code point, the HTML 4 entity set. */
const HTML4 = `
quot:22 amp:26 lt:3c gt:3e nbsp:a0 iexcl:a1 cent:a2 pound:a3 curren:a4 yen:a5 brvbar:a6 sect:a7
uml:a8 copy:a9 ordf:aa laquo:ab not:ac shy:ad reg:ae macr:af deg:b0 plusmn:b1 sup2:b2 sup3:b3
acute:b4 micro:b5 para:b6 middot:b7 cedil:b8 sup1:b9 ordm:ba raquo:bb frac14:bc frac12:bd frac34:be
iquest:bf Agrave:c0 Aacute:c1 Acirc:c2 Atilde:c3 Auml:c4 Aring:c5 AElig:c6 Ccedil:c7 Egrave:c8
Eacute:c9 Ecirc:ca Euml:cb Igrave:cc Iacute:cd Icirc:ce Iuml:cf ETH:d0 Ntilde:d1 Ograve:d2 Oacute:d3
Ocirc:d4 Otilde:d5 Ouml:d6 times:d7 Oslash:d8 Ugrave:d9 Uacute:da Ucirc:db Uuml:dc Yacute:dd
THORN:de szlig:df agrave:e0 aacute:e1 acirc:e2 atilde:e3 auml:e4 aring:e5 aelig:e6 ccedil:e7
egrave:e8 eacute:e9 ecirc:ea euml:eb igrave:ec iacute:ed icirc:ee iuml:ef eth:f0 ntilde:f1 ograve:f2
oacute:f3 ocirc:f4 otilde:f5 ouml:f6 divide:f7 oslash:f8 ugrave:f9 uacute:fa ucirc:fb uuml:fc
yacute:fd thorn:fe yuml:ff OElig:152 oelig:153 Scaron:160 scaron:161 Yuml:178 fnof:192 circ:2c6
tilde:2dc Alpha:391 Beta:392 Gamma:393 Delta:394 Epsilon:395 Zeta:396 Eta:397 Theta:398 Iota:399
Kappa:39a Lambda:39b Mu:39c Nu:39d Xi:39e Omicron:39f Pi:3a0 Rho:3a1 Sigma:3a3 Tau:3a4 Upsilon:3a5
Phi:3a6 Chi:3a7 Psi:3a8 Omega:3a9 alpha:3b1 beta:3b2 gamma:3b3 delta:3b4 epsilon:3b5 zeta:3b6
eta:3b7 theta:3b8 iota:3b9 kappa:3ba lambda:3bb mu:3bc nu:3bd xi:3be omicron:3bf pi:3c0 rho:3c1
sigmaf:3c2 sigma:3c3 tau:3c4 upsilon:3c5 phi:3c6 chi:3c7 psi:3c8 omega:3c9 thetasym:3d1 upsih:3d2
piv:3d6 ensp:2002 emsp:2003 thinsp:2009 zwnj:200c zwj:200d lrm:200e rlm:200f ndash:2013 mdash:2014
lsquo:2018 rsquo:2019 sbquo:201a ldquo:201c rdquo:201d bdquo:201e dagger:2020 Dagger:2021 bull:2022
hellip:2026 permil:2030 prime:2032 Prime:2033 lsaquo:2039 rsaquo:203a oline:203e frasl:2044
euro:20ac image:2111 weierp:2118 real:211c trade:2122 alefsym:2135 larr:2190 uarr:2191 rarr:2192
darr:2193 harr:2194 crarr:21b5 lArr:21d0 uArr:21d1 rArr:21d2 dArr:21d3 hArr:21d4 forall:2200
part:2202 exist:2203 empty:2205 nabla:2207 isin:2208 notin:2209 ni:220b prod:220f sum:2211
minus:2212 lowast:2217 radic:221a prop:221d infin:221e ang:2220 and:2227 or:2228 cap:2229 cup:222a
int:222b there4:2234 sim:223c cong:2245 asymp:2248 ne:2260 equiv:2261 le:2264 ge:2265 sub:2282
sup:2283 nsub:2284 sube:2286 supe:2287 oplus:2295 otimes:2297 perp:22a5 sdot:22c5 lceil:2308
rceil:2309 lfloor:230a rfloor:230b lang:2329 rang:232a loz:25ca spades:2660 clubs:2663 hearts:2665
diams:2666
`;

/** Named entity → its text. */
export const NAMED_ENTITIES: ReadonlyMap<string, string> = (() => {
  const m = new Map<string, string>();
  for (const item of HTML4.trim().split(/\s+/)) {
    const [name, hex] = item.split(':') as [string, string];
    m.set(name, String.fromCodePoint(parseInt(hex, 16)));
  }
  // HTML5 also spells these six in capitals.
  for (const n of ['amp', 'copy', 'gt', 'lt', 'quot', 'reg']) m.set(n.toUpperCase(), m.get(n)!);
  m.set('apos', "'"); // HTML5 (and XML), not HTML 4
  return m;
})();

/**
 * The names HTML5 also accepts without the closing `;`: the Latin-1 ones (U+00A0..U+00FF), the
 * four markup characters and the six capitals.
 */
const LEGACY: ReadonlySet<string> = new Set([
  ...[...NAMED_ENTITIES].filter(([n, c]) => c.codePointAt(0)! >= 0xa0 && c.codePointAt(0)! <= 0xff && !['COPY', 'REG'].includes(n)).map(([n]) => n),
  ...['amp', 'lt', 'gt', 'quot', 'AMP', 'COPY', 'GT', 'LT', 'QUOT', 'REG'],
]);

/**
 * Windows-1252's characters for the bytes 0x80..0x9F, with its five unassigned bytes kept as the
 * C1 control of the same number ("sloppy" windows-1252, as ftfy and HTML5 both read it).
 */
export const CP1252_HIGH: readonly number[] = [
  0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d, 0x17d, 0x8f,
  0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
];

/** Code points HTML5 drops from a numeric reference (controls and noncharacters). */
function droppedCodePoint(n: number): boolean {
  return (
    (n >= 0x1 && n <= 0x8) || n === 0xb || (n >= 0xe && n <= 0x1f) || (n >= 0x7f && n <= 0x9f) ||
    (n >= 0xfdd0 && n <= 0xfdef) || (n & 0xfffe) === 0xfffe
  );
}

/** A numeric reference's text under HTML5's rules (what Python's html.unescape gives). */
function numericText(n: number): string {
  if (n === 0) return '\ufffd';
  if (n === 0x0d) return '\r';
  if (n >= 0x80 && n <= 0x9f) return String.fromCodePoint(CP1252_HIGH[n - 0x80]!);
  if ((n >= 0xd800 && n <= 0xdfff) || n > 0x10ffff) return '\ufffd';
  if (droppedCodePoint(n)) return '';
  return String.fromCodePoint(n);
}

const PY_CHARREF = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/g;

/** Python's `html.unescape`. */
export function pythonHtmlUnescape(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(PY_CHARREF, (whole, ref: string) => {
    if (ref[0] === '#') {
      const hex = ref[1] === 'x' || ref[1] === 'X';
      const digits = ref.slice(hex ? 2 : 1).replace(/;$/, '').replace(/^0+(?=.)/, '');
      // Huge numbers are out of range whatever their exact value.
      const n = digits.length > 8 ? Infinity : parseInt(digits, hex ? 16 : 10);
      return numericText(n);
    }
    if (ref.endsWith(';') && NAMED_ENTITIES.has(ref.slice(0, -1))) return NAMED_ENTITIES.get(ref.slice(0, -1))!;
    // The longest legacy name the reference starts with; the rest stays as written.
    for (let x = ref.length - (ref.endsWith(';') ? 1 : 0); x > 1; x--) {
      const name = ref.slice(0, x);
      if (LEGACY.has(name)) return NAMED_ENTITIES.get(name)! + ref.slice(x);
    }
    return whole;
  });
}

const FTFY_ENTITY = /&#?[0-9A-Za-z]{1,24};/g;

/** ftfy's `unescape_html`: only references closed by `;`, plus the capitalised lowercase names. */
export function ftfyUnescapeHtml(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(FTFY_ENTITY, (ref) => {
    const name = ref.slice(1, -1);
    const named = NAMED_ENTITIES.get(name);
    if (named !== undefined) return named;
    if (name.startsWith('#')) {
      const out = pythonHtmlUnescape(ref);
      return out.includes(';') ? ref : out;
    }
    // `&EACUTE;`: a lowercase entity's name in capitals (not itself an entity) is its capital.
    const lower = name.toLowerCase();
    if (name === lower.toUpperCase() && name !== lower) {
      const c = NAMED_ENTITIES.get(lower);
      if (c !== undefined) return c.toUpperCase();
    }
    return ref;
  });
}
