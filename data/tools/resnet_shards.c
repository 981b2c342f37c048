/* resnet_shards.c - the dataset tool: builds, generates, verifies and
 * describes HDF5 shard folders (format: docs/SHARDS.md).
 *
 *   resnet_shards build --from imagefolder --input ROOT --output DIR [--shards N]
 *                       [--max-side S --quality Q] [--val-labels FILE]
 *   resnet_shards build --from cifar10 --input DIR_WITH_BIN_BATCHES --output DIR
 *   resnet_shards synth --output DIR [--classes C --train N --val M --seed S]
 *   resnet_shards verify DIR [--decode]
 *   resnet_shards info DIR
 *
 * The command-line shape is an interface: scripts rely on it.  Exit status 0
 * on success, 2 for a usage mistake or bad data (with one line saying what).
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/check.h"
#include "data/shard.h"
#include "data/shard_writer.h"
#include "data/tools/files.h"
#include "data/tools/parallel.h"
#include "data/tools/shards_tool.h"

static const char USAGE[] =
    "usage:\n"
    "  resnet_shards build --from imagefolder --input ROOT --output DIR [--shards N]\n"
    "                      [--max-side S] [--quality Q] [--val-labels FILE]\n"
    "      ROOT/train/<class>/* (and ROOT/val/<class>/*, or a flat ROOT/val with\n"
    "      --val-labels FILE, or Tiny-ImageNet's ROOT/val/val_annotations.txt)\n"
    "  resnet_shards build --from cifar10 --input DIR --output DIR [--shards N]\n"
    "      DIR holds data_batch_1..5.bin and test_batch.bin\n"
    "  resnet_shards synth --output DIR [--classes C] [--train N] [--val M] [--seed S]\n"
    "                      [--min-side A] [--max-side B] [--quality Q] [--shards N]\n"
    "  resnet_shards verify DIR [--decode]\n"
    "  resnet_shards info DIR\n"
    "options for build and synth: --threads T (default: all cores), --overwrite\n"
    "(replace existing shards of the same split in DIR)\n";

typedef struct {
  const char *name;
  const char *value;  /* NULL: not given */
  int is_flag;
} Opt;

/* Parses "--name value", "--name=value" and flags into opts; positional
 * arguments into pos.  0, or 2 with a message. */
static int parse(int argc, char **argv, Opt *opts, int n_opts, const char **pos, int max_pos,
                 int *n_pos) {
  *n_pos = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (strncmp(a, "--", 2)) {
      if (*n_pos == max_pos) {
        fprintf(stderr, "error: unexpected argument '%s' (see resnet_shards --help)\n", a);
        return 2;
      }
      pos[(*n_pos)++] = a;
      continue;
    }
    const char *eq = strchr(a, '=');
    size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    Opt *o = NULL;
    for (int k = 0; k < n_opts && !o; k++)
      if (strlen(opts[k].name) == len && !strncmp(opts[k].name, a + 2, len)) o = &opts[k];
    if (!o) {
      fprintf(stderr, "error: unknown option '%s' (see resnet_shards --help)\n", a);
      return 2;
    }
    if (o->is_flag) {
      o->value = "1";
    } else if (eq) {
      o->value = eq + 1;
    } else if (i + 1 < argc) {
      o->value = argv[++i];
    } else {
      fprintf(stderr, "error: option --%s needs a value\n", o->name);
      return 2;
    }
  }
  return 0;
}

static const char *get(const Opt *opts, int n, const char *name) {
  for (int k = 0; k < n; k++)
    if (!strcmp(opts[k].name, name)) return opts[k].value;
  return NULL;
}

/* Integer option in [lo, hi] (default when absent); -1 sets *bad. */
static long long get_int(const Opt *opts, int n, const char *name, long long def, long long lo,
                         long long hi, int *bad) {
  const char *v = get(opts, n, name);
  if (!v) return def;
  char *end;
  long long x = strtoll(v, &end, 10);
  if (!*v || *end || x < lo || x > hi) {
    fprintf(stderr, "error: --%s=%s: expected an integer in [%lld, %lld]\n", name, v, lo, hi);
    *bad = 1;
  }
  return x;
}

/* Holds an exclusive lock on DIR until the process ends, so that no two
 * builds write into one folder (and removing leftovers is safe).  0, or 2
 * when another one holds it; file systems without flock go unlocked. */
static int lock_output(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return 0;
  if (flock(fd, LOCK_EX | LOCK_NB) == 0) return 0; /* fd stays open: the lock lives on */
  int busy = errno == EWOULDBLOCK;
  close(fd);
  if (!busy) return 0;
  fprintf(stderr, "error: %s: another resnet_shards is writing into this folder; wait for it "
          "or use another folder\n", dir);
  return 2;
}

/* Removes the temporary files an interrupted build of ours left in DIR
 * (DIR/<split>-IIIII-of-NNNNN.h5.tmp and .h5.records.tmp). */
static void remove_leftovers(const char *dir, const char *split) {
  static const char *const tails[] = {".h5.tmp", ".h5.records.tmp"};
  for (int t = 0; t < 2; t++) {
    char pattern[4300];
    snprintf(pattern, sizeof pattern, "%s/%s-[0-9][0-9][0-9][0-9][0-9]-of-"
             "[0-9][0-9][0-9][0-9][0-9]%s", dir, split, tails[t]);
    glob_t g;
    if (glob(pattern, 0, NULL, &g)) continue;
    for (size_t i = 0; i < g.gl_pathc; i++) {
      if (unlink(g.gl_pathv[i]))
        perror(g.gl_pathv[i]);
      else
        printf("removed %s (left by an interrupted build)\n", g.gl_pathv[i]);
    }
    globfree(&g);
  }
}

/* Makes DIR; refuses to mix with shards of a split already there. */
static int prepare_output(const char *dir, int overwrite, const char *const *splits, int n) {
  if (files_mkdirs(dir)) {
    perror(dir);
    return 2;
  }
  if (lock_output(dir)) return 2;
  shard_writer_cleanup_on_signals();
  for (int s = 0; s < n; s++) remove_leftovers(dir, splits[s]);
  for (int s = 0; s < n; s++) {
    char pattern[4200];
    snprintf(pattern, sizeof pattern, "%s/%s-*.h5", dir, splits[s]);
    glob_t g;
    if (glob(pattern, 0, NULL, &g)) continue;
    for (size_t i = 0; i < g.gl_pathc; i++) {
      if (!overwrite) {
        fprintf(stderr, "error: %s already holds %s shards (%s); use another folder or "
                "--overwrite\n", dir, splits[s], g.gl_pathv[i]);
        globfree(&g);
        return 2;
      }
      if (unlink(g.gl_pathv[i])) perror(g.gl_pathv[i]);
    }
    globfree(&g);
  }
  return 0;
}

static const char *const BOTH_SPLITS[] = {"train", "val"};

static int cmd_build(int argc, char **argv) {
  Opt opts[] = {{"from", 0, 0},    {"input", 0, 0},      {"output", 0, 0},
                {"shards", 0, 0},  {"max-side", 0, 0},   {"quality", 0, 0},
                {"threads", 0, 0}, {"val-labels", 0, 0}, {"overwrite", 0, 1}};
  int n = (int)(sizeof opts / sizeof opts[0]), n_pos, bad = 0;
  const char *pos[1];
  if (parse(argc, argv, opts, n, pos, 0, &n_pos)) return 2;
  BuildOptions o = {get(opts, n, "input"), get(opts, n, "output"), get(opts, n, "val-labels"),
                    (int)get_int(opts, n, "shards", 0, 1, 99999, &bad),
                    (int)get_int(opts, n, "max-side", 0, 16, 65535, &bad),
                    (int)get_int(opts, n, "quality", 95, 1, 100, &bad),
                    (int)get_int(opts, n, "threads", parallel_default_threads(), 1, 1024, &bad)};
  const char *from = get(opts, n, "from");
  if (bad) return 2;
  if (!from || !o.input || !o.output) {
    fprintf(stderr, "error: build needs --from, --input and --output\n%s", USAGE);
    return 2;
  }
  if (!files_is_dir(o.input)) {
    fprintf(stderr, "error: --input %s is not a folder\n", o.input);
    return 2;
  }
  int is_folder = !strcmp(from, "imagefolder"), is_cifar = !strcmp(from, "cifar10");
  if (!is_folder && !is_cifar) {
    fprintf(stderr, "error: --from %s: expected imagefolder or cifar10\n", from);
    return 2;
  }
  if (prepare_output(o.output, get(opts, n, "overwrite") != NULL, BOTH_SPLITS, 2)) return 2;
  return is_folder ? shards_build_imagefolder(&o) : shards_build_cifar10(&o);
}

static int cmd_synth(int argc, char **argv) {
  Opt opts[] = {{"output", 0, 0},   {"classes", 0, 0},  {"train", 0, 0},
                {"val", 0, 0},      {"seed", 0, 0},     {"min-side", 0, 0},
                {"max-side", 0, 0}, {"quality", 0, 0},  {"shards", 0, 0},
                {"threads", 0, 0},  {"overwrite", 0, 1}};
  int n = (int)(sizeof opts / sizeof opts[0]), n_pos, bad = 0;
  const char *pos[1];
  if (parse(argc, argv, opts, n, pos, 0, &n_pos)) return 2;
  SynthOptions o = {get(opts, n, "output"),
                    (int)get_int(opts, n, "classes", 10, 1, 100000, &bad),
                    get_int(opts, n, "train", 1000, 1, 1LL << 31, &bad),
                    get_int(opts, n, "val", 200, 0, 1LL << 31, &bad),
                    (uint64_t)get_int(opts, n, "seed", 1, 0, 1LL << 62, &bad),
                    (int)get_int(opts, n, "min-side", 64, 8, 8192, &bad),
                    (int)get_int(opts, n, "max-side", 160, 8, 8192, &bad),
                    (int)get_int(opts, n, "quality", 90, 1, 100, &bad),
                    (int)get_int(opts, n, "shards", 1, 1, 99999, &bad),
                    (int)get_int(opts, n, "threads", parallel_default_threads(), 1, 1024, &bad)};
  if (bad) return 2;
  if (!o.output) {
    fprintf(stderr, "error: synth needs --output DIR\n");
    return 2;
  }
  if (o.min_side > o.max_side) {
    fprintf(stderr, "error: --min-side %d is larger than --max-side %d\n", o.min_side,
            o.max_side);
    return 2;
  }
  if (prepare_output(o.output, get(opts, n, "overwrite") != NULL, BOTH_SPLITS, 2)) return 2;
  return shards_synth(&o);
}

static int cmd_verify(int argc, char **argv, int info) {
  Opt opts[] = {{"decode", 0, 1}, {"threads", 0, 0}};
  int n = info ? 0 : 2, n_pos, bad = 0;
  const char *pos[1];
  if (parse(argc, argv, opts, n, pos, 1, &n_pos)) return 2;
  int threads = (int)get_int(opts, n, "threads", parallel_default_threads(), 1, 1024, &bad);
  if (bad) return 2;
  if (n_pos != 1) {
    fprintf(stderr, "error: %s needs a shard folder, glob or file\n", info ? "info" : "verify");
    return 2;
  }
  if (info) return shards_info(pos[0]);
  return shards_verify(pos[0], get(opts, n, "decode") != NULL, threads);
}

int main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    fputs(USAGE, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("resnet_shards %s (%s), shard format version %d\n", RD_VERSION, RD_GIT_COMMIT,
           SHARD_VERSION);
    return 0;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "build")) return cmd_build(argc - 2, argv + 2);
  if (!strcmp(cmd, "synth")) return cmd_synth(argc - 2, argv + 2);
  if (!strcmp(cmd, "verify")) return cmd_verify(argc - 2, argv + 2, 0);
  if (!strcmp(cmd, "info")) return cmd_verify(argc - 2, argv + 2, 1);
  fprintf(stderr, "error: unknown command '%s'\n%s", cmd, USAGE);
  return 2;
}
