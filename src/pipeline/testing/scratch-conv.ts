import { convolveSeparable, gaussianKernel } from '../stages/detection/detection.ts';
const W = 4072, H = 4000, n = W * H;
const src = new Float32Array(n); for (let i = 0; i < n; i++) src[i] = (i * 7919) % 1000;
const k = gaussianKernel(1.7, 6);
const tmp = new Float32Array(n), dst = new Float32Array(n);
const mask = new Int32Array(n);
// variant: vertical by row accumulation
function vAccum(tmp: Float32Array, dst: Float32Array, kernel: Float32Array) {
  const r = (kernel.length - 1) >> 1;
  const acc = new Float64Array(W);
  for (let y = r; y < H - r; y++) {
    const out = y * W;
    const kc = kernel[r];
    for (let x = 0; x < W; x++) acc[x] = kc * tmp[out + x];
    for (let j = 1; j <= r; j++) {
      const kj = kernel[r + j];
      const a = out - j * W, b = out + j * W;
      for (let x = 0; x < W; x++) acc[x] += kj * (tmp[a + x] + tmp[b + x]);
    }
    for (let x = 0; x < W; x++) dst[out + x] = acc[x];
  }
}
function hOnly(src: Float32Array, tmp: Float32Array, kernel: Float32Array) {
  const r = (kernel.length - 1) >> 1;
  const kc = kernel[r];
  const kh = new Float64Array(r + 1);
  for (let j = 0; j <= r; j++) kh[j] = kernel[r + j];
  const row = new Float32Array(W + 2 * r);
  for (let y = 0; y < H; y++) {
    const base = y * W;
    row.set(src.subarray(base, base + W), r);
    for (let x = 0; x < W; x++) {
      const c = x + r;
      let s = kc * row[c];
      for (let j = 1; j <= r; j++) s += kh[j] * (row[c - j] + row[c + j]);
      tmp[base + x] = s;
    }
  }
}
function hUnrolled6(src: Float32Array, tmp: Float32Array, kernel: Float32Array) {
  const r = 6;
  const k0 = kernel[r], k1 = kernel[r+1], k2 = kernel[r+2], k3 = kernel[r+3], k4 = kernel[r+4], k5 = kernel[r+5], k6 = kernel[r+6];
  const row = new Float64Array(W + 2 * r);
  for (let y = 0; y < H; y++) {
    const base = y * W;
    for (let x = 0; x < W; x++) row[x + r] = src[base + x];
    for (let x = 0; x < W; x++) {
      const c = x + r;
      tmp[base + x] = k0 * row[c] + k1 * (row[c - 1] + row[c + 1]) + k2 * (row[c - 2] + row[c + 2]) + k3 * (row[c - 3] + row[c + 3]) + k4 * (row[c - 4] + row[c + 4]) + k5 * (row[c - 5] + row[c + 5]) + k6 * (row[c - 6] + row[c + 6]);
    }
  }
}
for (let rep = 0; rep < 4; rep++) {
  let t = performance.now();
  convolveSeparable(src, W, H, k, tmp, dst, mask, 1);
  const t1 = performance.now();
  hOnly(src, tmp, k);
  const t2 = performance.now();
  vAccum(tmp, dst, k);
  const t3 = performance.now();
  hUnrolled6(src, tmp, k);
  const t4 = performance.now();
  console.log('full', (t1 - t).toFixed(0), 'h', (t2 - t1).toFixed(0), 'vAccum', (t3 - t2).toFixed(0), 'hUnrolled', (t4 - t3).toFixed(0));
}
