/* grad_sync.h - bucketed gradient averaging, overlapped with backward.
 *
 * The flat gradient arena is cut into buckets of about `bucket_mb` MiB along
 * parameter boundaries, filled from the END of the arena (backward produces
 * the last layers' gradients first).  During backward the model reports each
 * parameter's gradient as final (grad_sync_ready); a bucket is all-reduced
 * (average over the communicator) as soon as all its parameters are final,
 * while backward goes on.  grad_sync_finish waits for every bucket.
 */
#ifndef RD_DIST_GRAD_SYNC_H
#define RD_DIST_GRAD_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "dist/comm.h"

typedef struct GradSync GradSync;

/* grads: the gradient arena (be->param_bytes per element, n_elems long);
 * param_offsets: ascending start offsets of the n_params parameters. */
GradSync *grad_sync_create(Comm *comm, Backend *be, void *grads, size_t n_elems,
                           const size_t *param_offsets, int n_params, double bucket_mb);
void grad_sync_begin(GradSync *gs);
/* Every parameter that starts in [offset, offset + n_elems) has its final
 * gradient (offset must be a parameter's start; each parameter once per
 * step; parameters never reported are treated as final by grad_sync_finish).
 * Launches the buckets that became complete and lets earlier ones progress. */
void grad_sync_ready(GradSync *gs, size_t offset, size_t n_elems);
/* The same with a void * context, for ModelHooks.grads_ready (ctx = GradSync). */
void grad_sync_ready_hook(void *ctx, size_t offset, size_t n_elems);
void grad_sync_finish(GradSync *gs);
int grad_sync_num_buckets(const GradSync *gs);
/* Milliseconds the last step spent waiting in grad_sync_finish (exposed comm). */
double grad_sync_exposed_ms(const GradSync *gs);
/* Optional observer (a timeline, src/train/trace.h): fn(ctx, bucket, t0_ns,
 * t1_ns) once per all-reduced bucket, t0 at its launch and t1 when its
 * completion was observed (timer_now_ns clock), on the thread that drives
 * grad_sync.  fn NULL removes it. */
typedef void (*GradSyncObserver)(void *ctx, int bucket, uint64_t t0_ns, uint64_t t1_ns);
void grad_sync_set_observer(GradSync *gs, GradSyncObserver fn, void *ctx);
void grad_sync_destroy(GradSync *gs);

#endif
