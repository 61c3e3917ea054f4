#!/usr/bin/env bash
# Unpacks CUTLASS/CuTe 4.2 headers from PyPI's nvidia-cutlass==4.2.0.0 wheel into
# third_party/cutlass (git-ignored). Idempotent; nothing else is downloaded.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/third_party/cutlass"
if [ -f "$dest/include/cute/tensor.hpp" ]; then echo "cutlass: present at $dest"; exit 0; fi
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
python3 -m pip download -q --no-deps nvidia-cutlass==4.2.0.0 -d "$tmp"
python3 - "$tmp" "$dest" <<'PY'
import glob, os, sys, zipfile, shutil
tmp, dest = sys.argv[1], sys.argv[2]
whl = glob.glob(os.path.join(tmp, "nvidia_cutlass-4.2.0.0-*.whl"))[0]
prefixes = {"cutlass_library/source/include/": "include/",
            "cutlass_library/source/tools/util/include/": "tools/util/include/"}
with zipfile.ZipFile(whl) as z:
    for name in z.namelist():
        for src, dst in prefixes.items():
            if name.startswith(src) and not name.endswith("/"):
                out = os.path.join(dest, dst, name[len(src):])
                os.makedirs(os.path.dirname(out), exist_ok=True)
                with z.open(name) as f, open(out, "wb") as g:
                    shutil.copyfileobj(f, g)
PY
echo "cutlass: unpacked into $dest"
