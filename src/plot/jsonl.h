/* jsonl.h - reading top-level fields of one JSON object (one line of a
 * .jsonl file such as metrics.jsonl).
 *
 * Enough JSON for records we write ourselves and scripts may edit: strings
 * with escapes, numbers, true/false/null, nested objects and arrays (skipped
 * as values).  A field is found only at the top level of the object, so a
 * nested "loss" never shadows the record's own.  Malformed text is "not
 * found", never a crash.
 */
#ifndef RD_PLOT_JSONL_H
#define RD_PLOT_JSONL_H

#include <stddef.h>

/* 1 and *out when key is a top-level number of the object in line; 0 when it
 * is missing, null or not a number. */
int jsonl_number(const char *line, const char *key, double *out);

/* 1 and the (unescaped, truncated to n - 1 bytes) text when key is a
 * top-level string; 0 otherwise. */
int jsonl_string(const char *line, const char *key, char *out, size_t n);

#endif
