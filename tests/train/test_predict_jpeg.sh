#!/bin/bash
# --mode predict on JPEG files (issue 3 item 7): a folder of JPEGs goes through
# our validation transform (resize the shorter side to data.val_resize, center
# crop data.val_crop, normalize with data.mean / data.std), so its logits must
# equal those of the same images preprocessed by torchvision
# (Resize + CenterCrop + ToTensor + Normalize) and given as a float32 .npy
# (our crop equals PIL's bit for bit at full decode scale): relative error
# <= 1e-5.  The images are smaller than twice the resize target: from 2x on,
# the decoder downscales in the DCT domain (faster, within a stated tolerance
# of PIL's filter, see docs/SHARDS.md) and equality is no longer expected.  A single file gives that file's row; a corrupt file is one line and
# exit 2.  Skips (77) without /usr/bin/python3 + torchvision + PIL.
source "$(dirname "$0")/common.sh"
PY=${RD_PYTHON:-/usr/bin/python3}
"$PY" -c "import torchvision, PIL, numpy" 2>/dev/null || { echo "skipped: $PY lacks torchvision/PIL/numpy"; exit 77; }
ARGS=(--device cpu --set model.arch=resnet20 --set model.num_classes=10 --set data.val_resize=40
      --set data.val_crop=32 --set train.batch_size=4 --set data.mean=0.5,0.4,0.3
      --set data.std=0.2,0.25,0.3)
"$BIN" "${ARGS[@]}" --set checkpoint.resume=never --mode export --output "$WORK/w.safetensors" >/dev/null
mkdir -p "$WORK/img"
"$PY" - "$WORK" <<'PYEOF'
import sys, numpy as np
from PIL import Image
import torchvision.transforms as T
d = sys.argv[1]
rng = np.random.default_rng(3)
tf = T.Compose([T.Resize(40), T.CenterCrop(32), T.ToTensor(),
                T.Normalize((0.5, 0.4, 0.3), (0.2, 0.25, 0.3))])
xs = []
for i, (w, h) in enumerate([(64, 48), (50, 90), (41, 41), (100, 70), (33, 70)]):
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([(xx * 5 + i * 40) % 256, (yy * 3) % 256, ((xx + yy) * 2) % 256], -1)
    img = (img + rng.integers(0, 30, img.shape)).clip(0, 255).astype(np.uint8)
    Image.fromarray(img).save("%s/img/im%d.jpg" % (d, i), quality=90)
    xs.append(tf(Image.open("%s/img/im%d.jpg" % (d, i)).convert("RGB")).numpy())
np.save(d + "/x.npy", np.stack(xs).astype(np.float32))
PYEOF
"$BIN" "${ARGS[@]}" --mode predict --init-from "$WORK/w.safetensors" --input "$WORK/img" \
    --output "$WORK/jpeg.npy" >"$WORK/jpeg.log" 2>&1
check "predict on a folder of 5 JPEGs" '[ "$(grep -c "im[0-4].jpg: top-5" "$WORK/jpeg.log")" = 5 ]'
"$BIN" "${ARGS[@]}" --mode predict --init-from "$WORK/w.safetensors" --input "$WORK/x.npy" \
    --output "$WORK/npy.npy" >/dev/null 2>&1
check "logits equal torchvision-preprocessed input (1e-5)" "\"$PY\" -c \"
import numpy as np, sys
a, b = np.load('$WORK/jpeg.npy'), np.load('$WORK/npy.npy')
e = np.linalg.norm(a - b) / np.linalg.norm(b); print('  relative error', e); sys.exit(int(e > 1e-5))\""
"$BIN" "${ARGS[@]}" --mode predict --init-from "$WORK/w.safetensors" --input "$WORK/img/im3.jpg" \
    >"$WORK/one.log" 2>&1
check "a single JPEG file" 'grep -q "im3.jpg: top-5" "$WORK/one.log"'
head -c 300 "$WORK/img/im1.jpg" > "$WORK/img/broken.jpg"
"$BIN" "${ARGS[@]}" --mode predict --init-from "$WORK/w.safetensors" --input "$WORK/img" \
    >"$WORK/bad.log" 2>&1
rc=$?
check "a corrupt JPEG: exit 2 with one line naming it (got $rc)" \
  '[ $rc = 2 ] && [ "$(wc -l <"$WORK/bad.log")" = 1 ] && grep -q "broken.jpg" "$WORK/bad.log"'
sed 's/^/     | /' "$WORK/bad.log"
exit $FAIL
