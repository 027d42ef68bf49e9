#!/usr/bin/env bash
# Same seeds, same results: train the same short runs with the tree at REV and with this checkout, then compare
# each run's model.safetensors (bytes) and its headline figures (SER or BMD rate). Used for behaviour-preserving
# changes (issue #14); about 5 minutes on 2 cores, run alone. With --bitwise, also the longer bit-wise run
# `mfcomm bitwise train --iterations 300 --seed 3` (about 7 more minutes).
#   scripts/same-results.sh REV [--bitwise]
set -euo pipefail
rev=${1:?usage: scripts/same-results.sh REV [--bitwise]}
cd "$(dirname "$0")/.."
py=$PWD/.venv/bin/python
work=$(mktemp -d)
git worktree add -q --detach "$work/ref" "$rev"
trap 'git worktree remove --force "$work/ref"; rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1
runs=(
  "sym-mf|train --iterations 200 --seed 2"
  "sym-mb|train --iterations 200 --seed 2 --method model-based"
  "sym-adc|train --iterations 150 --seed 1 --channel awgn|adc(bits=2)"
  "sym-paper|train --iterations 150 --seed 1 --recipe paper"
  "bit-mf|bitwise train --iterations 60 --finetune-iterations 30 --seed 3"
  "bit-mb|bitwise train --method model-based --iterations 60 --seed 3"
  "bit-adc|bitwise train --iterations 40 --finetune-iterations 20 --seed 4 --channel awgn|adc(bits=3) --ebno-db 8 --bits-per-symbol 4"
)
[ "${2:-}" = "--bitwise" ] && runs+=("bit-300|bitwise train --iterations 300 --seed 3")
differ=0
for entry in "${runs[@]}"; do
  name=${entry%%|*}
  read -r -a args <<<"${entry#*|}"
  for i in "${!args[@]}"; do [ "${args[$i]}" = "--channel" ] && args[$((i + 1))]=${args[$((i + 1))]//|/ | }; done
  for side in ref new; do
    src=$PWD/src; [ "$side" = ref ] && src=$work/ref/src
    PYTHONPATH=$src "$py" -m mfcomm.cli "${args[@]}" --out "$work/$side-$name" --quiet >"$work/$side-$name.log" 2>&1
  done
  if cmp -s "$work/ref-$name/model.safetensors" "$work/new-$name/model.safetensors"; then same=identical; else same=DIFFER; differ=1; fi
  echo "$name: weights $same"
  head -1 "$work/ref-$name.log" | sed 's/; wrote .*//;s/^/  before: /'
  head -1 "$work/new-$name.log" | sed 's/; wrote .*//;s/^/  after:  /'
done
exit $differ
