/* test_comm_convert.c - bf16 / fp16 conversion used by comm_mpi for
 * half-precision reductions: known values, ties to even, overflow,
 * subnormals, and the exhaustive round trip of all 65536 encodings. */
#include <math.h>
#include <stdint.h>

#include "dist/comm.h"
#include "test_util.h"

static uint16_t to_half(CommDtype dt, float f) {
  uint16_t h;
  comm_f32_to_half(dt, &f, &h, 1);
  return h;
}

static float from_half(CommDtype dt, uint16_t h) {
  float f;
  comm_half_to_f32(dt, &h, &f, 1);
  return f;
}

static void test_known_values(void) {
  T_CHECK(to_half(COMM_BF16, 1.0f) == 0x3f80, "bf16(1) = %04x", to_half(COMM_BF16, 1.0f));
  T_CHECK(to_half(COMM_BF16, -2.0f) == 0xc000, "bf16(-2)");
  /* 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties to even (1). */
  T_CHECK(to_half(COMM_BF16, 1.0f + 0x1p-8f) == 0x3f80, "bf16 tie down");
  T_CHECK(to_half(COMM_BF16, 1.0f + 3 * 0x1p-8f) == 0x3f82, "bf16 tie up");
  T_CHECK(to_half(COMM_F16, 1.0f) == 0x3c00, "f16(1) = %04x", to_half(COMM_F16, 1.0f));
  T_CHECK(to_half(COMM_F16, 65504.0f) == 0x7bff, "f16 max");
  T_CHECK(to_half(COMM_F16, 65519.0f) == 0x7bff, "f16 just below the overflow tie");
  T_CHECK(to_half(COMM_F16, 65520.0f) == 0x7c00, "f16 overflow tie rounds to inf");
  T_CHECK(to_half(COMM_F16, 0x1p-24f) == 0x0001, "f16 smallest subnormal");
  T_CHECK(to_half(COMM_F16, 0x1p-25f) == 0x0000, "f16 half of the smallest subnormal: even");
  T_CHECK(to_half(COMM_F16, 3 * 0x1p-25f) == 0x0002, "f16 1.5 ulp subnormal: even");
  T_CHECK(to_half(COMM_F16, 0x1p-14f) == 0x0400, "f16 smallest normal");
  T_CHECK(to_half(COMM_F16, -0.0f) == 0x8000, "f16 -0");
  T_CHECK(to_half(COMM_F16, INFINITY) == 0x7c00, "f16 inf");
  T_CHECK(isnan(from_half(COMM_F16, to_half(COMM_F16, NAN))), "f16 NaN");
  T_CHECK(isnan(from_half(COMM_BF16, to_half(COMM_BF16, NAN))), "bf16 NaN");
  T_CHECK(from_half(COMM_F16, 0x0001) == 0x1p-24f, "f16 subnormal decode");
  T_CHECK(from_half(COMM_F16, 0x3555) == 0x1.554p-2f, "f16 decode 0x3555");
}

static void test_round_trip_all(void) {
  CommDtype types[2] = {COMM_BF16, COMM_F16};
  for (int t = 0; t < 2; t++) {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
      float f = from_half(types[t], (uint16_t)h);
      if (isnan(f)) continue;
      bad += to_half(types[t], f) != h;
    }
    T_CHECK(bad == 0, "%s: %d encodings do not round-trip", comm_dtype_name(types[t]), bad);
  }
}

/* Every fp32 between two neighbouring fp16 values rounds to the nearer. */
static void test_rounding_is_nearest(void) {
  int bad = 0;
  for (uint32_t h = 0x0001; h < 0x7bff; h += 97) {
    float lo = from_half(COMM_F16, (uint16_t)h), hi = from_half(COMM_F16, (uint16_t)(h + 1));
    float a = lo + (hi - lo) * 0.25f, b = lo + (hi - lo) * 0.75f;
    bad += to_half(COMM_F16, a) != h || to_half(COMM_F16, b) != h + 1;
  }
  T_CHECK(bad == 0, "%d fp16 intervals round wrongly", bad);
}

int main(void) {
  TEST_RUN(test_known_values);
  TEST_RUN(test_round_trip_all);
  TEST_RUN(test_rounding_is_nearest);
  return test_summary();
}
