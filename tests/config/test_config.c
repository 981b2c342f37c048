/* test_config.c - INI parsing of every key type, errors that name file, line,
 * key and accepted values, suggestions for unknown keys and sections, --set
 * precedence, and the --print-config round trip. */
#include <string.h>
#include <unistd.h>

#include "config/cli.h"
#include "config/config.h"
#include "core/mem.h"
#include "test_util.h"

static char err[CFG_ERR_MAX];

static int load(Config *c, const char *text) {
  config_defaults(c);
  err[0] = '\0';
  return config_load_string(c, text, "t.ini", err, sizeof err);
}

static void expect_error(const char *text, const char *needle) {
  Config c;
  int rc = load(&c, text);
  T_CHECK(rc == -1, "accepted: %s", text);
  T_CHECK(strstr(err, needle) != NULL, "message '%s' lacks '%s'", err, needle);
  T_CHECK(strchr(err, '\n') == NULL, "message has a newline: '%s'", err);
}

static void test_defaults(void) {
  Config c;
  config_defaults(&c);
  T_CHECK(c.model.arch == ARCH_RESNET50, "arch");
  T_CHECK(c.train.batch_size == 256, "batch");
  T_CHECK(c.dist.sync_bn == 1, "sync_bn");
  T_CHECK(c.data.mean.n == 3 && fabs(c.data.mean.v[1] - 0.456) < 1e-12, "mean");
  T_CHECK(!strcmp(c.checkpoint.resume, "auto"), "resume");
  T_CHECK(config_validate(&c, err, sizeof err) == 0, "defaults validate: %s", err);
}

static void test_every_type(void) {
  Config c;
  int rc = load(&c,
                "; comment\n# comment\n[model]\narch = resnet20\nnum_classes = 10\n"
                "zero_init_residual = yes\nshortcut = b\n[data]\ntrain = /data/in net/*.h5\n"
                "limit_samples = 5000000000\nmean = 0.5, 0.25,0.125\n[train]\nlr_dummy_absent=1\n");
  T_CHECK(rc == -1 && strstr(err, "lr_dummy_absent"), "unknown key caught: %s", err);
  rc = load(&c,
            "[model]\narch = resnet20\nnum_classes = 10\nzero_init_residual = yes\n"
            "shortcut = b\n[data]\ntrain = /data/in net/*.h5\nlimit_samples = 5000000000\n"
            "mean = 0.5, 0.25,0.125\n[optim]\nlr = 0.05 ; inline comment\nmilestones = 32000,48000\n"
            "milestone_unit = steps\n[train]\nprecision = FP32-strict\n");
  T_CHECK(rc == 0, "parse: %s", err);
  T_CHECK(c.model.arch == ARCH_RESNET20, "enum");
  T_CHECK(c.model.num_classes == 10, "int");
  T_CHECK(c.model.zero_init_residual == 1, "bool yes");
  T_CHECK(c.model.shortcut == SHORTCUT_B, "enum case-insensitive");
  T_CHECK(!strcmp(c.data.train, "/data/in net/*.h5"), "string with space: '%s'", c.data.train);
  T_CHECK(c.data.limit_samples == 5000000000LL, "int64");
  T_CHECK(c.data.mean.n == 3 && c.data.mean.v[2] == 0.125, "list");
  T_CHECK(c.optim.lr == 0.05, "double with inline comment: %g", c.optim.lr);
  T_CHECK(c.optim.milestones.n == 2 && c.optim.milestones.v[1] == 48000, "milestones");
  T_CHECK(c.train.precision == PREC_FP32_STRICT, "precision");
}

static void test_bad_values(void) {
  expect_error("[train]\nlr = abc\n", "t.ini:2:");
  expect_error("[optim]\nlr = abc\n", "[optim] lr = 'abc': expected a number in [0, 1000]");
  expect_error("[train]\nbatch_size = 0\n", "expected an integer in [1, 65536]");
  expect_error("[train]\nbatch_size = 12.5\n", "batch_size = '12.5'");
  expect_error("[model]\narch = resnet51\n", "expected one of resnet18");
  expect_error("[dist]\nsync_bn = maybe\n", "expected true or false");
  expect_error("[data]\nmean = 0.5,0.5\n", "3 comma-separated numbers");
  expect_error("[data]\nstd = 0.5,0,0.5\n", "[data] std");
  expect_error("[optim]\nlr = nan\n", "[optim] lr");
  expect_error("[optim]\nlr = 1e999\n", "[optim] lr");
}

static void test_unknown_and_structure(void) {
  expect_error("[trian]\nepochs = 3\n", "t.ini:1: unknown section [trian]; did you mean [train]?");
  expect_error("[train]\nbach_size = 3\n", "did you mean train.batch_size?");
  expect_error("[train]\n\n\nlr = 0.1\n", "t.ini:4: unknown key 'lr' in [train]; did you mean optim.lr?");
  expect_error("[train]\nxyzzy_plugh = 1\n", "unknown key 'xyzzy_plugh' in [train] (resnet_dist --help");
  expect_error("epochs = 3\n", "outside any section");
  expect_error("[train]\nepochs = 3\nepochs = 4\n", "set twice (first on line 2)");
  expect_error("[train]\nthis line has no equals sign\n", "t.ini:2: syntax error");
  char longline[400];
  memset(longline, 'a', sizeof longline);
  memcpy(longline, "[data]\ntrain = ", 15);
  longline[sizeof longline - 2] = '\n';
  longline[sizeof longline - 1] = '\0';
  expect_error(longline, "longer than");
}

static void test_missing_file(void) {
  Config c;
  config_defaults(&c);
  T_CHECK(config_load_file(&c, "/nonexistent/x.ini", err, sizeof err) == -1, "missing file");
  T_CHECK(strstr(err, "cannot open config file '/nonexistent/x.ini'"), "msg: %s", err);
}

static void test_set_precedence(void) {
  char path[] = "/tmp/rd_test_config_XXXXXX";
  int fd = mkstemp(path);
  const char *text = "[optim]\nlr = 0.2\n[train]\nepochs = 7\n";
  T_CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text), "write");
  close(fd);
  Config c;
  CliOptions cli;
  /* --set before --config in argv still wins over the file */
  char *argv[] = {"resnet_dist", "--set", "optim.lr=0.3", "--config", path,
                  "--set=optim.lr=0.4", "--set", "train.batch_size=8", NULL};
  T_CHECK(cli_parse(8, argv, &cli, &c, err, sizeof err) == 0, "parse: %s", err);
  T_CHECK(c.optim.lr == 0.4, "later --set wins: %g", c.optim.lr);
  T_CHECK(c.train.epochs == 7, "file value kept");
  T_CHECK(c.train.batch_size == 8, "--set applied");
  char *argv2[] = {"resnet_dist", "--config", path, NULL};
  T_CHECK(cli_parse(3, argv2, &cli, &c, err, sizeof err) == 0, "parse: %s", err);
  T_CHECK(c.optim.lr == 0.2, "file over default");
  char *argv3[] = {"resnet_dist", "--set", "optim.lr=fast", NULL};
  T_CHECK(cli_parse(3, argv3, &cli, &c, err, sizeof err) == -1 && strstr(err, "--set optim.lr=fast"),
          "bad --set: %s", err);
  char *argv4[] = {"resnet_dist", "--set", "optim.lrr=1", NULL};
  T_CHECK(cli_parse(3, argv4, &cli, &c, err, sizeof err) == -1 && strstr(err, "did you mean optim.lr?"),
          "suggest: %s", err);
  char *argv5[] = {"resnet_dist", "--confg", path, NULL};
  T_CHECK(cli_parse(3, argv5, &cli, &c, err, sizeof err) == -1 && strstr(err, "did you mean --config?"),
          "flag suggest: %s", err);
  unlink(path);
}

static void test_print_round_trip(void) {
  Config a, b;
  config_defaults(&a);
  a.model.arch = ARCH_RESNET110;
  a.optim.lr = 0.1 * 3; /* not exactly representable in short decimal */
  a.optim.milestones.n = 3;
  a.optim.milestones.v[0] = 1.0 / 3;
  a.optim.milestones.v[1] = 2;
  a.optim.milestones.v[2] = 1e10;
  strcpy(a.data.val, "/path/with = equals");
  a.data.limit_samples = 123456789012LL;
  a.train.label_smoothing = 0.1;
  char *text = config_to_string(&a);
  T_CHECK(load(&b, text) == 0, "reload: %s", err);
  T_CHECK(memcmp(&a, &b, sizeof a) == 0, "round trip differs");
  char *text2 = config_to_string(&b);
  T_CHECK(!strcmp(text, text2), "printed text differs");
  T_CHECK(config_hash(&a) == config_hash(&b), "hash");
  b.dist.bucket_mb = 50;
  T_CHECK(config_hash(&a) != config_hash(&b), "hash sees a change");
  char *text3 = config_to_string(&b);
  char key[128];
  T_CHECK(config_first_difference(text, text3, key, sizeof key) == 1 && !strcmp(key, "dist.bucket_mb"),
          "first difference: %s", key);
  T_CHECK(config_first_difference(text, text2, key, sizeof key) == 0, "no difference");
  mem_free(text);
  mem_free(text2);
  mem_free(text3);
}

static void test_validate(void) {
  Config c;
  config_defaults(&c);
  c.data.source = SOURCE_SHARDS;
  T_CHECK(config_validate(&c, err, sizeof err) == -1 && strstr(err, "data.train"), "%s", err);
  config_defaults(&c);
  c.data.val_crop = 300;
  T_CHECK(config_validate(&c, err, sizeof err) == -1 && strstr(err, "val_crop"), "%s", err);
  config_defaults(&c);
  c.optim.milestones.n = 2;
  c.optim.milestones.v[0] = 5;
  c.optim.milestones.v[1] = 3;
  T_CHECK(config_validate(&c, err, sizeof err) == -1 && strstr(err, "increase"), "%s", err);
}

int main(void) {
  TEST_RUN(test_defaults);
  TEST_RUN(test_every_type);
  TEST_RUN(test_bad_values);
  TEST_RUN(test_unknown_and_structure);
  TEST_RUN(test_missing_file);
  TEST_RUN(test_set_precedence);
  TEST_RUN(test_print_round_trip);
  TEST_RUN(test_validate);
  return test_summary();
}
