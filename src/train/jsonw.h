/* jsonw.h - a small JSON writer into a growable buffer.
 *
 * Used for everything the run leaves for scripts: metrics.jsonl records, the
 * run header (run.json), --mode bench --json and the Chrome trace.  The writer
 * tracks nesting so callers never place commas by hand; strings are escaped
 * per RFC 8259; a non-finite number is written as null (JSON has no NaN).
 * Output is one line (no newlines are added).
 */
#ifndef RD_TRAIN_JSONW_H
#define RD_TRAIN_JSONW_H

#include <stddef.h>
#include <stdint.h>

enum { JSONW_MAX_DEPTH = 16 };

typedef struct {
  char *s;                    /* NUL-terminated text so far */
  size_t n, cap;              /* length, capacity in bytes */
  int depth;
  int count[JSONW_MAX_DEPTH]; /* values written at each open level */
  int after_key;              /* a key was written; its value comes next */
} JsonW;

void jsonw_init(JsonW *w);
void jsonw_free(JsonW *w);
/* Hands the text over (caller frees with mem_free) and resets w. */
char *jsonw_take(JsonW *w);

void jsonw_obj_begin(JsonW *w);
void jsonw_obj_end(JsonW *w);
void jsonw_arr_begin(JsonW *w);
void jsonw_arr_end(JsonW *w);
void jsonw_key(JsonW *w, const char *key);

void jsonw_str(JsonW *w, const char *v);
void jsonw_num(JsonW *w, double v);   /* %.9g; null when not finite */
void jsonw_fixed(JsonW *w, double v, int decimals); /* %.*f, e.g. a Unix time in ms */
void jsonw_int(JsonW *w, int64_t v);
void jsonw_bool(JsonW *w, int v);
void jsonw_null(JsonW *w);
/* Inserts already-formed JSON text (e.g. a nested document) as one value. */
void jsonw_raw(JsonW *w, const char *json);

/* key + value in one call */
void jsonw_kstr(JsonW *w, const char *key, const char *v);
void jsonw_knum(JsonW *w, const char *key, double v);
void jsonw_kfixed(JsonW *w, const char *key, double v, int decimals);
void jsonw_kint(JsonW *w, const char *key, int64_t v);
void jsonw_kbool(JsonW *w, const char *key, int v);

#endif
