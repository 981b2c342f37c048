/* bench_pipeline.c - images/s of decode + RandomResizedCrop(224) + flip.
 *
 *   bench_pipeline [--threads 1,2] [--repeat 5] [--passes 2] [--methods a,b] [--shards DIR]
 *                  FILE.jpg...
 *
 * Every JPEG is read into memory first (so disk does not count), then each
 * method runs `passes` times over all files on T threads (file i on thread
 * i % T, its crop from the per-sample stream of (seed 1, epoch = pass, i)):
 *
 *   ours          the pipeline's path: header, crop plan, DCT downscale to the
 *                 smallest scale >= the crop's need, partial decode of the rows
 *                 and iMCU columns the resampler reads, PIL-exact resample, flip
 *   ours-decode   the same without resample and flip (what decoding costs)
 *   tj-full       TurboJPEG tjDecompress2 of the whole image at full size,
 *                 then the same resample + flip (the plain approach)
 *   tj-scaled     tjDecompress2 of the whole image at the same DCT scale
 *   tj-transform  tjTransform(TJXOPT_CROP) to the iMCU-aligned crop, then
 *                 tjDecompress2 of that smaller JPEG at the same scale
 *
 * With --shards DIR it also times the whole pipeline (pread from the shards,
 * reader thread, data.workers = T, ring of batches of 64).  --methods picks
 * some of the above (and "pipeline").  Prints one line per method and thread
 * count: median images/s over `repeat` runs and the same per thread ("per
 * core" when threads <= cores).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <turbojpeg.h>

#include "config/config.h"
#include "core/mem.h"
#include "core/rng.h"
#include "core/timer.h"
#include "data/augment.h"
#include "data/jpegdec.h"
#include "data/pipeline.h"
#include "data/sample.h"

enum { SIDE = 224, MAX_THREADS = 64, MAX_REPEAT = 32 };

typedef struct {
  uint8_t **data;
  size_t *n_bytes;
  int n;
} Files;

typedef enum { M_OURS, M_OURS_DECODE, M_TJ_FULL, M_TJ_SCALED, M_TJ_TRANSFORM, N_METHODS } Method;
static const char *const METHOD_NAMES[N_METHODS] = {"ours", "ours-decode", "tj-full",
                                                    "tj-scaled", "tj-transform"};

static const AugmentSpec SPEC = {AUG_RRC, SIDE, 0, 0.08, 1.0, 0.75, 4.0 / 3.0, 0, 1};

typedef struct {
  const Files *files;
  int method, thread, n_threads, passes;
  long done, failed;
} Job;

typedef struct {
  SampleWorker *sw;
  JpegDecoder *dec;
  tjhandle tj_dec, tj_xf;
  uint8_t *rgb;
  size_t rgb_cap;
  uint8_t out[SIDE * SIDE * 3];
} Ctx;

static void reserve(Ctx *c, size_t n) {
  if (n <= c->rgb_cap) return;
  mem_free(c->rgb);
  c->rgb = mem_alloc_or_die(n, "decode buffer");
  c->rgb_cap = n;
}

/* Whole-image TurboJPEG decode at 1/denom, then the shared crop + resize. */
static int tj_decode_crop(Ctx *c, const uint8_t *jpeg, size_t n, const CropPlan *p, int denom,
                          int x_off, int y_off) {
  int w, h, subsamp, cs;
  if (tjDecompressHeader3(c->tj_dec, jpeg, n, &w, &h, &subsamp, &cs)) return -1;
  tjscalingfactor sf = {1, denom};
  int sw = TJSCALED(w, sf), sh = TJSCALED(h, sf);
  reserve(c, (size_t)sw * sh * 4);
  if (tjDecompress2(c->tj_dec, jpeg, n, c->rgb, sw, 0, sh, TJPF_RGBX, 0)) return -1;
  /* the decoded image starts at full-size pixel (x_off, y_off) of the original */
  CropPlan q = *p;
  q.x0 -= x_off;
  q.y0 -= y_off;
  sample_crop_resize(c->sw, &q, SIDE, denom, sw, sh, c->rgb, (size_t)sw * 4, 4, 0, 0, c->out);
  return 0;
}

/* tjTransform to the iMCU-aligned crop, then decode that. */
static int tj_transform_crop(Ctx *c, const uint8_t *jpeg, size_t n, const CropPlan *p,
                             int denom) {
  int w, h, subsamp, cs;
  if (tjDecompressHeader3(c->tj_dec, jpeg, n, &w, &h, &subsamp, &cs)) return -1;
  int mx = tjMCUWidth[subsamp], my = tjMCUHeight[subsamp];
  tjtransform xf;
  memset(&xf, 0, sizeof xf);
  xf.r.x = p->x0 / mx * mx;
  xf.r.y = p->y0 / my * my;
  xf.r.w = p->x0 + p->w - xf.r.x;
  xf.r.h = p->y0 + p->h - xf.r.y;
  xf.op = TJXOP_NONE;
  xf.options = TJXOPT_CROP;
  unsigned char *small = NULL;
  unsigned long n_small = 0;
  if (tjTransform(c->tj_xf, jpeg, n, 1, &small, &n_small, &xf, 0)) return -1;
  int rc = tj_decode_crop(c, small, n_small, p, denom, xf.r.x, xf.r.y);
  tjFree(small);
  return rc;
}

static int one(Ctx *c, int method, const uint8_t *jpeg, size_t n, RngStream *rs) {
  if (method == M_OURS) return sample_from_jpeg(c->sw, &SPEC, rs, jpeg, n, c->out);
  JpegInfo info;
  if (jpegdec_info(c->dec, jpeg, n, &info)) return -1;
  CropPlan p;
  augment_plan(&SPEC, info.width, info.height, rs, &p);
  int denom = sample_pick_denom(&p);
  if (method == M_OURS_DECODE) {
    JpegRegion r;
    double f = 1.0 / denom;
    return jpegdec_region(c->dec, jpeg, n, denom, (int)(p.x0 * f), (int)(p.y0 * f),
                          (int)((p.x0 + p.w) * f) + 1, (int)((p.y0 + p.h) * f) + 1, &r);
  }
  if (method == M_TJ_FULL) return tj_decode_crop(c, jpeg, n, &p, 1, 0, 0);
  if (method == M_TJ_SCALED) return tj_decode_crop(c, jpeg, n, &p, denom, 0, 0);
  return tj_transform_crop(c, jpeg, n, &p, denom);
}

static void *run_job(void *arg) {
  Job *j = arg;
  Ctx c = {0};
  c.sw = sample_worker_new();
  c.dec = jpegdec_new();
  c.tj_dec = tjInitDecompress();
  c.tj_xf = tjInitTransform();
  for (int pass = 0; pass < j->passes; pass++)
    for (int i = j->thread; i < j->files->n; i += j->n_threads) {
      RngStream rs;
      rng_stream_init(&rs, 1, rng_id_hi(RNG_DOMAIN_AUGMENT, (uint32_t)pass), (uint32_t)i);
      if (one(&c, j->method, j->files->data[i], j->files->n_bytes[i], &rs))
        j->failed++;
      else
        j->done++;
    }
  sample_worker_free(c.sw);
  jpegdec_free(c.dec);
  tjDestroy(c.tj_dec);
  tjDestroy(c.tj_xf);
  mem_free(c.rgb);
  return NULL;
}

/* Images per second of one method on n_threads threads. */
static double time_method(const Files *f, int method, int n_threads, int passes) {
  Job jobs[MAX_THREADS];
  pthread_t tid[MAX_THREADS];
  uint64_t t0 = timer_now_ns();
  for (int t = 0; t < n_threads; t++) {
    jobs[t] = (Job){f, method, t, n_threads, passes, 0, 0};
    pthread_create(&tid[t], NULL, run_job, &jobs[t]);
  }
  long done = 0, failed = 0;
  for (int t = 0; t < n_threads; t++) {
    pthread_join(tid[t], NULL);
    done += jobs[t].done;
    failed += jobs[t].failed;
  }
  double s = timer_since_ms(t0) * 1e-3;
  if (failed) fprintf(stderr, "%s: %ld images failed to decode\n", METHOD_NAMES[method], failed);
  return done / s;
}

/* Images per second of the whole pipeline over the shards in dir. */
static double time_pipeline(const char *dir, int n_threads, int passes) {
  Config cfg;
  config_defaults(&cfg);
  cfg.data.source = SOURCE_SHARDS;
  snprintf(cfg.data.train, sizeof cfg.data.train, "%s", dir);
  cfg.data.workers = n_threads;
  cfg.data.prefetch = 4;
  cfg.train.batch_size = 64;
  PipelineOptions o = {&cfg, SPLIT_TRAIN, 0, 1, NULL, NULL, NULL};
  char err[1024];
  Pipeline *p = pipeline_open(&o, err, sizeof err);
  if (!p) {
    fprintf(stderr, "pipeline: %s\n", err);
    exit(2);
  }
  long n = 0;
  uint64_t t0 = timer_now_ns();
  for (int e = 0; e < passes; e++) {
    pipeline_start_epoch(p, e, 0);
    const Batch *b;
    while ((b = pipeline_next(p)) != NULL) {
      n += b->n;
      pipeline_release(p, b);
    }
  }
  double s = timer_since_ms(t0) * 1e-3;
  pipeline_close(p);
  return n / s;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void report(const char *name, int threads, double *runs, int repeat) {
  qsort(runs, (size_t)repeat, sizeof(double), cmp_double);
  double med = runs[repeat / 2];
  printf("%-14s threads %d  %8.1f img/s  %8.1f img/s per thread   (min %.1f max %.1f)\n", name,
         threads, med, med / threads, runs[0], runs[repeat - 1]);
  fflush(stdout);
}

/* Is `name` in the comma-separated list (NULL: everything)? */
static int wanted(const char *list, const char *name) {
  if (!list) return 1;
  size_t n = strlen(name);
  for (const char *s = list; (s = strstr(s, name)) != NULL; s += n)
    if ((s == list || s[-1] == ',') && (s[n] == ',' || s[n] == '\0')) return 1;
  return 0;
}

static Files load(int n, char **paths) {
  Files f = {mem_alloc_or_die((size_t)n * sizeof(uint8_t *), "files"),
             mem_alloc_or_die((size_t)n * sizeof(size_t), "sizes"), n};
  size_t total = 0;
  for (int i = 0; i < n; i++) {
    FILE *fp = fopen(paths[i], "rb");
    if (!fp) {
      perror(paths[i]);
      exit(2);
    }
    fseek(fp, 0, SEEK_END);
    f.n_bytes[i] = (size_t)ftell(fp);
    fseek(fp, 0, SEEK_SET);
    f.data[i] = mem_alloc_or_die(f.n_bytes[i], "file");
    if (fread(f.data[i], 1, f.n_bytes[i], fp) != f.n_bytes[i]) exit(2);
    fclose(fp);
    total += f.n_bytes[i];
  }
  printf("%d JPEGs, %.1f KB on average\n", n, total / 1024.0 / n);
  return f;
}

int main(int argc, char **argv) {
  int threads[8] = {1, 2}, n_threads = 2, repeat = 5, passes = 2, first_file = 1;
  const char *shards = NULL, *methods = NULL;
  for (; first_file < argc && !strncmp(argv[first_file], "--", 2); first_file += 2) {
    const char *k = argv[first_file], *v = first_file + 1 < argc ? argv[first_file + 1] : "";
    if (!strcmp(k, "--threads")) {
      n_threads = 0;
      for (char *s = strtok((char *)v, ","); s && n_threads < 8; s = strtok(NULL, ","))
        threads[n_threads++] = atoi(s);
    } else if (!strcmp(k, "--repeat")) {
      repeat = atoi(v);
    } else if (!strcmp(k, "--passes")) {
      passes = atoi(v);
    } else if (!strcmp(k, "--shards")) {
      shards = v;
    } else if (!strcmp(k, "--methods")) {
      methods = v;
    } else {
      fprintf(stderr, "unknown option %s (see the top of bench_pipeline.c)\n", k);
      return 2;
    }
  }
  if (first_file >= argc || repeat < 1 || repeat > MAX_REPEAT) {
    fprintf(stderr, "usage: bench_pipeline [--threads 1,2] [--repeat 5] [--passes 2] "
            "[--shards DIR] FILE.jpg...\n");
    return 2;
  }
  Files f = load(argc - first_file, argv + first_file);
  double runs[MAX_REPEAT];
  for (int m = 0; m < N_METHODS; m++)
    for (int k = 0; k < n_threads && wanted(methods, METHOD_NAMES[m]); k++) {
      for (int r = 0; r < repeat; r++) runs[r] = time_method(&f, m, threads[k], passes);
      report(METHOD_NAMES[m], threads[k], runs, repeat);
    }
  for (int k = 0; shards && wanted(methods, "pipeline") && k < n_threads; k++) {
    for (int r = 0; r < repeat; r++) runs[r] = time_pipeline(shards, threads[k], passes);
    report("pipeline", threads[k], runs, repeat);
  }
  return 0;
}
