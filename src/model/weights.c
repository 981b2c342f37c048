/* weights.c - see weights.h. */
#include "model/weights.h"

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "core/mem.h"

/* Module prefix of a BN parameter name "layer1.0.bn1.bias" -> "layer1.0.bn1". */
static int bn_bias_prefix(const Model *m, int i, char *prefix, size_t n) {
  const char *name = m->param_table[i].name;
  size_t len = strlen(name);
  if (len < 5 || strcmp(name + len - 5, ".bias") || !strncmp(name, "fc.", 3)) return 0;
  snprintf(prefix, n, "%.*s", (int)(len - 5), name);
  return 1;
}

StTensor *weights_gather(const Model *m, int *n_out, float **host_f32, int64_t **host_i64) {
  Backend *be = m->be;
  int cap = m->n_params + m->n_buffers + m->n_bn;
  StTensor *t = mem_calloc_or_die((size_t)cap, sizeof(StTensor), "tensor list");
  float *p = mem_alloc_or_die((m->n_param_elems + m->n_buffer_elems) * sizeof(float), "weights");
  int64_t *nbt = mem_alloc_or_die(sizeof(int64_t), "num_batches_tracked");
  *nbt = m->num_batches_tracked;
  be->params_to_host_f32(be, p, m->params, m->n_param_elems);
  float *bufs = p + m->n_param_elems;
  be->params_to_host_f32(be, bufs, m->buffers, m->n_buffer_elems);
  int n = 0;
  for (int i = 0; i < m->n_params; i++) {
    const ParamEntry *e = &m->param_table[i];
    StTensor *s = &t[n++];
    snprintf(s->name, sizeof s->name, "%s", e->name);
    s->dtype = ST_F32;
    s->ndim = e->ndim;
    for (int d = 0; d < e->ndim; d++) s->shape[d] = e->shape[d];
    s->data = p + e->offset;
    s->n_elems = e->n_elems;
    char prefix[96];
    if (!bn_bias_prefix(m, i, prefix, sizeof prefix)) continue;
    for (int k = 0; k < 2; k++) {
      char bname[128];
      snprintf(bname, sizeof bname, "%s.%s", prefix, k ? "running_var" : "running_mean");
      int bi = model_find_buffer(m, bname);
      if (bi < 0) break;
      const ParamEntry *b = &m->buffer_table[bi];
      StTensor *sb = &t[n++];
      snprintf(sb->name, sizeof sb->name, "%s", b->name);
      sb->dtype = ST_F32;
      sb->ndim = 1;
      sb->shape[0] = b->shape[0];
      sb->data = bufs + b->offset;
      sb->n_elems = b->n_elems;
      if (k == 1) {
        StTensor *sn = &t[n++];
        snprintf(sn->name, sizeof sn->name, "%s.num_batches_tracked", prefix);
        sn->dtype = ST_I64;
        sn->ndim = 0;
        sn->data = nbt;
        sn->n_elems = 1;
      }
    }
  }
  *n_out = n;
  *host_f32 = p;
  *host_i64 = nbt;
  return t;
}

int weights_export(const Model *m, const char *path, char *err, size_t err_len) {
  int n;
  float *f32;
  int64_t *i64;
  StTensor *t = weights_gather(m, &n, &f32, &i64);
  int rc = st_write(path, t, n, err, err_len);
  mem_free(t);
  mem_free(f32);
  mem_free(i64);
  return rc;
}

typedef struct {
  char *s;
  size_t n, cap;
  int count;
} Problems;

static void problem(Problems *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(Problems *p, const char *fmt, ...) {
  if (p->count++ >= 12) return; /* the message stays one readable line */
  char item[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(item, sizeof item, fmt, ap);
  va_end(ap);
  int m = snprintf(p->s + p->n, p->cap - p->n, "%s%s", p->n ? "; " : "", item);
  if (m > 0) p->n += (size_t)m < p->cap - p->n ? (size_t)m : p->cap - p->n - 1;
}

static int shape_matches(const StTensor *t, const ParamEntry *e) {
  if (t->dtype != ST_F32 || t->ndim != e->ndim) return 0;
  for (int d = 0; d < e->ndim; d++)
    if (t->shape[d] != e->shape[d]) return 0;
  return 1;
}

static void shape_text(const int64_t *shape, int ndim, char *out, size_t n) {
  size_t o = (size_t)snprintf(out, n, "[");
  for (int d = 0; d < ndim && o < n; d++)
    o += (size_t)snprintf(out + o, n - o, "%s%" PRId64, d ? "," : "", shape[d]);
  if (o < n) snprintf(out + o, n - o, "]");
}

/* Checks one table against the tensors; copies matches into host arena. */
static void match_table(const ParamEntry *table, int n_entries, const StTensor *t, int n,
                        float *host, int *used, Problems *pr) {
  for (int i = 0; i < n_entries; i++) {
    const ParamEntry *e = &table[i];
    int found = -1;
    for (int k = 0; k < n && found < 0; k++)
      if (!strcmp(t[k].name, e->name)) found = k;
    if (found < 0) {
      problem(pr, "missing %s", e->name);
      continue;
    }
    used[found] = 1;
    if (!shape_matches(&t[found], e)) {
      int64_t want[4];
      char a[64], b[64];
      for (int d = 0; d < e->ndim; d++) want[d] = e->shape[d];
      shape_text(want, e->ndim, a, sizeof a);
      shape_text(t[found].shape, t[found].ndim, b, sizeof b);
      problem(pr, "%s has shape %s%s, the model needs %s", e->name, b,
              t[found].dtype == ST_F32 ? "" : " (not F32)", a);
      continue;
    }
    memcpy(host + e->offset, t[found].data, e->n_elems * sizeof(float));
  }
}

int weights_load_tensors(Model *m, const StTensor *t, int n, const char *source, char *err,
                         size_t err_len) {
  char list[2048] = "";
  Problems pr = {list, 0, sizeof list, 0};
  int *used = mem_calloc_or_die((size_t)n + 1, sizeof(int), "used flags");
  float *params = mem_alloc_or_die(m->n_param_elems * sizeof(float), "import params");
  float *bufs = mem_alloc_or_die(m->n_buffer_elems * sizeof(float) + 1, "import buffers");
  match_table(m->param_table, m->n_params, t, n, params, used, &pr);
  match_table(m->buffer_table, m->n_buffers, t, n, bufs, used, &pr);
  int64_t nbt = -1;
  for (int k = 0; k < n; k++) {
    const char *dot = strrchr(t[k].name, '.');
    if (dot && !strcmp(dot, ".num_batches_tracked") && t[k].dtype == ST_I64 && t[k].n_elems == 1) {
      used[k] = 1;
      nbt = *(const int64_t *)t[k].data;
    }
  }
  for (int k = 0; k < n; k++)
    if (!used[k]) problem(&pr, "unexpected %s", t[k].name);
  int rc = 0;
  if (pr.count) {
    snprintf(err, err_len, "%s does not fit %s (%d problem%s): %s%s", source,
             config_arch_name(m->spec.arch), pr.count, pr.count > 1 ? "s" : "", list,
             pr.count > 12 ? "; ..." : "");
    rc = -1;
  } else {
    m->be->params_from_host_f32(m->be, m->params, params, m->n_param_elems);
    m->be->params_from_host_f32(m->be, m->buffers, bufs, m->n_buffer_elems);
    if (nbt >= 0) m->num_batches_tracked = nbt;
    model_params_changed(m);
  }
  mem_free(used);
  mem_free(params);
  mem_free(bufs);
  return rc;
}

int weights_import(Model *m, const char *path, char *err, size_t err_len) {
  StFile f;
  if (st_read(path, &f, err, err_len)) return -1;
  int rc = weights_load_tensors(m, f.tensors, f.n, path, err, err_len);
  st_free(&f);
  return rc;
}
