/* st_compare.c - compares two .safetensors files tensor by tensor.
 *
 *   st_compare A B [TOL]
 *
 * Prints the worst tensor (max |a - b| / (1 + max |b|)) and exits 0 when every
 * tensor has the same name, shape and dtype and the worst error is <= TOL
 * (default 0: bit-identical values), 1 otherwise. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/safetensors.h"

static double value(const StTensor *t, size_t k) {
  switch (t->dtype) {
    case ST_F32: return ((const float *)t->data)[k];
    case ST_F64: return ((const double *)t->data)[k];
    case ST_I64: return (double)((const int64_t *)t->data)[k];
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: st_compare A.safetensors B.safetensors [TOL]\n");
    return 2;
  }
  double tol = argc > 3 ? atof(argv[3]) : 0.0;
  StFile a, b;
  char err[512];
  if (st_read(argv[1], &a, err, sizeof err) || st_read(argv[2], &b, err, sizeof err)) {
    fprintf(stderr, "st_compare: %s\n", err);
    return 2;
  }
  int bad = a.n != b.n;
  double worst = 0;
  const char *worst_name = "";
  for (int i = 0; i < a.n; i++) {
    const StTensor *x = &a.tensors[i], *y = st_find(&b, x->name);
    if (!y || y->dtype != x->dtype || y->n_elems != x->n_elems) {
      printf("tensor %s: missing or different shape/dtype\n", x->name);
      bad = 1;
      continue;
    }
    double e = 0, ref = 0;
    for (size_t k = 0; k < x->n_elems; k++) {
      double u = value(x, k), v = value(y, k);
      if (fabs(u - v) > e || u != u) e = u == u ? fabs(u - v) : INFINITY;
      if (fabs(v) > ref) ref = fabs(v);
    }
    e /= 1 + ref;
    if (e > worst) {
      worst = e;
      worst_name = x->name;
    }
  }
  printf("%d tensors, worst error %.3g (%s), tolerance %.3g\n", a.n, worst, worst_name, tol);
  bad |= worst > tol;
  st_free(&a);
  st_free(&b);
  return bad ? 1 : 0;
}
