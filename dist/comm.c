/* comm.c - the transport-independent parts of comm.h: dtype sizes and names,
 * bf16 / fp16 conversion (IEEE 754 binary16, bfloat16 = the top half of an
 * fp32; round to nearest, ties to even), "any rank" flags and the
 * step-boundary stop agreement.
 */
#include "dist/comm.h"

#include <string.h>

#include "core/check.h"

size_t comm_dtype_bytes(CommDtype dt) {
  switch (dt) {
    case COMM_F32: return 4;
    case COMM_F64: return 8;
    case COMM_BF16: return 2;
    case COMM_F16: return 2;
    case COMM_I32: return 4;
    case COMM_I64: return 8;
    case COMM_U8: return 1;
  }
  FATAL("unknown CommDtype %d", (int)dt);
}

const char *comm_dtype_name(CommDtype dt) {
  static const char *const names[] = {"f32", "f64", "bf16", "f16", "i32", "i64", "u8"};
  CHECK((int)dt >= 0 && (int)dt < (int)(sizeof names / sizeof names[0]), "CommDtype %d",
        (int)dt);
  return names[dt];
}

/* ------------------------------------------------------------ conversion */

static uint32_t f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

static float f32_from_bits(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static float bf16_to_f32(uint16_t h) { return f32_from_bits((uint32_t)h << 16); }

static uint16_t f32_to_bf16(float f) {
  uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* quiet NaN */
  uint32_t bias = 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)((u + bias) >> 16);
}

static float f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return f32_from_bits(sign | 0x7f800000u | (mant << 13));
  if (exp != 0) return f32_from_bits(sign | ((exp + 112u) << 23) | (mant << 13));
  if (mant == 0) return f32_from_bits(sign);
  uint32_t e = 113; /* subnormal: normalise so bit 10 is the implicit one */
  while (!(mant & 0x400u)) {
    mant <<= 1;
    e--;
  }
  return f32_from_bits(sign | (e << 23) | ((mant & 0x3ffu) << 13));
}

/* q + 1 when the dropped bits rem (of `bits` bits) are above half, or exactly
 * half and q is odd. */
static uint32_t round_even(uint32_t q, uint32_t rem, int bits) {
  uint32_t half = 1u << (bits - 1);
  return (rem > half || (rem == half && (q & 1u))) ? q + 1 : q;
}

static uint16_t f32_to_f16(float f) {
  uint32_t u = f32_bits(f);
  uint32_t sign = (u >> 16) & 0x8000u;
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);  /* NaN */
  if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to infinity */
  if (a < 0x38800000u) {                                    /* fp16 subnormal or zero */
    uint32_t exp = a >> 23;
    int shift = 126 - (int)exp;
    if (exp == 0 || shift > 24) return (uint16_t)sign;
    uint32_t mant = (a & 0x7fffffu) | 0x800000u;
    uint32_t q = round_even(mant >> shift, mant & ((1u << shift) - 1u), shift);
    return (uint16_t)(sign | q);
  }
  uint32_t q = (((a >> 23) - 112u) << 10) | ((a & 0x7fffffu) >> 13);
  return (uint16_t)(sign | round_even(q, a & 0x1fffu, 13));
}

void comm_half_to_f32(CommDtype dt, const uint16_t *src, float *dst, size_t n_elems) {
  CHECK(dt == COMM_BF16 || dt == COMM_F16, "comm_half_to_f32 of %s", comm_dtype_name(dt));
  if (dt == COMM_BF16)
    for (size_t i = 0; i < n_elems; i++) dst[i] = bf16_to_f32(src[i]);
  else
    for (size_t i = 0; i < n_elems; i++) dst[i] = f16_to_f32(src[i]);
}

void comm_f32_to_half(CommDtype dt, const float *src, uint16_t *dst, size_t n_elems) {
  CHECK(dt == COMM_BF16 || dt == COMM_F16, "comm_f32_to_half to %s", comm_dtype_name(dt));
  if (dt == COMM_BF16)
    for (size_t i = 0; i < n_elems; i++) dst[i] = f32_to_bf16(src[i]);
  else
    for (size_t i = 0; i < n_elems; i++) dst[i] = f32_to_f16(src[i]);
}

/* ------------------------------------------------------------- agreement */

int comm_any(Comm *c, int local_flag, const char *what) {
  CHECK(!c->device_buffers, "comm_any needs a host communicator, not %s", c->name);
  int32_t flag = local_flag != 0;
  c->allreduce(c, &flag, 1, COMM_I32, COMM_MAX, what);
  return flag != 0;
}

int dist_agree_stop(Comm *c, int local_flag) {
  return comm_any(c, local_flag || dist_stop_signal() != 0,
                  "all-reduce of the stop flag at a step boundary");
}
