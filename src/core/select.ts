/** Order statistics on typed arrays, shared by the FITS statistics and the pipeline. */

export type SortableArray = Float32Array | Float64Array;

function swap(a: SortableArray, i: number, j: number): void {
  const t = a[i];
  a[i] = a[j];
  a[j] = t;
}

/**
 * Rearranges a[lo..hi) so that a[k] holds the value it would have if sorted, everything before
 * it is <= a[k] and everything after it is >= a[k]. Returns a[k]. NaN must not be present.
 */
export function selectInPlace(a: SortableArray, lo: number, hi: number, k: number): number {
  let l = lo;
  let r = hi - 1;
  while (r > l) {
    // Median of three as the pivot, moved to a[k].
    const m = (l + r) >>> 1;
    if (a[m] < a[l]) swap(a, m, l);
    if (a[r] < a[l]) swap(a, r, l);
    if (a[r] < a[m]) swap(a, r, m);
    const pivot = a[m];
    let i = l;
    let j = r;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) r = j;
    else if (k >= i) l = i;
    else break;
  }
  return a[k];
}
