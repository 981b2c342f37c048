/* jsonl.c - see jsonl.h.  A small recursive-descent skipper over RFC 8259
 * text: it never builds a tree, it only walks to the value of one key. */
#include "plot/jsonl.h"

#include <stdlib.h>
#include <string.h>

static const char *skip_ws(const char *p) {
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
  return p;
}

/* p at the opening quote; returns the character after the closing quote. */
static const char *skip_string(const char *p) {
  for (p++; *p; p++) {
    if (*p == '\\') {
      if (!p[1]) return NULL;
      p++;
    } else if (*p == '"') {
      return p + 1;
    }
  }
  return NULL;
}

/* An object or array, p at its bracket. */
static const char *skip_nested(const char *p) {
  int depth = 0;
  while (*p) {
    if (*p == '"') {
      p = skip_string(p);
      if (!p) return NULL;
      continue;
    }
    if (*p == '{' || *p == '[') depth++;
    if (*p == '}' || *p == ']') {
      if (--depth == 0) return p + 1;
    }
    p++;
  }
  return NULL;
}

static const char *skip_value(const char *p) {
  if (*p == '"') return skip_string(p);
  if (*p == '{' || *p == '[') return skip_nested(p);
  const char *start = p;
  while (*p && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' && *p != '\n' &&
         *p != '\r')
    p++;
  return p > start ? p : NULL;
}

/* The value of a top-level key of the object in line, or NULL. */
static const char *find_value(const char *line, const char *key) {
  size_t key_len = strlen(key);
  const char *p = skip_ws(line);
  if (*p != '{') return NULL;
  p = skip_ws(p + 1);
  while (*p == '"') {
    const char *end = skip_string(p);
    if (!end) return NULL;
    int match = (size_t)(end - p - 2) == key_len && !strncmp(p + 1, key, key_len);
    p = skip_ws(end);
    if (*p != ':') return NULL;
    p = skip_ws(p + 1);
    if (match) return p;
    p = skip_value(p);
    if (!p) return NULL;
    p = skip_ws(p);
    if (*p != ',') return NULL;
    p = skip_ws(p + 1);
  }
  return NULL;
}

int jsonl_number(const char *line, const char *key, double *out) {
  const char *v = find_value(line, key);
  if (!v || !(*v == '-' || (*v >= '0' && *v <= '9'))) return 0;
  char *end = NULL;
  double x = strtod(v, &end);
  if (end == v) return 0;
  end = (char *)skip_ws(end);
  if (*end != ',' && *end != '}') return 0;
  *out = x;
  return 1;
}

static char unescape(char c) {
  switch (c) {
    case 'b': return '\b';
    case 'f': return '\f';
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    default: return c; /* " \ / */
  }
}

int jsonl_string(const char *line, const char *key, char *out, size_t n) {
  const char *v = find_value(line, key);
  if (!v || *v != '"' || !skip_string(v) || n == 0) return 0;
  size_t k = 0;
  for (const char *p = v + 1; *p && *p != '"'; p++) {
    char c = *p;
    if (c == '\\') {
      p++;
      if (*p == 'u') { /* non-ASCII: one placeholder */
        c = '?';
        for (int i = 0; i < 4 && p[1]; i++) p++;
      } else {
        c = unescape(*p);
      }
    }
    if (k + 1 < n) out[k++] = c;
  }
  out[k] = '\0';
  return 1;
}
