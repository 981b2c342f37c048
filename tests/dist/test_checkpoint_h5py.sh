#!/bin/bash
# test_checkpoint_h5py.sh PROG - a checkpoint written by resnet_dist opens in
# h5py (DESIGN.md decision 11): attributes, config text, tensors in order.
set -eu
PROG=$1
PY=${RD_PYTHON:-/usr/bin/python3}
if ! "$PY" -c "import h5py, numpy" 2>/dev/null; then
  echo "skipped: $PY has no h5py / numpy"
  exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$PROG" --write "$dir"
"$PY" - "$dir/ckpt-00000077.h5" <<'PYEOF'
import sys
import h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
fmt = f.attrs["format"]
fmt = fmt.decode() if isinstance(fmt, bytes) else str(fmt)
assert fmt == "resnet_dist.checkpoint", fmt
assert int(f.attrs["version"]) == 1
assert int(f.attrs["global_step"]) == 77 and int(f.attrs["epoch"]) == 0
assert int(f.attrs["step_in_epoch"]) == 77 and int(f.attrs["world_size"]) == 4
assert float(f.attrs["loss_scale"]) == 65536.0
cfg = f["config"][()]
cfg = cfg.decode() if isinstance(cfg, bytes) else str(cfg)
assert cfg == "[model]\narch = resnet20\n", repr(cfg)
names = list(f["tensors"].keys())
assert set(names) == {"conv1.weight", "bn1.running_mean", "bn1.num_batches_tracked",
                      "fc.bias", "momentum.big", "empty"}, names
w = f["tensors/conv1.weight"][()]
assert w.shape == (4, 3, 3, 3) and w.dtype == np.float32
want = (np.arange(108) * 0.01 - 0.5 + 77).astype(np.float32).reshape(4, 3, 3, 3)
assert np.array_equal(w, want)
t = f["tensors/bn1.num_batches_tracked"][()]
assert t.dtype == np.int64 and int(t) == 1234567890123 + 77
assert f["tensors/momentum.big"].shape == (3000, 100)
print("ok: h5py reads the checkpoint")
PYEOF
