#!/usr/bin/env bash
# Ratio table from criterion's own estimates of the last `cargo bench -p fep-specs --bench codec`
# run (median ns per telegram, from target/criterion/<group>/<impl>/new/estimates.json).
# On a shared machine the ratios are the claim; absolute numbers are indicative only.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="${CARGO_TARGET_DIR:-$root/target}/criterion"
command -v jq >/dev/null || { echo "ratios.sh needs jq" >&2; exit 1; }

est() { jq -r '.median.point_estimate' "$dir/$1/$2/new/estimates.json"; }

echo "| telegram | derive ns | hand ns | dynamic ns | fixed_width ns | derive/hand (≤1.5) | fixed_width/derive (≥10) | dynamic/derive (≤5) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for dir_name in decode encode; do
  for msg in transfer_2000_100 deposit_notice_4000_100; do
    g="${msg}_${dir_name}"
    [ -f "$dir/$g/derive/new/estimates.json" ] || { echo "no estimates for $g in $dir" >&2; exit 1; }
    d=$(est "$g" derive); h=$(est "$g" hand); y=$(est "$g" dynamic); f=$(est "$g" fixed_width)
    awk -v m="$msg" -v k="$dir_name" -v d="$d" -v h="$h" -v y="$y" -v f="$f" 'BEGIN {
      r1 = d / h; r2 = f / d; r3 = y / d
      printf "| %s %s | %.0f | %.0f | %.0f | %.0f | %.2f× %s | %.1f× %s | %.2f× %s |\n", m, k, d, h, y, f,
        r1, (r1 <= 1.5 ? "ok" : "MISS"), r2, (r2 >= 10 ? "ok" : "MISS"), r3, (r3 <= 5 ? "ok" : "MISS")
    }'
  done
done
