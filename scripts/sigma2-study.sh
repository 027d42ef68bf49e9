#!/usr/bin/env bash
# The runs behind docs/getting-good-systems.md, "How wide to explore depends on the channel" and "Block fading":
# each row is `mfcomm train` with the task's options, a seed and the row's sigma2 options, one thread per run and
# two runs at a time (SERs do not depend on that; train seconds do). Prints one line per run: the row, the seed,
# the final SER, whether the run kept the trained or the classical system, and the trained system's SER.
#
# Usage: scripts/sigma2-study.sh [GROUP] [OUT]   GROUP: awgn, adc, hw, phase-noise, orders, rbf or all (default);
#        OUT: run directories (default runs/sigma2-study). About 1 minute per run on 2 cores; `all` is 97 runs.
set -euo pipefail
cd "$(dirname "$0")/.."
group=${1:-all}
out=${2:-runs/sigma2-study}
mfcomm=${MFCOMM:-.venv/bin/mfcomm}
[ -x "$mfcomm" ] || { echo "sigma2-study.sh: $mfcomm not found: run make setup first" >&2; exit 2; }
case $group in awgn|adc|hw|phase-noise|orders|rbf|all) ;; *) echo "sigma2-study.sh: unknown group $group" >&2; exit 2;; esac

awgn16='--channel awgn --messages 16 --channel-uses 2 --snr-db 10 --iterations 4000'
adc1='--channel awgn|adc(bits=1) --messages 16 --channel-uses 2 --snr-db 10'
adc3='--channel awgn|adc(bits=3) --messages 16 --channel-uses 2 --snr-db 10'
hw='--channel phase(max_deg=15)|rapp(p=2,sat=1.2)|awgn|adc(bits=3) --messages 16 --channel-uses 2 --snr-db 12'
pn='--channel phase_noise(linewidth=5e-3)|awgn --messages 16 --channel-uses 2 --snr-db 12'
awgn64='--channel awgn --messages 64 --channel-uses 2 --snr-db 14'
awgn256='--channel awgn --messages 256 --channel-uses 4 --snr-db 12 --iterations 3000'
ae74='--channel awgn --messages 16 --channel-uses 7 --signalling real --ebno-db 6'
rbf='--channel rbf --messages 16 --channel-uses 4 --snr-db 20'

rows() {  # GROUP;ROW-NAME;TASK OPTIONS;SIGMA2 OPTIONS;SEEDS
  local five="1 2 3 4 5"
  cat <<EOF
awgn;awgn 0.05;$awgn16;--sigma2 0.05;$five
awgn;awgn 0.1 to 0.025;$awgn16;--sigma2 0.1 --sigma2-final 0.025;$five
awgn;awgn 0.1 to 0.05;$awgn16;--sigma2 0.1 --sigma2-final 0.05;$five
awgn;awgn 0.1;$awgn16;--sigma2 0.1;$five
awgn;awgn 0.075;$awgn16;--sigma2 0.075;$five
adc;adc3 0.1 to 0.05;$adc3;--sigma2 0.1 --sigma2-final 0.05;1 2 3
adc;adc3 0.075;$adc3;--sigma2 0.075;1 2 3
adc;adc1 0.075;$adc1;--sigma2 0.075;1 2
hw;hw 0.1 to 0.05;$hw;--sigma2 0.1 --sigma2-final 0.05;$five
hw;hw 0.075;$hw;--sigma2 0.075;$five
phase-noise;pn 0.05;$pn;--sigma2 0.05;$five
phase-noise;pn 0.1 to 0.025;$pn;--sigma2 0.1 --sigma2-final 0.025;$five
phase-noise;pn 0.1 to 0.05;$pn;--sigma2 0.1 --sigma2-final 0.05;$five
phase-noise;pn 0.075;$pn;--sigma2 0.075;$five
phase-noise;pn 0.05 4000 it;$pn;--sigma2 0.05 --iterations 4000;$five
orders;m64 0.032;$awgn64;--sigma2 0.03214;1 2
orders;m256 0.075;$awgn256;--sigma2 0.075;1
orders;ae74 0.37;$ae74;--sigma2 0.3724;1 2
rbf;rbf 0.225;$rbf;--sigma2 0.225;1 2
rbf;rbf 0.15 pilot start;$rbf;--sigma2 0.15;$five
EOF
}

one() {  # ROW-NAME TASK-OPTIONS SIGMA2-OPTIONS SEED
  local dir="$out/$(echo "$1" | tr ' ' '-')-seed$4"
  # the task options hold no spaces inside a value (chains are written without them), so word splitting is safe
  # shellcheck disable=SC2086
  OMP_NUM_THREADS=1 "$mfcomm" train $2 $3 --seed "$4" --out "$dir" --overwrite --quiet > "$dir.log" 2>&1 \
    || { echo "$1 | seed $4 | FAILED (see $dir.log)"; return 1; }
  python3 -c "import json,sys; d = json.load(open(sys.argv[1] + '/summary.json'))
print(f\"{sys.argv[2]} | seed {sys.argv[3]} | SER {d['ser']:.3e} | kept {d['kept']} | trained {d['trained_ser']:.3e}\")" \
    "$dir" "$1" "$4"
}
export -f one
export out mfcomm
mkdir -p "$out"
rows | while IFS=';' read -r g name task sigma seeds; do
  if [ "$group" = all ] || [ "$group" = "$g" ]; then
    for s in $seeds; do printf '%s\0%s\0%s\0%s\0' "$name" "$task" "$sigma" "$s"; done
  fi
done | xargs -0 -n 4 -P 2 bash -c 'one "$@"' _
