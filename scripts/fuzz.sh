#!/usr/bin/env bash
# The long fuzzing mode (not CI): random cases, many of them, against real servers.
#   bash scripts/fuzz.sh            # 100,000 examples per test
#   bash scripts/fuzz.sh 20000 -k http
set -euo pipefail
cd "$(dirname "$0")/.."
examples="${1:-100000}"
shift || true
FUZZ_EXAMPLES="$examples" .venv/bin/pytest tests/fuzz -p no:cacheprovider --timeout=0 "$@"
