/* comm_mpi.c - comm.h over MPI, on host buffers.
 *
 * Every operation is non-blocking and completed under the watchdog
 * (watchdog.h): a blocking operation is "start, then watchdog_wait", so no
 * rank can wait forever.  Errors return (MPI_ERRORS_RETURN) to MPI_CHECK.
 *
 * All-reduce runs our own schedule of MPI_Isend / MPI_Irecv rounds, advanced
 * by test and wait (each poll advances every all-reduce in flight, of every
 * communicator), not Open MPI's non-blocking collectives (libnbc: in place
 * on 2-3 ranks it reduces everything on one rank and sends it back, 1.2-2.4x
 * slower than MPI_Allreduce; docs/PERFORMANCE.md).  Two schedules
 * (schedule_round; sizes that are not a power of two fold the extra ranks
 * into their neighbours first and hand them the result last):
 *   up to SMALL_BYTES  recursive doubling: log2(size) exchanges of the whole
 *                      buffer, in eager-sized pieces all in flight at once
 *                      (on more than 2 ranks also up to MID_BYTES, in one
 *                      piece: half the rounds of halving);
 *   above              recursive halving then doubling (Rabenseifner):
 *                      reduce-scatter and all-gather in 2 log2(size) rounds,
 *                      each rank sending and reducing 1/size of the data per
 *                      round as in a ring but in fewer rounds (what counts
 *                      when ranks outnumber cores), in pieces of PIECE_BYTES
 *                      with HALVING_SLOTS pieces in flight, so one piece's
 *                      reduction overlaps the next one's copy.
 * A thread calling blocking MPI_Allreduce would be simpler but needs
 * MPI_THREAD_MULTIPLE (dist.c asks for FUNNELED), and chunked
 * MPI_Iallreduce keeps libnbc's one-rank reduction.
 * Rounds are rank-symmetric MPI point-to-point messages on the
 * communicator's own tags (one per piece), so several all-reduces may be in
 * flight at once and complete in any order; other operations (broadcast,
 * all-gather, barrier) are MPI-3 non-blocking collectives.  Only the thread
 * that calls comm_mpi calls MPI (MPI_THREAD_FUNNELED, as dist.c asks).
 *
 * Semantics:
 *   results    bit-identical on every member: halving reduces each element
 *              on one rank and copies it to the others; doubling combines
 *              two partial results as op(lower ranks' part, higher ranks'
 *              part) on both partners.  The order is fixed by the size and
 *              the count, never by timing.
 *   COMM_AVG   sum, then divide by the communicator size in the buffer's own
 *              type (float types only).
 *   bf16/fp16  converted to an fp32 scratch copy, reduced in fp32, divided
 *              (AVG), rounded back once (nearest even): more accurate than
 *              pairwise half-precision sums.
 *   integers   sums wrap around (two's complement), like MPI_SUM.
 *   counts     above 2^30 elements: all-reduce pieces are small anyway;
 *              broadcasts are split into several MPI calls.
 * A communicator of size 1 (also the one made without MPI) does no MPI at all.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <mpi.h>

#include "core/check.h"
#include "core/check_mpi.h"
#include "core/mem.h"
#include "core/timer.h"
#include "dist/comm.h"
#include "dist/watchdog.h"

enum { WHAT_MAX = 160, MAX_SLOTS = 8, HALVING_SLOTS = 4 };
static const size_t CHUNK_ELEMS = (size_t)1 << 30; /* fits MPI's int counts */
/* Recursive doubling up to SMALL_BYTES, in pieces of at most EAGER_BYTES
 * (Open MPI's shared-memory transport sends messages up to its 4 KiB eager
 * limit, headers included, by copy; larger ones by a rendezvous and a
 * single-copy read that costs several microseconds more), and on more than
 * 2 ranks up to MID_BYTES in one piece.  Above, halving in pieces of
 * PIECE_BYTES, HALVING_SLOTS of them in flight.  Measured on the CI machine
 * at 2 and 4 ranks (docs/PERFORMANCE.md). */
static const size_t SMALL_BYTES = (size_t)16 << 10;
static const size_t MID_BYTES = (size_t)64 << 10;
static const size_t EAGER_BYTES = 4000;
static const size_t PIECE_BYTES = (size_t)1 << 20;
/* A wait polls without yielding the core for this long first: a small
 * all-reduce completes in a few microseconds, and a yield that hands the core
 * to another process costs far more. */
static const uint64_t SPIN_NS = 20000;

typedef struct {
  MPI_Comm comm;     /* MPI_COMM_NULL for the MPI-free size-1 communicator */
  size_t tag_mod;    /* MPI_TAG_UB + 1 */
  size_t next_tag;   /* first tag of the next all-reduce (same on every member) */
  char *spare;       /* a finished all-reduce's receive scratch, kept for the next */
  size_t spare_bytes;
  CommRequest *spare_request; /* a freed request, kept for the next */
} MpiImpl;

typedef enum { SCHED_DOUBLING, SCHED_HALVING } SchedKind;

/* One round of a schedule on one rank: a send and a receive (either may be
 * MPI_PROC_NULL), offsets and counts in elements of the data. */
typedef struct {
  int send_to, recv_from;
  size_t send_off, send_n;
  size_t recv_off, recv_n;
  int reduce;     /* received values are combined into the data at recv_off */
  int recv_first; /* ... as op(received, own), else op(own, received) */
} Round;

/* A piece of an all-reduce in progress: its current round's requests. */
typedef struct {
  int active;
  size_t piece;
  int step;
  Round round;
  char *scratch; /* this slot's receive buffer for reducing rounds */
} Slot;

struct CommRequest {
  Comm *comm;
  MPI_Request *reqs; /* collectives (broadcast, all-gather, barrier) */
  int n_reqs;
  void *buf;         /* the caller's buffer (count elements of dt) */
  size_t count;
  CommDtype dt;
  CommOp op;
  float *half_copy;  /* fp32 copy of a bf16/fp16 buffer, reduced in place */
  char what[WHAT_MAX];

  /* All-reduce schedule (scheduled = 1) over data = buf or half_copy. */
  int scheduled, finished;
  SchedKind kind;
  char *data;
  CommDtype red_dt;  /* dt, or COMM_F32 for the half types */
  size_t elem_bytes;
  size_t piece_elems, n_pieces, next_piece;
  size_t tag_base;
  int n_slots;
  Slot slots[MAX_SLOTS];
  MPI_Request preq[2 * MAX_SLOTS]; /* slot i: receive 2i, send 2i + 1 */
  char *scratch;
  size_t scratch_bytes;
  CommRequest *prev, *next; /* g_in_flight */
};

/* Every unfinished all-reduce schedule of every communicator: each poll
 * advances all of them (single MPI thread, so no lock). */
static CommRequest *g_in_flight;

static MpiImpl *impl_of(const Comm *c) { return c->impl; }
static MPI_Comm mpi_comm(const Comm *c) { return impl_of(c)->comm; }

static int is_half(CommDtype dt) { return dt == COMM_BF16 || dt == COMM_F16; }
static int is_float(CommDtype dt) { return dt == COMM_F32 || dt == COMM_F64 || is_half(dt); }

/* --------------------------------------------------------------- reduction */

#define RD_ADD(a, b) ((a) + (b))
#define RD_ADD_I32(a, b) ((int32_t)((uint32_t)(a) + (uint32_t)(b)))
#define RD_ADD_I64(a, b) ((int64_t)((uint64_t)(a) + (uint64_t)(b)))
#define RD_ADD_U8(a, b) ((uint8_t)((a) + (b)))
#define RD_MAX(a, b) ((b) > (a) ? (b) : (a))
#define RD_MIN(a, b) ((b) < (a) ? (b) : (a))

#define RD_REDUCE_LOOP(F)                                           \
  do {                                                              \
    if (recv_first)                                                 \
      for (size_t i = 0; i < n; i++) own[i] = F(in[i], own[i]);     \
    else                                                            \
      for (size_t i = 0; i < n; i++) own[i] = F(own[i], in[i]);     \
  } while (0)

/* own[i] = op(in[i], own[i]) when recv_first, else op(own[i], in[i]). */
#define RD_DEFINE_REDUCE(name, T, ADD, ATTR)                                                \
  ATTR static void name(T *restrict own, const T *restrict in, size_t n, CommOp op,        \
                        int recv_first) {                                                  \
    if (op == COMM_MAX) RD_REDUCE_LOOP(RD_MAX);                                            \
    else if (op == COMM_MIN) RD_REDUCE_LOOP(RD_MIN);                                       \
    else RD_REDUCE_LOOP(ADD);                                                              \
  }

/* Every kernel for one instruction set. */
#define RD_DEFINE_REDUCERS(suffix, ATTR)                             \
  RD_DEFINE_REDUCE(reduce_f32_##suffix, float, RD_ADD, ATTR)         \
  RD_DEFINE_REDUCE(reduce_f64_##suffix, double, RD_ADD, ATTR)        \
  RD_DEFINE_REDUCE(reduce_i32_##suffix, int32_t, RD_ADD_I32, ATTR)   \
  RD_DEFINE_REDUCE(reduce_i64_##suffix, int64_t, RD_ADD_I64, ATTR)   \
  RD_DEFINE_REDUCE(reduce_u8_##suffix, uint8_t, RD_ADD_U8, ATTR)

#define RD_REDUCE_DISPATCH(suffix)                                               \
  switch (dt) {                                                                  \
    case COMM_F32: reduce_f32_##suffix(own, in, n, op, recv_first); return;      \
    case COMM_F64: reduce_f64_##suffix(own, in, n, op, recv_first); return;      \
    case COMM_I32: reduce_i32_##suffix(own, in, n, op, recv_first); return;      \
    case COMM_I64: reduce_i64_##suffix(own, in, n, op, recv_first); return;      \
    case COMM_U8: reduce_u8_##suffix(own, in, n, op, recv_first); return;        \
    case COMM_BF16:                                                              \
    case COMM_F16: break; /* reduced on the fp32 copy */                         \
  }

/* Compiled for the baseline ISA and, on x86-64, again for AVX2, picked per
 * call (as in data/resample.c); the same operations in the same order, so
 * the results are identical either way. */
RD_DEFINE_REDUCERS(base, )
#if defined(__x86_64__) && defined(__GNUC__)
#define RD_HAVE_AVX2_PATH 1
RD_DEFINE_REDUCERS(avx2, __attribute__((target("avx2"))))
#endif

static void reduce_into(void *own, const void *in, size_t n, CommDtype dt, CommOp op,
                        int recv_first) {
#ifdef RD_HAVE_AVX2_PATH
  if (__builtin_cpu_supports("avx2")) {
    RD_REDUCE_DISPATCH(avx2)
    FATAL("no reduction for %s", comm_dtype_name(dt));
  }
#endif
  RD_REDUCE_DISPATCH(base)
  FATAL("no reduction for %s", comm_dtype_name(dt));
}

static void divide_by_size(void *buf, size_t n, CommDtype dt, int size) {
  if (dt == COMM_F64) {
    double *p = buf, s = (double)size;
    for (size_t i = 0; i < n; i++) p[i] /= s;
    return;
  }
  float *p = buf, s = (float)size;
  for (size_t i = 0; i < n; i++) p[i] /= s;
}

/* --------------------------------------------------------------- schedules */


static Round empty_round(void) {
  return (Round){.send_to = MPI_PROC_NULL, .recv_from = MPI_PROC_NULL};
}

static void piece_range(const CommRequest *r, size_t piece, size_t *lo, size_t *n) {
  *lo = piece * r->piece_elems;
  *n = r->count - *lo < r->piece_elems ? r->count - *lo : r->piece_elems;
}

static Round send_round(int to, size_t off, size_t n) {
  return (Round){.send_to = to, .recv_from = MPI_PROC_NULL, .send_off = off, .send_n = n};
}

static Round recv_round(int from, size_t off, size_t n, int reduce) {
  return (Round){.send_to = MPI_PROC_NULL, .recv_from = from, .recv_off = off, .recv_n = n,
                 .reduce = reduce, .recv_first = 1};
}

/* Partner of virtual rank v at distance d, as a real rank (see below). */
static int partner_rank(int v, int d, int rem) {
  int pv = v ^ d;
  return pv < rem ? 2 * pv + 1 : pv + rem;
}

/* The part [*a, *b) of the piece [lo, lo + n) that virtual rank v keeps
 * after `bits` halving steps: split in two, top bit of v first. */
static void halved_range(size_t lo, size_t n, int v, int levels, int bits, size_t *a,
                         size_t *b) {
  *a = lo;
  *b = lo + n;
  for (int i = 0; i < bits; i++) {
    size_t mid = *a + (*b - *a) / 2;
    if ((v >> (levels - 1 - i)) & 1) *a = mid;
    else *b = mid;
  }
}

/* Round `step` of one piece; 0 past the end.  With p2 the largest power of
 * two <= p and rem = p - p2, ranks below 2 rem pair up in step 0 (even sends
 * its piece to odd, which reduces), the p2 remaining "virtual" ranks v run
 * the middle steps, and in the last step each odd rank of a pair sends the
 * result back to its even one.  Middle steps:
 *   doubling  log2(p2) exchanges of the whole piece with v ^ 1, v ^ 2, ...;
 *   halving   (Rabenseifner) log2(p2) reduce-scatter steps, each with half
 *             of the previous range (partners v ^ p2/2, ..., v ^ 1), then
 *             log2(p2) all-gather steps that double it back.
 * A reduction combines two partial results as op(lower ranks' part, higher
 * ranks' part) on both partners (doubling); with halving each element is
 * reduced on one rank only and copied to the others. */
static int schedule_round(const CommRequest *r, size_t piece, int step, Round *out) {
  int p = r->comm->size, me = r->comm->rank;
  int p2 = 1, levels = 0;
  while (p2 * 2 <= p) {
    p2 *= 2;
    levels++;
  }
  int rem = p - p2;
  int folded = me < 2 * rem; /* takes part in the fold */
  int halving = r->kind == SCHED_HALVING;
  int middle = halving ? 2 * levels : levels;
  size_t lo, n;
  piece_range(r, piece, &lo, &n);
  *out = empty_round();
  if (step > middle + 1) return 0;
  if (step == 0) {
    if (folded) *out = me % 2 == 0 ? send_round(me + 1, lo, n) : recv_round(me - 1, lo, n, 1);
    return 1;
  }
  if (step == middle + 1) {
    if (folded) *out = me % 2 == 1 ? send_round(me - 1, lo, n) : recv_round(me + 1, lo, n, 0);
    return 1;
  }
  if (folded && me % 2 == 0) return 1; /* sits out until the result comes back */
  int v = folded ? me / 2 : me - rem;
  if (!halving) {
    int partner = partner_rank(v, 1 << (step - 1), rem);
    *out = (Round){.send_to = partner, .recv_from = partner, .send_off = lo, .send_n = n,
                   .recv_off = lo, .recv_n = n, .reduce = 1, .recv_first = partner < me};
    return 1;
  }
  size_t a, b, pa, pb;
  if (step <= levels) { /* reduce-scatter: keep one half of [a, b), send the other */
    int bit = levels - step;
    int partner = partner_rank(v, 1 << bit, rem);
    halved_range(lo, n, v, levels, step - 1, &a, &b);
    size_t mid = a + (b - a) / 2;
    int upper = (v >> bit) & 1;
    size_t keep0 = upper ? mid : a, keep1 = upper ? b : mid;
    size_t send0 = upper ? a : mid, send1 = upper ? mid : b;
    *out = (Round){.send_to = partner, .recv_from = partner, .send_off = send0,
                   .send_n = send1 - send0, .recv_off = keep0, .recv_n = keep1 - keep0,
                   .reduce = 1, .recv_first = partner < me};
    return 1;
  }
  int bit = step - levels - 1; /* all-gather: swap ranges with the sibling */
  int partner = partner_rank(v, 1 << bit, rem);
  halved_range(lo, n, v, levels, levels - bit, &a, &b);
  halved_range(lo, n, v ^ (1 << bit), levels, levels - bit, &pa, &pb);
  *out = (Round){.send_to = partner, .recv_from = partner, .send_off = a, .send_n = b - a,
                 .recv_off = pa, .recv_n = pb - pa, .reduce = 0, .recv_first = 0};
  return 1;
}

static int piece_tag(const CommRequest *r, size_t piece) {
  return (int)((r->tag_base + piece) % impl_of(r->comm)->tag_mod);
}

/* Posts the slot's next non-empty round, moving on to the next piece when
 * its piece is done; the slot goes idle when no piece is left. */
static void slot_post(CommRequest *r, int i) {
  Slot *s = &r->slots[i];
  for (;;) {
    Round rd;
    if (!schedule_round(r, s->piece, s->step, &rd)) {
      if (r->next_piece == r->n_pieces) {
        s->active = 0;
        return;
      }
      s->piece = r->next_piece++;
      s->step = 0;
      continue;
    }
    if (rd.send_to == MPI_PROC_NULL && rd.recv_from == MPI_PROC_NULL) {
      s->step++;
      continue;
    }
    s->round = rd;
    MPI_Comm comm = mpi_comm(r->comm);
    int tag = piece_tag(r, s->piece);
    size_t eb = r->elem_bytes;
    char *recv_to = rd.reduce ? s->scratch : r->data + rd.recv_off * eb;
    CHECK(rd.recv_n * eb <= INT_MAX && rd.send_n * eb <= INT_MAX, "all-reduce round of %zu "
          "bytes (%s)", (rd.recv_n > rd.send_n ? rd.recv_n : rd.send_n) * eb, r->what);
    MPI_CHECK(MPI_Irecv(recv_to, (int)(rd.recv_n * eb), MPI_BYTE, rd.recv_from, tag, comm,
                        &r->preq[2 * i]));
    MPI_CHECK(MPI_Isend(r->data + rd.send_off * eb, (int)(rd.send_n * eb), MPI_BYTE, rd.send_to,
                        tag, comm, &r->preq[2 * i + 1]));
    return;
  }
}

static void slot_complete_round(CommRequest *r, int i) {
  Slot *s = &r->slots[i];
  const Round *rd = &s->round;
  if (rd->reduce && rd->recv_from != MPI_PROC_NULL)
    reduce_into(r->data + rd->recv_off * r->elem_bytes, s->scratch, rd->recv_n, r->red_dt, r->op,
                rd->recv_first);
  s->step++;
  slot_post(r, i);
}

static void in_flight_remove(CommRequest *r) {
  if (r->prev) r->prev->next = r->next;
  else g_in_flight = r->next;
  if (r->next) r->next->prev = r->prev;
  r->prev = r->next = NULL;
}

/* Completes every round that has arrived, posting the next ones, until
 * nothing more has; never blocks. */
static void schedule_advance(CommRequest *r) {
  while (!r->finished) {
    int n_done = 0;
    int idx[2 * MAX_SLOTS];
    MPI_CHECK(MPI_Testsome(2 * r->n_slots, r->preq, &n_done, idx, MPI_STATUSES_IGNORE));
    int any_active = 0;
    for (int i = 0; i < r->n_slots; i++) {
      Slot *s = &r->slots[i];
      if (s->active && r->preq[2 * i] == MPI_REQUEST_NULL &&
          r->preq[2 * i + 1] == MPI_REQUEST_NULL)
        slot_complete_round(r, i);
      any_active |= s->active;
    }
    if (!any_active) {
      r->finished = 1;
      in_flight_remove(r);
    }
    if (n_done == 0 || n_done == MPI_UNDEFINED) break;
  }
}

static void advance_all(void) {
  CommRequest *r = g_in_flight;
  while (r) {
    CommRequest *next = r->next; /* r may leave the list */
    schedule_advance(r);
    r = next;
  }
}

/* ------------------------------------------------------------- requests */

/* Requests are recycled through the communicator (one spare): small
 * all-reduces are a few microseconds, an allocation is a visible part. */
static CommRequest *request_new(Comm *c, const char *what, size_t n_reqs) {
  MpiImpl *impl = impl_of(c);
  CommRequest *r = impl->spare_request;
  impl->spare_request = NULL;
  if (!r) r = mem_alloc_or_die(sizeof *r, "comm request");
  memset(r, 0, sizeof *r);
  r->comm = c;
  const char *w = what ? what : "collective";
  size_t len = strnlen(w, sizeof r->what - 1);
  memcpy(r->what, w, len);
  r->what[len] = '\0';
  if (n_reqs) {
    CHECK(n_reqs <= INT_MAX, "%zu MPI requests", n_reqs);
    r->reqs = mem_alloc_or_die(n_reqs * sizeof *r->reqs, "MPI requests");
    r->n_reqs = (int)n_reqs;
  }
  return r;
}

static int request_done(void *ctx) {
  CommRequest *r = ctx;
  if (r->scheduled) {
    advance_all();
    return r->finished;
  }
  if (!r->n_reqs) return 1;
  int flag = 0;
  MPI_CHECK(MPI_Testall(r->n_reqs, r->reqs, &flag, MPI_STATUSES_IGNORE));
  return flag;
}

static char *scratch_take(MpiImpl *impl, size_t bytes) {
  if (impl->spare && impl->spare_bytes >= bytes) {
    char *s = impl->spare;
    impl->spare = NULL;
    return s;
  }
  return mem_alloc_or_die(bytes, "all-reduce receive scratch");
}

static void scratch_give_back(MpiImpl *impl, char *s, size_t bytes) {
  if (!s) return;
  if (impl->spare && impl->spare_bytes >= bytes) {
    mem_free(s);
    return;
  }
  mem_free(impl->spare);
  impl->spare = s;
  impl->spare_bytes = bytes;
}

/* Post-processing of a completed all-reduce, then the request is freed. */
static void request_finish(CommRequest *r) {
  if (r->scheduled) {
    void *data = r->data;
    if (r->op == COMM_AVG) divide_by_size(data, r->count, r->red_dt, r->comm->size);
    if (r->half_copy) comm_f32_to_half(r->dt, r->half_copy, r->buf, r->count);
    scratch_give_back(impl_of(r->comm), r->scratch, r->scratch_bytes);
  }
  mem_free(r->half_copy);
  mem_free(r->reqs);
  MpiImpl *impl = impl_of(r->comm);
  if (impl->spare_request) mem_free(r);
  else impl->spare_request = r;
}

static int mpi_test(Comm *c, CommRequest *r) {
  if (!request_done(r)) return 0;
  request_finish(r);
  return 1;
}

/* SPIN_NS of polling, then the watchdog's polling (yielding, under the
 * deadline, with the wait published for the signal handlers). */
static void mpi_wait(Comm *c, CommRequest *r) {
  uint64_t t0 = timer_now_ns();
  while (timer_now_ns() - t0 < SPIN_NS && !request_done(r)) {
  }
  watchdog_wait(c->dist, request_done, r, r->what);
  request_finish(r);
}

/* ----------------------------------------------------------- operations */

static void schedule_start(CommRequest *r) {
  Comm *c = r->comm;
  MpiImpl *impl = impl_of(c);
  size_t bytes = r->count * r->elem_bytes;
  int small = bytes <= SMALL_BYTES;
  r->kind = small || (c->size > 2 && bytes <= MID_BYTES) ? SCHED_DOUBLING : SCHED_HALVING;
  size_t piece_bytes = small ? EAGER_BYTES : r->kind == SCHED_DOUBLING ? bytes : PIECE_BYTES;
  size_t max_piece = piece_bytes / r->elem_bytes > 0 ? piece_bytes / r->elem_bytes : 1;
  r->n_pieces = (r->count + max_piece - 1) / max_piece;
  r->piece_elems = (r->count + r->n_pieces - 1) / r->n_pieces; /* balanced pieces */
  /* Largest reducing receive: a whole piece (doubling, or the fold when the
   * size is not a power of two), else the first half of a halving. */
  int power_of_two = (c->size & (c->size - 1)) == 0;
  size_t slot_elems = r->kind == SCHED_HALVING && power_of_two ? (r->piece_elems + 1) / 2
                                                               : r->piece_elems;
  int max_slots = r->kind == SCHED_DOUBLING ? MAX_SLOTS : HALVING_SLOTS;
  r->n_slots = r->n_pieces < (size_t)max_slots ? (int)r->n_pieces : max_slots;
  r->scratch_bytes = (size_t)r->n_slots * slot_elems * r->elem_bytes;
  r->scratch = scratch_take(impl, r->scratch_bytes);
  r->tag_base = impl->next_tag;
  impl->next_tag = (impl->next_tag + r->n_pieces) % impl->tag_mod;
  r->next = g_in_flight;
  if (g_in_flight) g_in_flight->prev = r;
  g_in_flight = r;
  for (int i = 0; i < 2 * MAX_SLOTS; i++) r->preq[i] = MPI_REQUEST_NULL;
  for (int i = 0; i < r->n_slots; i++) {
    Slot *s = &r->slots[i];
    s->active = 1;
    s->piece = r->next_piece++;
    s->step = 0;
    s->scratch = r->scratch + (size_t)i * slot_elems * r->elem_bytes;
    slot_post(r, i);
  }
}

static CommRequest *mpi_iallreduce(Comm *c, void *buf, size_t count, CommDtype dt, CommOp op,
                                   const char *what) {
  CHECK(op != COMM_AVG || is_float(dt), "average of %s values in %s", comm_dtype_name(dt),
        what ? what : "all-reduce");
  CHECK(op == COMM_SUM || op == COMM_AVG || op == COMM_MAX || op == COMM_MIN,
        "unknown CommOp %d", (int)op);
  CommRequest *r = request_new(c, what, 0);
  r->buf = buf;
  r->count = count;
  r->dt = dt;
  r->op = op;
  if (c->size == 1 || count == 0) return r;
  r->scheduled = 1;
  r->data = buf;
  r->red_dt = dt;
  r->elem_bytes = comm_dtype_bytes(dt);
  if (is_half(dt)) {
    r->half_copy = mem_alloc_or_die(count * sizeof(float), "fp32 copy of a half-precision buffer");
    comm_half_to_f32(dt, buf, r->half_copy, count);
    r->data = (char *)r->half_copy;
    r->red_dt = COMM_F32;
    r->elem_bytes = sizeof(float);
  }
  schedule_start(r);
  return r;
}

static void mpi_allreduce(Comm *c, void *buf, size_t count, CommDtype dt, CommOp op,
                          const char *what) {
  mpi_wait(c, mpi_iallreduce(c, buf, count, dt, op, what));
}

static void mpi_broadcast(Comm *c, void *buf, size_t count, CommDtype dt, int root,
                          const char *what) {
  CHECK(root >= 0 && root < c->size, "broadcast root %d of %d ranks", root, c->size);
  size_t n_bytes = count * comm_dtype_bytes(dt);
  int active = c->size > 1 && n_bytes > 0;
  size_t n_chunks = active ? (n_bytes + CHUNK_ELEMS - 1) / CHUNK_ELEMS : 0;
  CommRequest *r = request_new(c, what, n_chunks);
  for (size_t k = 0; k < n_chunks; k++) {
    size_t off = k * CHUNK_ELEMS;
    size_t n = n_bytes - off < CHUNK_ELEMS ? n_bytes - off : CHUNK_ELEMS;
    MPI_CHECK(MPI_Ibcast((char *)buf + off, (int)n, MPI_BYTE, root, mpi_comm(c), &r->reqs[k]));
  }
  mpi_wait(c, r);
}

static void mpi_allgather(Comm *c, const void *send, void *recv, size_t count, CommDtype dt,
                          const char *what) {
  size_t n_bytes = count * comm_dtype_bytes(dt);
  CHECK(n_bytes <= (size_t)INT_MAX, "all-gather of %zu bytes per rank (%s)", n_bytes,
        what ? what : "all-gather");
  char *mine = (char *)recv + (size_t)c->rank * n_bytes;
  if (c->size == 1 || n_bytes == 0) {
    if (n_bytes && send != mine) memmove(mine, send, n_bytes);
    return;
  }
  CommRequest *r = request_new(c, what, 1);
  const void *sendbuf = send == mine ? MPI_IN_PLACE : send;
  MPI_CHECK(MPI_Iallgather(sendbuf, (int)n_bytes, MPI_BYTE, recv, (int)n_bytes, MPI_BYTE,
                           mpi_comm(c), &r->reqs[0]));
  mpi_wait(c, r);
}

static void mpi_barrier(Comm *c, const char *what) {
  CommRequest *r = request_new(c, what, c->size > 1);
  if (c->size > 1) MPI_CHECK(MPI_Ibarrier(mpi_comm(c), &r->reqs[0]));
  mpi_wait(c, r);
}

static void mpi_destroy(Comm *c) {
  if (!c) return;
  MpiImpl *impl = c->impl;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (impl->comm != MPI_COMM_NULL && !finalized) MPI_CHECK(MPI_Comm_free(&impl->comm));
  mem_free(impl->spare);
  mem_free(impl->spare_request);
  mem_free(impl);
  mem_free(c);
}

/* ----------------------------------------------------------------- create */

Comm *comm_mpi_create(Dist *d, int group_size) {
  CHECK(group_size >= 0, "group size %d", group_size);
  if (group_size > 0 && d->world % group_size != 0)
    core_user_error("dist.bn_group=%d does not divide the %d ranks of the job; use a divisor "
                    "of %d, or 0 for all ranks",
                    group_size, d->world, d->world);
  Comm *c = mem_calloc_or_die(1, sizeof *c, "Comm");
  MpiImpl *impl = mem_calloc_or_die(1, sizeof *impl, "MpiImpl");
  impl->comm = MPI_COMM_NULL;
  impl->tag_mod = 1;
  c->name = "mpi";
  c->dist = d;
  c->impl = impl;
  c->rank = 0;
  c->size = 1;
  if (d->mpi) {
    if (group_size == 0 || group_size == d->world)
      MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &impl->comm));
    else
      MPI_CHECK(MPI_Comm_split(MPI_COMM_WORLD, d->rank / group_size, d->rank, &impl->comm));
    MPI_CHECK(MPI_Comm_set_errhandler(impl->comm, MPI_ERRORS_RETURN));
    MPI_CHECK(MPI_Comm_rank(impl->comm, &c->rank));
    MPI_CHECK(MPI_Comm_size(impl->comm, &c->size));
    int *tag_ub = NULL, found = 0;
    MPI_CHECK(MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &tag_ub, &found));
    CHECK(found && *tag_ub >= 32767, "MPI_TAG_UB %d", found ? *tag_ub : -1);
    impl->tag_mod = (size_t)*tag_ub + 1;
  }
  c->allreduce = mpi_allreduce;
  c->iallreduce = mpi_iallreduce;
  c->test = mpi_test;
  c->wait = mpi_wait;
  c->broadcast = mpi_broadcast;
  c->allgather = mpi_allgather;
  c->barrier = mpi_barrier;
  c->destroy = mpi_destroy;
  return c;
}
