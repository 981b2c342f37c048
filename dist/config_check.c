/* config_check.c - cross-rank configuration comparison; see config_check.h.
 *
 * Steps: all-gather of a 64-bit FNV-1a hash of the text; if any differs,
 * broadcast of rank 0's text (length, then bytes); the lowest differing rank
 * finds the first differing key (config_first_difference) and prints it; a
 * barrier makes sure the line is out before every rank ends the job.
 */
#include "dist/config_check.h"

#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "core/check.h"
#include "core/log.h"
#include "core/mem.h"

static uint64_t fnv1a64(const char *s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    h ^= *p;
    h *= 0x100000001b3ull;
  }
  return h;
}

/* Value of "section.key" in INI text made by config_to_string, into out. */
static void ini_value(const char *text, const char *dotted_key, char *out, size_t out_len) {
  snprintf(out, out_len, "(missing)");
  const char *dot = strchr(dotted_key, '.');
  if (!dot) return;
  char header[96];
  snprintf(header, sizeof header, "[%.*s]\n", (int)(dot - dotted_key), dotted_key);
  const char *sec = strstr(text, header);
  if (!sec) return;
  const char *key = dot + 1;
  size_t key_len = strlen(key);
  for (const char *line = sec + strlen(header); *line && *line != '['; ) {
    const char *nl = strchr(line, '\n');
    size_t len = nl ? (size_t)(nl - line) : strlen(line);
    if (len > key_len + 3 && !strncmp(line, key, key_len) && !strncmp(line + key_len, " = ", 3)) {
      snprintf(out, out_len, "%.*s", (int)(len - key_len - 3), line + key_len + 3);
      return;
    }
    if (!nl) return;
    line = nl + 1;
  }
}

static void report_difference(const Comm *c, const char *mine, const char *rank0_text) {
  char key[160], v_mine[160], v_0[160];
  if (!config_first_difference(rank0_text, mine, key, sizeof key)) {
    log_error("rank %d runs a different configuration than rank 0 (same keys and values, "
              "different text); every rank must get the same config file and --set options",
              c->rank);
    return;
  }
  ini_value(mine, key, v_mine, sizeof v_mine);
  ini_value(rank0_text, key, v_0, sizeof v_0);
  log_error("rank %d runs a different configuration than rank 0: %s = %s on rank %d, %s on "
            "rank 0; every rank must get the same config file and --set options",
            c->rank, key, v_mine, c->rank, v_0);
}

void dist_check_same_config(Comm *c, const char *config_text) {
  if (c->size == 1) return;
  int64_t mine = (int64_t)fnv1a64(config_text);
  int64_t *all = mem_alloc_or_die((size_t)c->size * sizeof *all, "config hashes");
  c->allgather(c, &mine, all, 1, COMM_I64, "all-gather of configuration hashes");
  int first_diff = -1;
  for (int r = 1; r < c->size && first_diff < 0; r++)
    if (all[r] != all[0]) first_diff = r;
  mem_free(all);
  if (first_diff < 0) return;

  int64_t len = c->rank == 0 ? (int64_t)strlen(config_text) : 0;
  c->broadcast(c, &len, 1, COMM_I64, 0, "broadcast of rank 0's configuration length");
  char *text0 = mem_alloc_or_die((size_t)len + 1, "rank 0 configuration");
  if (c->rank == 0) memcpy(text0, config_text, (size_t)len);
  c->broadcast(c, text0, (size_t)len, COMM_U8, 0, "broadcast of rank 0's configuration");
  text0[len] = '\0';
  if (c->rank == first_diff) report_difference(c, config_text, text0);
  mem_free(text0);
  c->barrier(c, "barrier after a configuration mismatch");
  core_exit_job(RD_EXIT_USAGE);
}
