/* runinfo.h - the run header: which program, commit and libraries ran where.
 *
 * A run directory must say what produced it: the version and git commit of
 * resnet_dist, the hosts and GPUs of every rank, the world size, and the
 * versions of the libraries that did the work (MPI, HDF5, libjpeg-turbo,
 * OpenBLAS; with a CUDA build the CUDA runtime and driver, cuDNN and NCCL).
 * Rank 0 writes it as run.json (and as the "header" record of metrics.jsonl,
 * schema in docs/METRICS.md) next to config.ini, the effective configuration.
 *
 * Nothing CUDA is called unless the run's backend is CUDA (a GPU is in use);
 * otherwise the CUDA, cuDNN and NCCL versions are those the build was
 * compiled against (from their headers).
 */
#ifndef RD_TRAIN_RUNINFO_H
#define RD_TRAIN_RUNINFO_H

#include <stdio.h>

#include "train/run.h"

/* "resnet_dist VERSION (commit C)" and one "  library: version" line each:
 * what --version prints.  Touches no GPU. */
void runinfo_print_versions(FILE *out);

/* The run header as one line of JSON (a {"type":"header",...} object).
 * Collective over r->comm (gathers every rank's host and GPU): every rank
 * must call it; the text is complete on every rank.  mode: "train", "bench".
 * Caller frees with mem_free. */
char *runinfo_header_json(Run *r, const char *mode);

/* Rank 0: writes RUN_DIR/run.json (the header) and RUN_DIR/config.ini (the
 * effective configuration, readable by --config).  A write failure is a
 * warning, not fatal: the run itself does not depend on these files. */
void runinfo_write_files(const Run *r, const char *header_json);

#endif
