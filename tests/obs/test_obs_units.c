/* test_obs_units.c - the pieces behind metrics files and plots, without a run:
 * the JSON writer (escapes, nesting, non-finite numbers) read back by the plot
 * tool's reader (top-level keys only, malformed text is "not found"), a
 * series that keeps the newest points of a resumed run, and the PNG / SVG
 * files of a chart: PNG signature, IHDR fields, every chunk's CRC-32, IDAT
 * inflating to exactly h x (1 + 3w) bytes with the pixels we drew, IEND last. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "core/mem.h"
#include "plot/chart.h"
#include "plot/jsonl.h"
#include "plot/png.h"
#include "test_util.h"
#include "train/jsonw.h"

static char g_dir[64];

static void test_json_round_trip(void) {
  JsonW w;
  jsonw_init(&w);
  jsonw_obj_begin(&w);
  jsonw_kstr(&w, "type", "step");
  jsonw_key(&w, "nested");
  jsonw_obj_begin(&w);
  jsonw_knum(&w, "loss", 99);
  jsonw_key(&w, "list");
  jsonw_arr_begin(&w);
  jsonw_int(&w, 1);
  jsonw_str(&w, "a,\"b\"}");
  jsonw_arr_end(&w);
  jsonw_obj_end(&w);
  jsonw_knum(&w, "loss", 2.25);
  jsonw_knum(&w, "bad", NAN);
  jsonw_kint(&w, "big", INT64_C(9007199254740993));
  jsonw_kstr(&w, "text", "tab\there \"quoted\" back\\slash\n");
  jsonw_kbool(&w, "flag", 1);
  jsonw_kfixed(&w, "t", 1795337555.123456, 3);
  jsonw_obj_end(&w);
  const char *s = w.s;
  T_CHECK(strchr(s, '\n') == NULL, "one line: %s", s);
  double v = 0;
  T_CHECK(jsonl_number(s, "loss", &v) && v == 2.25, "top-level loss, not the nested one: %g", v);
  T_CHECK(!jsonl_number(s, "bad", &v), "NaN written as null reads as absent");
  T_CHECK(strstr(s, "\"bad\":null") != NULL, "null in %s", s);
  T_CHECK(strstr(s, "\"big\":9007199254740993") != NULL, "int64 exact in %s", s);
  T_CHECK(strstr(s, "\"t\":1795337555.123") != NULL, "fixed decimals in %s", s);
  char text[64];
  T_CHECK(jsonl_string(s, "text", text, sizeof text) &&
              !strcmp(text, "tab\there \"quoted\" back\\slash\n"),
          "escaped string reads back: [%s]", text);
  T_CHECK(jsonl_string(s, "type", text, sizeof text) && !strcmp(text, "step"), "type");
  T_CHECK(!jsonl_number(s, "list", &v), "an array is not a number");
  T_CHECK(!jsonl_number(s, "missing", &v), "missing key");
  jsonw_free(&w);
}

static void test_json_malformed(void) {
  double v;
  char t[8];
  const char *bad[] = {"", "not json", "{\"loss\":", "{\"loss\" 1}", "[1,2]",
                       "{\"a\":\"unterminated", "{\"a\":{\"loss\":1}", "{\"loss\":1x}", NULL};
  for (int i = 0; bad[i]; i++) {
    T_CHECK(!jsonl_number(bad[i], "loss", &v), "malformed line %d gives no number", i);
    T_CHECK(!jsonl_string(bad[i], "a", t, sizeof t), "malformed line %d gives no string", i);
  }
  T_CHECK(jsonl_number(" { \"x\" : -1.5e-3 , \"loss\" : 7 } ", "loss", &v) && v == 7,
          "whitespace everywhere");
  T_CHECK(jsonl_string("{\"s\":\"abcdefghij\"}", "s", t, sizeof t) && !strcmp(t, "abcdefg"),
          "truncated to the buffer: %s", t);
}

static void test_series_resume(void) {
  Chart c;
  chart_init(&c, "t", "x", "y");
  Series *s = chart_add_series(&c, "s", 0);
  for (int i = 1; i <= 5; i++) series_add(s, i, i * 10);
  series_add(s, 3, 333); /* a run resumed at x = 3 logs it again */
  series_add(s, 4, 444);
  series_add(s, 5, INFINITY); /* ignored */
  T_CHECK(s->n == 4, "points after resume: %d", s->n);
  T_CHECK(s->n == 4 && s->y[2] == 333 && s->y[3] == 444 && s->x[1] == 2,
          "newest values kept (%g %g)", s->y[2], s->y[3]);
  chart_free(&c);
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint8_t *read_all(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = mem_alloc_or_die((size_t)len + 1, "file");
  *n = fread(buf, 1, (size_t)len, f);
  fclose(f);
  return buf;
}

/* Checks a PNG file; returns its inflated scanlines (caller frees) or NULL. */
static uint8_t *check_png(const char *path, int want_w, int want_h) {
  size_t n = 0;
  uint8_t *buf = read_all(path, &n);
  T_CHECK(buf != NULL && n > 8, "%s readable", path);
  if (!buf) return NULL;
  static const uint8_t SIG[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  T_CHECK(!memcmp(buf, SIG, 8), "PNG signature");
  size_t pos = 8, idat_n = 0;
  uint8_t *idat = mem_alloc_or_die(n, "idat");
  int chunks = 0, seen_end = 0, w = 0, h = 0;
  while (pos + 12 <= n && !seen_end) {
    uint32_t len = be32(buf + pos);
    const char *type = (const char *)buf + pos + 4;
    if (pos + 12 + len > n) break;
    uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), buf + pos + 4, len + 4);
    T_CHECK(crc == be32(buf + pos + 8 + len), "CRC of chunk %.4s", type);
    if (chunks == 0) {
      T_CHECK(!memcmp(type, "IHDR", 4) && len == 13, "IHDR first, 13 bytes");
      w = (int)be32(buf + pos + 8);
      h = (int)be32(buf + pos + 12);
      T_CHECK(buf[pos + 16] == 8 && buf[pos + 17] == 2, "8-bit RGB");
    }
    if (!memcmp(type, "IDAT", 4)) {
      memcpy(idat + idat_n, buf + pos + 8, len);
      idat_n += len;
    }
    seen_end = !memcmp(type, "IEND", 4);
    chunks++;
    pos += 12 + len;
  }
  T_CHECK(seen_end && pos == n, "IEND is the last chunk and ends the file");
  T_CHECK(w == want_w && h == want_h, "size %dx%d", w, h);
  uLongf raw_n = (uLongf)h * (1 + 3 * (uLongf)w);
  uint8_t *raw = mem_alloc_or_die(raw_n + 16, "scanlines");
  uLongf got = raw_n + 16;
  int rc = uncompress(raw, &got, idat, idat_n);
  T_CHECK(rc == Z_OK && got == raw_n, "IDAT inflates to %lu bytes (got %lu, rc %d)",
          (unsigned long)raw_n, (unsigned long)got, rc);
  mem_free(idat);
  mem_free(buf);
  return raw;
}

static void test_png_pixels(void) {
  uint8_t rgb[2 * 3 * 3]; /* (3, 2, 3): a 2x3 image */
  for (int i = 0; i < (int)sizeof rgb; i++) rgb[i] = (uint8_t)(i * 13);
  char path[128], err[256];
  snprintf(path, sizeof path, "%s/tiny.png", g_dir);
  T_CHECK(png_write_rgb(path, rgb, 2, 3, err, sizeof err) == 0, "png_write_rgb: %s", err);
  uint8_t *raw = check_png(path, 2, 3);
  if (!raw) return;
  int same = 1;
  for (int y = 0; y < 3; y++) {
    same &= raw[y * 7] == 0; /* filter type 0 */
    same &= !memcmp(raw + y * 7 + 1, rgb + y * 6, 6);
  }
  T_CHECK(same, "pixels read back");
  mem_free(raw);
  T_CHECK(png_write_rgb("/nonexistent-dir/x.png", rgb, 2, 3, err, sizeof err) != 0 &&
              strstr(err, "/nonexistent-dir/x.png"),
          "unwritable path named: %s", err);
}

static void test_chart_files(void) {
  Chart c;
  chart_init(&c, "loss & <accuracy>", "epoch", "value");
  Series *a = chart_add_series(&c, "train", 0);
  Series *b = chart_add_series(&c, "val", 1);
  for (int i = 0; i < 50; i++) series_add(a, i * 0.1, exp(-i * 0.05));
  for (int i = 1; i <= 5; i++) series_add(b, i, exp(-i * 0.3));
  char svg[128], png[128], err[256];
  snprintf(svg, sizeof svg, "%s/c.svg", g_dir);
  snprintf(png, sizeof png, "%s/c.png", g_dir);
  T_CHECK(chart_write_svg(&c, svg, err, sizeof err) == 0, "svg: %s", err);
  T_CHECK(chart_write_png(&c, png, err, sizeof err) == 0, "png: %s", err);
  uint8_t *raw = check_png(png, CHART_W, CHART_H);
  if (raw) {
    size_t row = 1 + 3 * (size_t)CHART_W, coloured = 0;
    for (size_t y = 0; y < CHART_H; y++)
      for (size_t x = 0; x < CHART_W; x++) {
        const uint8_t *p = raw + y * row + 1 + 3 * x;
        coloured += p[0] == 31 && p[1] == 119 && p[2] == 180; /* first series' colour */
      }
    T_CHECK(coloured > 500, "the first series was drawn (%zu pixels)", coloured);
    mem_free(raw);
  }
  size_t n = 0;
  uint8_t *text = read_all(svg, &n);
  T_CHECK(text != NULL, "svg readable");
  if (text) {
    text[n] = '\0';
    const char *s = (const char *)text;
    T_CHECK(!strncmp(s, "<?xml", 5) && strstr(s, "<svg ") && strstr(s, "</svg>\n"),
            "SVG document");
    T_CHECK(strstr(s, "loss &amp; &lt;accuracy&gt;") != NULL, "title escaped");
    T_CHECK(strstr(s, "<polyline") != NULL && strstr(s, "<circle") != NULL,
            "a line and markers");
    mem_free(text);
  }
  chart_free(&c);
}

static void test_empty_chart(void) {
  Chart c;
  chart_init(&c, "nothing", "x", "y");
  chart_add_series(&c, "s", 0);
  char path[128], err[256];
  snprintf(path, sizeof path, "%s/empty.png", g_dir);
  T_CHECK(chart_write_png(&c, path, err, sizeof err) == 0, "an empty chart still renders");
  uint8_t *raw = check_png(path, CHART_W, CHART_H);
  mem_free(raw);
  chart_free(&c);
}

int main(void) {
  snprintf(g_dir, sizeof g_dir, "/tmp/rd_obs_units.XXXXXX");
  if (!mkdtemp(g_dir)) test_skip("cannot create a temporary folder");
  TEST_RUN(test_json_round_trip);
  TEST_RUN(test_json_malformed);
  TEST_RUN(test_series_resume);
  TEST_RUN(test_png_pixels);
  TEST_RUN(test_chart_files);
  TEST_RUN(test_empty_chart);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
  return test_summary();
}
