/* shards_tool.h - the subcommands of resnet_shards (see resnet_shards.c for
 * the command line).  Each returns the process exit status: 0, or
 * RD_EXIT_USAGE (2) for bad input / bad data. */
#ifndef RD_DATA_TOOLS_SHARDS_TOOL_H
#define RD_DATA_TOOLS_SHARDS_TOOL_H

#include <stdint.h>

typedef struct {
  const char *input, *output;
  const char *val_labels;   /* flat val folder: "file class" lines (or NULL) */
  int shards;               /* train shards (0: ~256 MiB each) */
  int max_side;             /* re-encode images larger than this (0: keep) */
  int quality;              /* JPEG quality of re-encoded images */
  int threads;
} BuildOptions;

typedef struct {
  const char *output;
  int classes;
  int64_t n_train, n_val;
  uint64_t seed;
  int min_side, max_side;   /* shorter side range of the generated images */
  int quality;
  int shards;
  int threads;
} SynthOptions;

int shards_build_imagefolder(const BuildOptions *o);
int shards_build_cifar10(const BuildOptions *o);
int shards_synth(const SynthOptions *o);
int shards_verify(const char *spec, int decode, int threads);
int shards_info(const char *spec);

#endif
