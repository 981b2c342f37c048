/* data_probe.c - command-line access to the decode / augment path for the
 * Python oracle tests (PIL, torchvision, h5py on the same inputs):
 *
 *   data_probe decode FILE.jpg OUT.rgb            full-size RGB; prints "W H"
 *   data_probe val FILE.jpg RESIZE CROP OUT.rgb   Resize(RESIZE)+CenterCrop(CROP);
 *                                                 prints the DCT scale denominator
 *   data_probe train FILE.jpg SIZE SEED INDEX OUT.rgb
 *                                                 RandomResizedCrop(SIZE)+flip of sample
 *                                                 INDEX, epoch 0; prints "x y w h flip denom"
 *   data_probe resample IN.rgb W H X0 Y0 X1 Y1 OW OH OUT.rgb
 *                                                 PIL resize of box (x0,y0,x1,y1) to OWxOH
 *   data_probe rrc W H N SEED                     N RandomResizedCrop boxes "x y w h"
 *                                                 (scale 0.08-1, ratio 3/4-4/3)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/rng.h"
#include "data/augment.h"
#include "data/jpegdec.h"
#include "data/resample.h"
#include "data/sample.h"

static uint8_t *read_all(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    exit(2);
  }
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = mem_alloc_or_die(*n ? *n : 1, "input");
  if (fread(buf, 1, *n, f) != *n) exit(2);
  fclose(f);
  return buf;
}

static void write_all(const char *path, const uint8_t *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, n, f) != n) {
    perror(path);
    exit(2);
  }
  fclose(f);
}

static int cmd_decode(char **a) {
  size_t n;
  uint8_t *jpeg = read_all(a[0], &n);
  JpegDecoder *d = jpegdec_new();
  JpegInfo info;
  JpegRegion r;
  if (jpegdec_info(d, jpeg, n, &info) ||
      jpegdec_region(d, jpeg, n, 1, 0, 0, info.width, info.height, &r)) {
    printf("error %s\n", jpegdec_error(d));
    return 1;
  }
  uint8_t *rgb = mem_alloc_or_die((size_t)r.w * r.h * 3, "RGB");
  for (size_t i = 0; i < (size_t)r.w * r.h; i++)
    memcpy(rgb + 3 * i, r.pixels + (i / r.w) * r.stride + 4 * (i % r.w), 3);
  write_all(a[1], rgb, (size_t)r.w * r.h * 3);
  mem_free(rgb);
  printf("%d %d\n", r.w, r.h);
  jpegdec_free(d);
  mem_free(jpeg);
  return 0;
}

static int run_sample(const char *file, const AugmentSpec *a, RngStream *rs, const char *out) {
  size_t n;
  uint8_t *jpeg = read_all(file, &n);
  SampleWorker *w = sample_worker_new();
  size_t n_out = (size_t)a->out_side * a->out_side * 3;
  uint8_t *img = mem_alloc_or_die(n_out, "output");
  int rc = sample_from_jpeg(w, a, rs, jpeg, n, img);
  if (rc)
    printf("error %s\n", sample_worker_error(w));
  else
    write_all(out, img, n_out);
  sample_worker_free(w);
  mem_free(img);
  mem_free(jpeg);
  return rc ? 1 : 0;
}

static void jpeg_size(const char *file, int *w, int *h) {
  size_t n;
  uint8_t *jpeg = read_all(file, &n);
  JpegDecoder *d = jpegdec_new();
  JpegInfo info = {0};
  jpegdec_info(d, jpeg, n, &info);
  *w = info.width;
  *h = info.height;
  jpegdec_free(d);
  mem_free(jpeg);
}

static int cmd_val(char **a) {
  AugmentSpec s = {.mode = AUG_CENTER, .out_side = atoi(a[2]), .resize = atoi(a[1])};
  int w, h;
  jpeg_size(a[0], &w, &h);
  CropPlan p;
  augment_plan(&s, w, h, NULL, &p);
  printf("%d\n", sample_pick_denom(&p));
  return run_sample(a[0], &s, NULL, a[3]);
}

static int cmd_train(char **a) {
  AugmentSpec s = {AUG_RRC, atoi(a[1]), 0, 0.08, 1.0, 0.75, 4.0 / 3.0, 0, 1};
  uint64_t seed = strtoull(a[2], NULL, 10);
  uint32_t index = (uint32_t)strtoul(a[3], NULL, 10);
  int w, h;
  jpeg_size(a[0], &w, &h);
  RngStream rs;
  CropPlan p;
  rng_stream_init(&rs, seed, rng_id_hi(RNG_DOMAIN_AUGMENT, 0), index);
  augment_plan(&s, w, h, &rs, &p);
  printf("%d %d %d %d %d %d\n", p.x0, p.y0, p.w, p.h, p.flip, sample_pick_denom(&p));
  rng_stream_init(&rs, seed, rng_id_hi(RNG_DOMAIN_AUGMENT, 0), index);
  return run_sample(a[0], &s, &rs, a[4]);
}

static int cmd_resample(char **a) {
  size_t n;
  uint8_t *src = read_all(a[0], &n);
  int w = atoi(a[1]), h = atoi(a[2]), ow = atoi(a[7]), oh = atoi(a[8]);
  double x0 = atof(a[3]), y0 = atof(a[4]), x1 = atof(a[5]), y1 = atof(a[6]);
  ResampleAxis ax = {0}, ay = {0};
  resample_plan(&ax, w, x0, x1, ow, 0, ow);
  resample_plan(&ay, h, y0, y1, oh, 0, oh);
  uint8_t *tmp = mem_alloc_or_die(resample_tmp_bytes(&ax, &ay) + 1, "tmp");
  uint8_t *out = mem_alloc_or_die((size_t)ow * oh * 3, "out");
  resample_run(&ax, &ay, src, (size_t)w * 3, 3, 0, 0, tmp, out, (size_t)ow * 3);
  write_all(a[9], out, (size_t)ow * oh * 3);
  resample_axis_free(&ax);
  resample_axis_free(&ay);
  mem_free(tmp);
  mem_free(out);
  mem_free(src);
  return 0;
}

static int cmd_rrc(char **a) {
  int w = atoi(a[0]), h = atoi(a[1]), n = atoi(a[2]);
  uint64_t seed = strtoull(a[3], NULL, 10);
  for (int i = 0; i < n; i++) {
    RngStream rs;
    int box[4];
    rng_stream_init(&rs, seed, rng_id_hi(RNG_DOMAIN_AUGMENT, 0), (uint32_t)i);
    augment_rrc_box(w, h, 0.08, 1.0, 0.75, 4.0 / 3.0, &rs, box);
    printf("%d %d %d %d\n", box[0], box[1], box[2], box[3]);
  }
  return 0;
}

int main(int argc, char **argv) {
  static const struct {
    const char *name;
    int n_args;
    int (*fn)(char **);
  } cmds[] = {{"decode", 2, cmd_decode}, {"val", 4, cmd_val},       {"train", 5, cmd_train},
              {"resample", 10, cmd_resample}, {"rrc", 4, cmd_rrc}};
  for (size_t i = 0; argc >= 2 && i < sizeof cmds / sizeof cmds[0]; i++)
    if (!strcmp(argv[1], cmds[i].name) && argc - 2 == cmds[i].n_args) return cmds[i].fn(argv + 2);
  fprintf(stderr, "usage: see the top of tests/data/data_probe.c\n");
  return 2;
}
