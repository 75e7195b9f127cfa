#!/usr/bin/env bash
# Regenerates the README's interop findings (between the findings markers) from
# docs/interop-matrix.json. Usage: ci/update-readme-findings.sh [BOOTLAB]
set -euo pipefail
cd "$(dirname "$0")/.."
bootlab=${1:-target/release/bootlab}
block=$(mktemp)
"$bootlab" matrix --from docs/interop-matrix.json --readme >"$block"
python3 - "$block" <<'PY'
import re, sys
block = open(sys.argv[1]).read()
text = open("README.md").read()
begin = text.index("<!-- findings:begin")
begin = text.index("\n", begin) + 1
end = text.index("<!-- findings:end -->")
open("README.md", "w").write(text[:begin] + block + text[end:])
PY
rm -f "$block"
