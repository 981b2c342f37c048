/* resample.c - Pillow-compatible antialiased bilinear resampling; see
 * resample.h.  The arithmetic (double coefficients, normalisation, rounding to
 * 22-bit fixed point with the sign-aware +-0.5, a 0.5 rounding bias in each
 * pass, clip to 0..255) is Pillow 9's, so results match it bit for bit.
 *
 * Speed: pixels are processed as 4 int32 lanes (RGB + one spare, as Pillow's
 * own RGBX layout), the intermediate is RGBX, the horizontal pass filters two
 * rows per coefficient load, the vertical pass sweeps whole rows per tap, and
 * clipping runs as plain array loops; both passes are compiled twice, for
 * AVX2 and for the baseline ISA, and picked per call with
 * __builtin_cpu_supports, so the compiler vectorises them with exact 32-bit
 * integer multiplies where the CPU has them.  (Not target_clones: its ifunc
 * resolver runs before a sanitizer's runtime is up and crashes TSan builds.) */
#include "data/resample.h"

#include <math.h>
#include <string.h>

#include "core/mem.h"

enum { PRECISION_BITS = 32 - 8 - 2 };

#if defined(__x86_64__) && defined(__GNUC__)
#define RD_HAVE_AVX2_PATH 1
#define RD_TARGET_AVX2 __attribute__((target("avx2")))
#endif
#define RD_ALWAYS_INLINE inline __attribute__((always_inline))

static double bilinear(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

static void grow(ResampleAxis *ax, int n_out, int ksize) {
  if ((size_t)n_out > ax->cap_out) {
    mem_free(ax->first);
    mem_free(ax->count);
    ax->first = mem_alloc_or_die((size_t)n_out * sizeof(int), "resample bounds");
    ax->count = mem_alloc_or_die((size_t)n_out * sizeof(int), "resample bounds");
    ax->cap_out = (size_t)n_out;
  }
  size_t n_coeffs = (size_t)n_out * (size_t)ksize;
  if (n_coeffs > ax->cap_coeffs) {
    mem_free(ax->coeffs);
    ax->coeffs = mem_alloc_or_die(n_coeffs * sizeof(int32_t), "resample coefficients");
    ax->cap_coeffs = n_coeffs;
  }
}

void resample_plan(ResampleAxis *ax, int in_size, double in0, double in1, int out_full,
                   int win0, int n_win) {
  double scale = (in1 - in0) / out_full;
  double filterscale = scale < 1.0 ? 1.0 : scale;
  double support = 1.0 * filterscale;
  int ksize = (int)ceil(support) * 2 + 1;
  grow(ax, n_win, ksize);
  ax->n_out = n_win;
  ax->ksize = ksize;
  ax->src_lo = in_size;
  ax->src_hi = 0;
  for (int i = 0; i < n_win; i++) {
    int xx = win0 + i;
    double center = in0 + (xx + 0.5) * scale;
    double ss = 1.0 / filterscale;
    int xmin = (int)(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = (int)(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; x++) ww += bilinear((x + xmin - center + 0.5) * ss);
    int32_t *kk = ax->coeffs + (size_t)i * ksize;
    for (int x = 0; x < ksize; x++) {
      double w = x < xmax ? bilinear((x + xmin - center + 0.5) * ss) : 0.0;
      if (ww != 0.0) w /= ww;
      kk[x] = w < 0 ? (int32_t)(-0.5 + w * (1 << PRECISION_BITS))
                    : (int32_t)(0.5 + w * (1 << PRECISION_BITS));
    }
    ax->first[i] = xmin;
    ax->count[i] = xmax;
    if (xmax > 0 && xmin < ax->src_lo) ax->src_lo = xmin;
    if (xmin + xmax > ax->src_hi) ax->src_hi = xmin + xmax;
  }
  if (ax->src_lo > ax->src_hi) ax->src_lo = ax->src_hi;
}

/* RGBX intermediate rows, then two int32 accumulator rows. */
size_t resample_tmp_bytes(const ResampleAxis *ax, const ResampleAxis *ay) {
  size_t rows = (size_t)(ay->src_hi - ay->src_lo) * (size_t)ax->n_out * 4;
  return ((rows + 63) & ~(size_t)63) + 2 * (size_t)ax->n_out * 4 * sizeof(int32_t);
}

typedef int32_t V4 __attribute__((vector_size(16)));  /* one pixel: R, G, B, X */

static RD_ALWAYS_INLINE V4 load_rgbx(const uint8_t *p) { return (V4){p[0], p[1], p[2], p[3]}; }
static RD_ALWAYS_INLINE V4 load_rgb(const uint8_t *p) { return (V4){p[0], p[1], p[2], 0}; }

/* Pillow's clip8 over a row of accumulators (a plain loop: it vectorises). */
static RD_ALWAYS_INLINE void narrow_row(const int32_t *acc, uint8_t *out, int n) {
  for (int l = 0; l < n; l++) {
    int32_t v = acc[l] >> PRECISION_BITS;
    v = v < 0 ? 0 : v;
    out[l] = (uint8_t)(v > 255 ? 255 : v);
  }
}

/* Two source rows (bpp = 4: RGBX, 3: RGB) through the horizontal filter into
 * int32 accumulator rows (RGBX lanes); the taps are loaded once for both. */
static RD_ALWAYS_INLINE void rows_horizontal(const ResampleAxis *ax, const uint8_t *r0,
                                             const uint8_t *r1, int bpp, V4 *acc0, V4 *acc1) {
  const V4 bias = {1 << (PRECISION_BITS - 1), 1 << (PRECISION_BITS - 1),
                   1 << (PRECISION_BITS - 1), 1 << (PRECISION_BITS - 1)};
  for (int i = 0; i < ax->n_out; i++) {
    const int32_t *k = ax->coeffs + (size_t)i * ax->ksize;
    size_t at = (size_t)ax->first[i] * bpp;
    const uint8_t *p0 = r0 + at, *p1 = r1 + at;
    V4 a0 = bias, a1 = bias;
    for (int x = 0; x < ax->count[i]; x++) {
      V4 v0 = bpp == 4 ? load_rgbx(p0 + 4 * x) : load_rgb(p0 + 3 * x);
      V4 v1 = bpp == 4 ? load_rgbx(p1 + 4 * x) : load_rgb(p1 + 3 * x);
      a0 += v0 * k[x];
      a1 += v1 * k[x];
    }
    acc0[i] = a0;
    acc1[i] = a1;
  }
}

static RD_ALWAYS_INLINE void pass_horizontal(const ResampleAxis *ax, const ResampleAxis *ay,
                                             const uint8_t *src, size_t src_stride, int bpp,
                                             int x_org, int y_org, uint8_t *tmp, int32_t *acc) {
  V4 *acc0 = (V4 *)acc, *acc1 = acc0 + ax->n_out;
  size_t row_bytes = (size_t)ax->n_out * 4;
  for (int y = ay->src_lo; y < ay->src_hi; y += 2) {
    int y1 = y + 1 < ay->src_hi ? y + 1 : y;
    const uint8_t *r0 = src + (size_t)(y - y_org) * src_stride - (ptrdiff_t)x_org * bpp;
    const uint8_t *r1 = src + (size_t)(y1 - y_org) * src_stride - (ptrdiff_t)x_org * bpp;
    if (bpp == 4)
      rows_horizontal(ax, r0, r1, 4, acc0, acc1);
    else
      rows_horizontal(ax, r0, r1, 3, acc0, acc1);
    uint8_t *out = tmp + (size_t)(y - ay->src_lo) * row_bytes;
    narrow_row((const int32_t *)acc0, out, (int)row_bytes);
    if (y1 != y) narrow_row((const int32_t *)acc1, out + row_bytes, (int)row_bytes);
  }
}

/* tmp (RGBX rows) -> dst (ay.n_out, ax.n_out, 3); acc: 2 x ax.n_out x 4 int32. */
static RD_ALWAYS_INLINE void pass_vertical(const ResampleAxis *ax, const ResampleAxis *ay,
                                           const uint8_t *tmp, int32_t *acc, uint8_t *dst,
                                           size_t dst_stride) {
  size_t tmp_stride = (size_t)ax->n_out * 4;
  int n = ax->n_out * 4;
  uint8_t *rgbx = (uint8_t *)(acc + n);
  for (int j = 0; j < ay->n_out; j++) {
    const int32_t *k = ay->coeffs + (size_t)j * ay->ksize;
    const uint8_t *base = tmp + (size_t)(ay->first[j] - ay->src_lo) * tmp_stride;
    for (int l = 0; l < n; l++) acc[l] = 1 << (PRECISION_BITS - 1);
    for (int y = 0; y < ay->count[j]; y++) {
      const uint8_t *row = base + (size_t)y * tmp_stride;
      int32_t ky = k[y];
      for (int l = 0; l < n; l++) acc[l] += (int32_t)row[l] * ky;
    }
    narrow_row(acc, rgbx, n);
    uint8_t *out = dst + (size_t)j * dst_stride;
    for (int i = 0; i < ax->n_out; i++) {
      out[3 * i] = rgbx[4 * i];
      out[3 * i + 1] = rgbx[4 * i + 1];
      out[3 * i + 2] = rgbx[4 * i + 2];
    }
  }
}

/* Both passes, compiled for the baseline ISA. */
static void run_baseline(const ResampleAxis *ax, const ResampleAxis *ay, const uint8_t *src,
                         size_t src_stride, int bpp, int x_org, int y_org, uint8_t *tmp,
                         int32_t *acc, uint8_t *dst, size_t dst_stride) {
  pass_horizontal(ax, ay, src, src_stride, bpp, x_org, y_org, tmp, acc);
  pass_vertical(ax, ay, tmp, acc, dst, dst_stride);
}

#ifdef RD_HAVE_AVX2_PATH
/* The same, compiled for AVX2. */
RD_TARGET_AVX2
static void run_avx2(const ResampleAxis *ax, const ResampleAxis *ay, const uint8_t *src,
                     size_t src_stride, int bpp, int x_org, int y_org, uint8_t *tmp,
                     int32_t *acc, uint8_t *dst, size_t dst_stride) {
  pass_horizontal(ax, ay, src, src_stride, bpp, x_org, y_org, tmp, acc);
  pass_vertical(ax, ay, tmp, acc, dst, dst_stride);
}
#endif

void resample_run(const ResampleAxis *ax, const ResampleAxis *ay, const uint8_t *src,
                  size_t src_stride, int src_bpp, int x_org, int y_org, uint8_t *tmp,
                  uint8_t *dst, size_t dst_stride) {
  size_t rows = (size_t)(ay->src_hi - ay->src_lo) * (size_t)ax->n_out * 4;
  int32_t *acc = (int32_t *)(tmp + ((rows + 63) & ~(size_t)63));
#ifdef RD_HAVE_AVX2_PATH
  if (__builtin_cpu_supports("avx2")) {
    run_avx2(ax, ay, src, src_stride, src_bpp, x_org, y_org, tmp, acc, dst, dst_stride);
    return;
  }
#endif
  run_baseline(ax, ay, src, src_stride, src_bpp, x_org, y_org, tmp, acc, dst, dst_stride);
}

void resample_axis_free(ResampleAxis *ax) {
  mem_free(ax->first);
  mem_free(ax->count);
  mem_free(ax->coeffs);
  memset(ax, 0, sizeof *ax);
}
