/* checkpoint.h - HDF5 checkpoints written atomically by rank 0, read by all.
 *
 * DESIGN.md decision 11.  One file per checkpoint, <dir>/ckpt-<global_step,
 * 8 digits>.h5:
 *   /            attributes format = "resnet_dist.checkpoint", version, epoch,
 *                step_in_epoch, global_step, samples_seen, seed, world_size,
 *                global_batch, loss_scale, n_tensors, state_checksum
 *   /config      the effective configuration (INI text, fixed-length string)
 *   /tensors/<name>  one dataset per tensor (torchvision names, e.g.
 *                "layer1.0.bn1.running_mean", optimizer state e.g.
 *                "momentum.fc.weight"), f32 or i64, in the order written,
 *                each with a 64-bit "checksum" attribute of its bytes.
 * Atomicity: written under a temporary name in the same folder
 * (.ckpt-<step>.h5.tmp), flushed, fsync'ed, renamed, and the folder fsync'ed;
 * a crash leaves either the previous set of complete files or the new one,
 * never a half-written file under a final name.  One writer per folder.
 * The files open in h5py.
 */
#ifndef RD_TRAIN_CHECKPOINT_H
#define RD_TRAIN_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

enum { CKPT_F32 = 0, CKPT_I64 = 1 };
enum { CKPT_FORMAT_VERSION = 1, CKPT_NAME_MAX = 128 };

typedef struct {
  char name[CKPT_NAME_MAX];
  int ndim;
  int64_t shape[4];
  int dtype;          /* CKPT_F32 or CKPT_I64 */
  const void *data;   /* host, n_elems values */
  size_t n_elems;     /* product of shape[0..ndim) (1 for ndim 0) */
} CkptTensor;

typedef struct {
  int64_t epoch, step_in_epoch, global_step, samples_seen; /* where training stands */
  int64_t seed;
  int world_size;
  int64_t global_batch;
  double loss_scale;              /* fp16 dynamic scale (1 when unused) */
  int64_t loss_scale_growth;      /* fp16: good steps since the scale last changed */
  const char *config_text;        /* effective config (INI text) */
  const CkptTensor *tensors;      /* parameters, buffers, optimizer state by name */
  int n_tensors;
} CkptState;

/* Writes <dir>/ckpt-<global_step 8 digits>.h5 atomically: temp name in dir,
 * H5Fflush, fsync of file and directory, rename; then keeps the newest `keep`
 * of the checkpoints up to this step (older ckpt-*.h5 are deleted; the file
 * just written and any with a larger step are never touched).  The final path
 * goes to path_out.
 * 0, or -1 with a one-line reason in err. */
int ckpt_write(const char *dir, const CkptState *s, int keep, char *path_out, size_t path_len,
               char *err, size_t err_len);

typedef struct {
  CkptState state;      /* state.tensors = tensors, state.config_text = config_text */
  CkptTensor *tensors;  /* (state.n_tensors); each data malloc'ed */
  char *config_text;
} CkptLoaded;

/* Reads and validates (format attribute, version, every dataset readable,
 * checksums of the tensors and of the state).  0, or -1 with a reason naming
 * the file and what is wrong (out is then empty). */
int ckpt_read(const char *path, CkptLoaded *out, char *err, size_t err_len);
void ckpt_free(CkptLoaded *l);

/* Tensor by name, or NULL. */
const CkptTensor *ckpt_find_tensor(const CkptLoaded *l, const char *name);

/* resume=auto: the newest checkpoint in dir that reads and validates; newer
 * corrupt or incompatible files are skipped with a warning naming the file
 * and why.  0 = found (path_out), 1 = none (no checkpoint files, or no dir),
 * -1 = there are checkpoint files but none is usable (err says why). */
int ckpt_find_latest(const char *dir, char *path_out, size_t path_len, char *err,
                     size_t err_len);

/* The checkpoint file with the largest step in dir (name into name_out, step
 * into *step); returns how many checkpoint files dir holds (0: none or no
 * dir), -1 when dir cannot be read. */
int ckpt_newest(const char *dir, char *name_out, size_t name_len, int64_t *step);

/* At start: dir exists or can be created, and a file can be created and
 * removed in it; -1 with a one-line reason otherwise. */
int ckpt_check_writable(const char *dir, char *err, size_t err_len);

#endif
