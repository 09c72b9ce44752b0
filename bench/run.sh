#!/usr/bin/env bash
# Reproducible comparison of `tinct build` with Style Dictionary on the token sets Style
# Dictionary uses for its own performance budgets. Needs cargo, node (18+) and npm; installs
# Style Dictionary from npm into a temporary directory (nothing is installed globally).
#
#   bench/run.sh                 all three sets
#   RUNS=3 SETS=9k-3 bench/run.sh
#   SD_VERSION=4 bench/run.sh    Style Dictionary version (npm range; v5 needs node 22+)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
for tool in cargo node npm; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 2; }
done
echo "building tinct (release)…" >&2
cargo build --release -p tinct-cli --manifest-path "$root/Cargo.toml" >&2
export TINCT_BIN="${TINCT_BIN:-$root/target/release/tinct}"
exec node "$here/run.mjs" "$@"
