/* jsonw.c - see jsonw.h. */
#include "train/jsonw.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/check.h"
#include "core/mem.h"

void jsonw_init(JsonW *w) {
  memset(w, 0, sizeof *w);
  w->cap = 256;
  w->s = mem_alloc_or_die(w->cap, "JSON text");
  w->s[0] = '\0';
}

void jsonw_free(JsonW *w) {
  mem_free(w->s);
  memset(w, 0, sizeof *w);
}

char *jsonw_take(JsonW *w) {
  char *s = w->s;
  memset(w, 0, sizeof *w);
  return s;
}

static void put(JsonW *w, const char *text, size_t n_bytes) {
  if (w->n + n_bytes + 1 > w->cap) {
    while (w->n + n_bytes + 1 > w->cap) w->cap *= 2;
    w->s = mem_realloc_or_die(w->s, w->cap, "JSON text");
  }
  memcpy(w->s + w->n, text, n_bytes);
  w->n += n_bytes;
  w->s[w->n] = '\0';
}

static void puts_(JsonW *w, const char *text) { put(w, text, strlen(text)); }

/* Comma before a value (or a key) that is not the first at its level. */
static void before_value(JsonW *w) {
  if (w->after_key) {
    w->after_key = 0;
    return;
  }
  if (w->depth > 0 && w->count[w->depth - 1]++ > 0) put(w, ",", 1);
}

static void put_escaped(JsonW *w, const char *v) {
  put(w, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
    char esc[8];
    switch (*p) {
      case '"': puts_(w, "\\\""); break;
      case '\\': puts_(w, "\\\\"); break;
      case '\n': puts_(w, "\\n"); break;
      case '\r': puts_(w, "\\r"); break;
      case '\t': puts_(w, "\\t"); break;
      default:
        if (*p < 0x20) {
          snprintf(esc, sizeof esc, "\\u%04x", *p);
          puts_(w, esc);
        } else {
          put(w, (const char *)p, 1);
        }
    }
  }
  put(w, "\"", 1);
}

static void open_level(JsonW *w, const char *bracket) {
  before_value(w);
  CHECK(w->depth < JSONW_MAX_DEPTH, "JSON nested deeper than %d", JSONW_MAX_DEPTH);
  w->count[w->depth++] = 0;
  puts_(w, bracket);
}

static void close_level(JsonW *w, const char *bracket) {
  CHECK(w->depth > 0 && !w->after_key, "unbalanced JSON writer");
  w->depth--;
  puts_(w, bracket);
}

void jsonw_obj_begin(JsonW *w) { open_level(w, "{"); }
void jsonw_obj_end(JsonW *w) { close_level(w, "}"); }
void jsonw_arr_begin(JsonW *w) { open_level(w, "["); }
void jsonw_arr_end(JsonW *w) { close_level(w, "]"); }

void jsonw_key(JsonW *w, const char *key) {
  before_value(w);
  put_escaped(w, key);
  put(w, ":", 1);
  w->after_key = 1;
}

void jsonw_str(JsonW *w, const char *v) {
  before_value(w);
  put_escaped(w, v ? v : "");
}

void jsonw_num(JsonW *w, double v) {
  before_value(w);
  if (!isfinite(v)) {
    puts_(w, "null");
    return;
  }
  char buf[40];
  snprintf(buf, sizeof buf, "%.9g", v);
  puts_(w, buf);
}

void jsonw_fixed(JsonW *w, double v, int decimals) {
  before_value(w);
  if (!isfinite(v)) {
    puts_(w, "null");
    return;
  }
  char buf[64];
  snprintf(buf, sizeof buf, "%.*f", decimals, v);
  puts_(w, buf);
}

void jsonw_int(JsonW *w, int64_t v) {
  before_value(w);
  char buf[32];
  snprintf(buf, sizeof buf, "%" PRId64, v);
  puts_(w, buf);
}

void jsonw_bool(JsonW *w, int v) {
  before_value(w);
  puts_(w, v ? "true" : "false");
}

void jsonw_null(JsonW *w) {
  before_value(w);
  puts_(w, "null");
}

void jsonw_raw(JsonW *w, const char *json) {
  before_value(w);
  puts_(w, json);
}

void jsonw_kstr(JsonW *w, const char *key, const char *v) {
  jsonw_key(w, key);
  jsonw_str(w, v);
}
void jsonw_knum(JsonW *w, const char *key, double v) {
  jsonw_key(w, key);
  jsonw_num(w, v);
}
void jsonw_kfixed(JsonW *w, const char *key, double v, int decimals) {
  jsonw_key(w, key);
  jsonw_fixed(w, v, decimals);
}
void jsonw_kint(JsonW *w, const char *key, int64_t v) {
  jsonw_key(w, key);
  jsonw_int(w, v);
}
void jsonw_kbool(JsonW *w, const char *key, int v) {
  jsonw_key(w, key);
  jsonw_bool(w, v);
}
