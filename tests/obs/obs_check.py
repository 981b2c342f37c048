#!/usr/bin/env python3
"""obs_check.py - checks what a run leaves behind against docs/METRICS.md.

  obs_check.py metrics RUN_DIR        metrics.jsonl records have every documented
                                      field with its type; metrics.csv matches the
                                      step records; run.json is a header record;
                                      config.ini exists
  obs_check.py plots RUN_DIR          plots/*.svg parse as XML (an <svg> root with
                                      drawing elements); plots/*.png are well formed
                                      (signature, IHDR, chunk CRCs, IEND) and PIL
                                      decodes them
  obs_check.py trace FILE NRANKS      Chrome trace JSON: complete events of every
                                      rank, phases nested inside their step, bucket
                                      all-reduces (NRANKS > 1) and decode spans
  obs_check.py bench FILE NRANKS      the last line of FILE is --mode bench --json

Prints one line per problem and exits 1 when there is any (0 otherwise).
Only the standard library (and PIL when present) is used.
"""
import csv
import json
import os
import struct
import sys
import xml.etree.ElementTree as ET
import zlib

NUM, INT, STR, OBJ, ARR = "number", "integer", "string", "object", "array"

HEADER = {"type": STR, "program": STR, "version": STR, "git_commit": STR, "time_utc": STR,
          "unix_time": INT, "mode": STR, "config_file": STR, "config_hash": STR, "arch": STR,
          "backend": STR, "precision": STR, "world_size": INT, "n_hosts": INT,
          "launcher": STR, "grad_transport": STR, "batch_size_per_rank": INT,
          "global_batch": INT, "run_dir": STR, "libraries": OBJ, "ranks": ARR}
LIBRARIES = {"mpi": STR, "mpi_standard": STR, "hdf5": STR, "libjpeg_turbo": STR, "blas": STR,
             "compiler": STR}
LIBRARIES_OPTIONAL = {"cuda_runtime_built": STR, "cudnn_built": STR, "nccl_built": STR,
                      "cuda_runtime": STR, "cuda_driver": STR, "cudnn": STR, "nccl": STR}
RANK = {"rank": INT, "host": STR, "local_rank": INT, "pid": INT, "gpu": STR, "gpu_index": INT}
STEP = {"type": STR, "epoch": INT, "step_in_epoch": INT, "global_step": INT, "loss": NUM,
        "top1": NUM, "top5": NUM, "lr": NUM, "images_per_s": NUM, "data_wait_ms": NUM,
        "step_ms": NUM, "elapsed_s": NUM, "corrupt": INT, "steps_per_epoch": INT,
        "total_steps": INT, "comm_ms": NUM, "sync_bn_ms": NUM, "eta_s": NUM, "unix_time": NUM}
EPOCH = {"type": STR, "epoch": INT, "train_loss": NUM, "train_top1": NUM, "epoch_s": NUM,
         "images_per_s": NUM, "corrupt": INT, "lr": NUM, "train_top5": NUM, "global_step": INT,
         "train_samples": INT, "unix_time": NUM}
EPOCH_VAL = {"val_loss": NUM, "val_top1": NUM, "val_top5": NUM, "val_samples": INT,
             "val_s": NUM}
CSV_COLUMNS = ["epoch", "step_in_epoch", "global_step", "loss", "top1", "top5", "lr",
               "images_per_s", "data_wait_ms", "step_ms", "elapsed_s", "corrupt",
               "steps_per_epoch", "comm_ms", "sync_bn_ms", "unix_time"]
PHASES = ["data_wait", "h2d", "forward", "backward", "comm_exposed", "sync_bn", "optimizer",
          "other"]

problems = []


def bad(msg):
    problems.append(msg)
    print("problem: " + msg)


def type_ok(v, t):
    if t == NUM:
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if t == INT:
        return isinstance(v, int) and not isinstance(v, bool)
    return isinstance(v, {STR: str, OBJ: dict, ARR: list}[t])


def check_fields(rec, schema, where, exact=False, optional=None):
    for k, t in schema.items():
        if k not in rec:
            bad("%s: field %r missing" % (where, k))
        elif not type_ok(rec[k], t):
            bad("%s: field %r is %r, not a %s" % (where, k, rec[k], t))
    if exact:
        extra = set(rec) - set(schema) - set(optional or {})
        if extra:
            bad("%s: undocumented fields %s" % (where, sorted(extra)))
    for k, t in (optional or {}).items():
        if k in rec and not type_ok(rec[k], t):
            bad("%s: field %r is %r, not a %s" % (where, k, rec[k], t))


def check_header(rec, where):
    check_fields(rec, HEADER, where, exact=True)
    check_fields(rec.get("libraries", {}), LIBRARIES, where + " libraries", exact=True,
                 optional=LIBRARIES_OPTIONAL)
    ranks = rec.get("ranks", [])
    if len(ranks) != rec.get("world_size"):
        bad("%s: %d rank entries for world_size %r" % (where, len(ranks), rec.get("world_size")))
    for i, r in enumerate(ranks):
        check_fields(r, RANK, "%s rank %d" % (where, i), exact=True)
        if r.get("rank") != i:
            bad("%s: rank entry %d says rank %r" % (where, i, r.get("rank")))


def check_metrics(run_dir):
    counts = {"header": 0, "step": 0, "epoch": 0}
    steps = []
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        for n, line in enumerate(f, 1):
            where = "metrics.jsonl line %d" % n
            try:
                rec = json.loads(line)
            except ValueError as e:
                bad("%s: not JSON (%s)" % (where, e))
                continue
            kind = rec.get("type")
            if kind not in counts:
                bad("%s: unknown type %r" % (where, kind))
                continue
            counts[kind] += 1
            if kind == "header":
                check_header(rec, where)
            elif kind == "step":
                check_fields(rec, STEP, where, exact=True)
                steps.append(rec)
            else:
                has_val = "val_loss" in rec
                check_fields(rec, dict(EPOCH, **(EPOCH_VAL if has_val else {})), where,
                             exact=True)
    if counts["header"] < 1 or counts["step"] < 1 or counts["epoch"] < 1:
        bad("metrics.jsonl: expected header, step and epoch records, got %s" % counts)
    if list(json.load(open(os.path.join(run_dir, "run.json"))).keys())[:1] != ["type"]:
        bad("run.json: does not start with its type")
    check_header(json.load(open(os.path.join(run_dir, "run.json"))), "run.json")
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        rows = list(csv.reader(f))
    if rows[0] != CSV_COLUMNS:
        bad("metrics.csv header %s" % rows[0])
    if len(rows) - 1 != len(steps):
        bad("metrics.csv has %d rows for %d step records" % (len(rows) - 1, len(steps)))
    for row, rec in zip(rows[1:], steps):
        if int(row[2]) != rec["global_step"] or abs(float(row[3]) - rec["loss"]) > 1e-6 * max(
                1, abs(rec["loss"])):
            bad("metrics.csv row %s does not match step record %s" % (row[:4], rec["global_step"]))
    if not os.path.getsize(os.path.join(run_dir, "config.ini")):
        bad("config.ini empty")
    print("metrics: %s records checked" % counts)


def png_ok(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return "no PNG signature"
    pos, types, idat = 8, [], b""
    while pos < len(data):
        if pos + 12 > len(data):
            return "truncated chunk at %d" % pos
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        crc = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]
        if zlib.crc32(ctype + body) & 0xffffffff != crc:
            return "bad CRC in %s" % ctype
        if ctype == b"IDAT":
            idat += body
        types.append(ctype)
        pos += 12 + length
    if not types or types[0] != b"IHDR" or types[-1] != b"IEND":
        return "chunks %s" % types
    w, h, depth, colour = struct.unpack(">IIBB", data[16:26])
    raw = zlib.decompress(idat)
    if len(raw) != h * (1 + w * (3 if colour == 2 else 4 if colour == 6 else 1) * depth // 8):
        return "IDAT is %d bytes for %dx%d" % (len(raw), w, h)
    try:
        from PIL import Image
        with Image.open(path) as im:
            im.load()
            if im.size != (w, h):
                return "PIL sees %s" % (im.size,)
    except ImportError:
        pass
    return None


def check_plots(run_dir):
    d = os.path.join(run_dir, "plots")
    for name in ("loss", "accuracy", "lr", "throughput"):
        svg = os.path.join(d, name + ".svg")
        try:
            root = ET.parse(svg).getroot()
            if root.tag != "{http://www.w3.org/2000/svg}svg":
                bad("%s: root element %s" % (svg, root.tag))
            drawn = [e for e in root.iter() if e.tag.endswith("polyline")]
            if not drawn:
                bad("%s: no curve" % svg)
        except (OSError, ET.ParseError) as e:
            bad("%s: %s" % (svg, e))
        png = os.path.join(d, name + ".png")
        why = png_ok(png) if os.path.exists(png) else "missing"
        if why:
            bad("%s: %s" % (png, why))
    print("plots: 4 SVG + 4 PNG checked")


def check_trace(path, n_ranks):
    doc = json.load(open(path))
    events = doc["traceEvents"] if isinstance(doc, dict) else doc
    spans = [e for e in events if e.get("ph") == "X"]
    for e in spans:
        for k, t in (("name", STR), ("pid", INT), ("tid", INT), ("ts", NUM), ("dur", NUM)):
            if not type_ok(e.get(k), t):
                bad("event %s: %r is %r" % (e.get("name"), k, e.get(k)))
        if e.get("dur", -1) < 0:
            bad("event %s has a negative duration" % e.get("name"))
    pids = sorted({e["pid"] for e in spans})
    if pids != list(range(n_ranks)):
        bad("events from ranks %s, expected 0..%d" % (pids, n_ranks - 1))
    names = {e.get("args", {}).get("name") for e in events
             if e.get("ph") == "M" and e.get("name") == "process_name"}
    if len(names) != n_ranks:
        bad("process names %s" % names)
    for pid in pids:
        mine = [e for e in spans if e["pid"] == pid]
        steps = [e for e in mine if e["name"].startswith("step ")]
        if not steps:
            bad("rank %d: no step events" % pid)
        for phase in ("data wait", "forward + loss", "backward", "optimizer"):
            inner = [e for e in mine if e["name"] == phase]
            if len(inner) != len(steps):
                bad("rank %d: %d %r events for %d steps" % (pid, len(inner), phase, len(steps)))
            for e in inner:
                if not any(s["ts"] - 1 <= e["ts"] and e["ts"] + e["dur"] <= s["ts"] + s["dur"] + 1
                           for s in steps):
                    bad("rank %d: %r at %.0f us is in no step" % (pid, phase, e["ts"]))
        if n_ranks > 1 and not any(e["name"].startswith("all-reduce bucket") for e in mine):
            bad("rank %d: no gradient bucket all-reduce events" % pid)
        if not any(10 <= e["tid"] < 100 and e["name"].startswith("decode batch") for e in mine):
            bad("rank %d: no decode events of the input pipeline" % pid)
    print("trace: %d events, %d complete, ranks %s" % (len(events), len(spans), pids))


def check_bench(path, n_ranks):
    lines = [l for l in open(path).read().splitlines() if l.strip()]
    rec = json.loads(lines[-1])
    want = {"type": STR, "images_per_s": NUM, "images_per_s_per_rank": NUM, "arch": STR,
            "backend": STR, "precision": STR, "world_size": INT, "batch_size_per_rank": INT,
            "global_batch": INT, "image_h": INT, "image_w": INT, "input": STR,
            "warmup_steps": INT, "steps": INT, "wall_s": NUM, "step_ms": OBJ,
            "step_ms_min": NUM, "step_ms_max": NUM, "breakdown_ms": OBJ,
            "breakdown_ms_max": OBJ, "ranks": ARR, "run": OBJ}
    check_fields(rec, want, "bench", exact=True, optional={"peak_device_bytes": NUM})
    check_fields(rec["step_ms"], dict.fromkeys(["mean", "p50", "p95", "p99"], NUM), "step_ms",
                 exact=True)
    for key in ("breakdown_ms", "breakdown_ms_max"):
        check_fields(rec[key], dict.fromkeys(PHASES, NUM), key, exact=True)
    if len(rec["ranks"]) != n_ranks or rec["world_size"] != n_ranks:
        bad("bench: %d rank entries, world_size %r, expected %d" % (len(rec["ranks"]),
                                                                    rec["world_size"], n_ranks))
    for r in rec["ranks"]:
        check_fields(r, {"rank": INT, "images_per_s": NUM, "step_ms": OBJ, "breakdown_ms": OBJ},
                     "bench rank", exact=True)
        parts = sum(r["breakdown_ms"][p] for p in PHASES)
        if abs(parts - r["step_ms"]["mean"]) > 0.02 * r["step_ms"]["mean"] + 0.05:
            bad("bench rank %d: phases add up to %.3f ms, step is %.3f ms" % (
                r["rank"], parts, r["step_ms"]["mean"]))
    s = rec["step_ms"]
    if not (0 < s["p50"] <= s["p95"] <= s["p99"] <= rec["step_ms_max"]):
        bad("bench: percentiles out of order %s" % s)
    if not rec["images_per_s"] > 0:
        bad("bench: images_per_s %r" % rec["images_per_s"])
    check_header(rec["run"], "bench run")
    print("bench: %.1f images/s over %d rank(s), p50 %.1f ms" % (rec["images_per_s"], n_ranks,
                                                                 s["p50"]))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    try:
        if cmd == "metrics":
            check_metrics(args[0])
        elif cmd == "plots":
            check_plots(args[0])
        elif cmd == "trace":
            check_trace(args[0], int(args[1]))
        elif cmd == "bench":
            check_bench(args[0], int(args[1]))
        else:
            bad("unknown command %s" % cmd)
    except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
        bad("%s: %s: %s" % (cmd, type(e).__name__, e))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
