#!/usr/bin/env bash
# Same seeds, same results: train the same runs with the tree at REV and with this checkout, then compare each
# run's model.safetensors (bytes) and its headline figures (SER or BMD rate). Used for behaviour-preserving
# changes (issues #14, #21); about 5 minutes on 2 cores, run alone. Options add more runs:
#   --bitwise  the longer bit-wise run `mfcomm bitwise train --iterations 300 --seed 3` (about 7 more minutes);
#   --node     a three-process run (`mfcomm node all`, 300 iterations, seed 5; about 1 more minute);
#   --demo     the demo's 18 runs (`mfcomm demo`: AWGN and RBF, three systems, three seeds), both sides at once,
#              one thread each (about 15 more minutes); every run's weights and the report's tables (less the
#              training seconds) compared.
#   scripts/same-results.sh REV [--bitwise] [--node] [--demo]
set -euo pipefail
rev=${1:?usage: scripts/same-results.sh REV [--bitwise] [--node] [--demo]}
shift
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
demo=0
for option in "$@"; do
  case $option in
    --bitwise) runs+=("bit-300|bitwise train --iterations 300 --seed 3") ;;
    --node) runs+=("node-all|node all --iterations 300 --seed 5") ;;
    --demo) demo=1 ;;
    *) echo "unknown option $option" >&2; exit 2 ;;
  esac
done
src_of() { if [ "$1" = ref ]; then echo "$work/ref/src"; else echo "$PWD/src"; fi; }
differ=0
for entry in "${runs[@]}"; do
  name=${entry%%|*}
  read -r -a args <<<"${entry#*|}"
  for i in "${!args[@]}"; do [ "${args[$i]}" = "--channel" ] && args[$((i + 1))]=${args[$((i + 1))]//|/ | }; done
  for side in ref new; do
    PYTHONPATH=$(src_of $side) "$py" -m mfcomm.cli "${args[@]}" --out "$work/$side-$name" --quiet >"$work/$side-$name.log" 2>&1
  done
  if cmp -s "$work/ref-$name/model.safetensors" "$work/new-$name/model.safetensors"; then same=identical; else same=DIFFER; differ=1; fi
  echo "$name: weights $same"
  head -1 "$work/ref-$name.log" | sed 's/; wrote .*//;s/^/  before: /'
  head -1 "$work/new-$name.log" | sed 's/; wrote .*//;s/^/  after:  /'
done
if [ $demo = 1 ]; then
  for side in ref new; do
    PYTHONPATH=$(src_of $side) "$py" -m mfcomm.cli demo --out "$work/$side-demo" --quiet >"$work/$side-demo.log" 2>&1 &
  done
  wait
  count=0
  for weights in "$work"/ref-demo/*/model.safetensors; do
    run=$(basename "$(dirname "$weights")")
    count=$((count + 1))
    if ! cmp -s "$weights" "$work/new-demo/$run/model.safetensors"; then echo "demo $run: weights DIFFER"; differ=1; fi
  done
  echo "demo: $count runs compared, weights $([ $differ = 0 ] && echo identical || echo 'NOT all identical')"
  table() { grep '^|' "$1" | sed 's/| [0-9.]* s |$/|/'; }  # the last column is training seconds
  if diff <(table "$work/ref-demo/report.md") <(table "$work/new-demo/report.md"); then
    echo "demo: the report's tables are identical (training seconds left out)"
  else
    echo "demo: the report's tables DIFFER"
    differ=1
  fi
fi
exit $differ
