// One-dimensional correlation passes over float32 rows, four pixels per SIMD lane group.
//
//   hpass: out[x] = Σ_t c_t · row[x + t]                    x ∈ [0, n)
//   vpass: dst[k·W + x] (+)= Σ_t c_t · src[(k + t)·W + x]   k ∈ [0, nRows), x ∈ [x0, x1)
//
// Pointers are byte offsets into this module's memory; taps are float32. Sums run in tap order
// in float32. Lanes past the end are computed from whatever follows the buffers (the caller
// leaves slack there) and are not stored: the tail of a row runs one pixel at a time.

export function hpass(row: usize, out: usize, n: i32, taps: usize, T: i32): void {
  const n4 = n & ~3;
  for (let x = 0; x < n4; x += 4) {
    let acc = f32x4.splat(0);
    let p = row + (<usize>x << 2);
    for (let t = 0; t < T; t++, p += 4) {
      acc = f32x4.add(acc, f32x4.mul(v128.load(p), f32x4.splat(load<f32>(taps + (<usize>t << 2)))));
    }
    v128.store(out + (<usize>x << 2), acc);
  }
  for (let x = n4; x < n; x++) {
    let s: f32 = 0;
    for (let t = 0; t < T; t++) s += load<f32>(taps + (<usize>t << 2)) * load<f32>(row + (<usize>(x + t) << 2));
    store<f32>(out + (<usize>x << 2), s);
  }
}

export function vpass(src: usize, dst: usize, W: i32, nRows: i32, x0: i32, x1: i32, taps: usize, T: i32, accumulate: bool): void {
  const stride = <usize>W << 2;
  const end4 = x0 + ((x1 - x0) & ~3);
  for (let k = 0; k < nRows; k++) {
    const s0 = src + <usize>k * stride;
    const d0 = dst + <usize>k * stride;
    for (let x = x0; x < end4; x += 4) {
      const off = <usize>x << 2;
      let acc = f32x4.splat(0);
      let p = s0 + off;
      for (let t = 0; t < T; t++, p += stride) {
        acc = f32x4.add(acc, f32x4.mul(v128.load(p), f32x4.splat(load<f32>(taps + (<usize>t << 2)))));
      }
      if (accumulate) acc = f32x4.add(acc, v128.load(d0 + off));
      v128.store(d0 + off, acc);
    }
    for (let x = end4; x < x1; x++) {
      const off = <usize>x << 2;
      let s: f32 = 0;
      let p = s0 + off;
      for (let t = 0; t < T; t++, p += stride) s += load<f32>(taps + (<usize>t << 2)) * load<f32>(p);
      if (accumulate) s += load<f32>(d0 + off);
      store<f32>(d0 + off, s);
    }
  }
}
