// Edit distance for did-you-mean suggestions. A suggestion must cost time linear in the input: a
// pasted 300,000-character name is compared with hundreds of candidates, so the distance is bounded
// (candidates whose length alone rules them out are skipped, the DP runs a band of width 2·bound+1
// and stops once every cell of a row is over the bound), and words longer than any name are not compared.

/** Longer words are never close to a name (the longest target id is under 100 characters). */
const MAX_COMPARED = 256;

/**
 * Optimal string alignment distance (Levenshtein plus adjacent transpositions: "nmu" -> "num").
 * With `bound`, any distance over it is returned as bound + 1, in O(len · bound) time.
 */
export function editDistance(a: string, b: string, bound = Infinity): number {
  if (a === b) return 0;
  const m = a.length, n = b.length;
  const k = Math.min(bound, Math.max(m, n));
  if (Math.abs(m - n) > k) return k + 1;
  const over = k + 1;
  // Three rows (i-2, i-1, i); cells outside the band |i - j| <= k are `over`.
  let prev2 = new Array<number>(n + 1).fill(over);
  let prev = Array.from({ length: n + 1 }, (_, j) => (j <= k ? j : over));
  let cur = new Array<number>(n + 1).fill(over);
  for (let i = 1; i <= m; i++) {
    cur.fill(over);
    const lo = Math.max(1, i - k), hi = Math.min(n, i + k);
    if (i <= k) cur[0] = i;
    let rowMin = cur[0]!;
    for (let j = lo; j <= hi; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, prev2[j - 2]! + 1);
      cur[j] = Math.min(v, over);
      if (cur[j]! < rowMin) rowMin = cur[j]!;
    }
    if (rowMin > k) return over;
    [prev2, prev, cur] = [prev, cur, prev2];
  }
  return Math.min(prev[n]!, over);
}

/** The closest candidate within maxDistance (case-insensitive), or undefined. */
export function closest(word: string, candidates: Iterable<string>, maxDistance = 3): string | undefined {
  if (word.length > MAX_COMPARED) return undefined;
  const limit = Math.min(maxDistance, Math.max(1, Math.ceil(word.length / 2)));
  let best: string | undefined;
  let bestD = Infinity;
  const w = word.toLowerCase();
  for (const c of candidates) {
    if (Math.abs(c.length - word.length) > limit) continue;
    const d = editDistance(w, c.toLowerCase(), limit);
    if (d < bestD || (d === bestD && best !== undefined && c < best)) {
      best = c;
      bestD = d;
    }
  }
  return bestD <= limit ? best : undefined;
}
