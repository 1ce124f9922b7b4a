#!/usr/bin/env bash
# Preview speed of two checkouts side by side: bench_preview.py --runs 1 on each in turn, ROUNDS
# times, with the load average before each run and the share of CPU time the hypervisor stole
# during it (/proc/stat). On a shared machine whose speed drifts, only runs side by side compare.
#
#   benchmarks/compare_preview.sh OTHER_CHECKOUT [ROUNDS]
#
# OTHER_CHECKOUT: a worktree of another commit with its own .venv (e.g. `git worktree add
# --detach ../before 9a2aced`, then the README's setup there).
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
OTHER=$(cd "$1" && pwd)
ROUNDS=${2:-5}
stat() { head -1 /proc/stat | awk '{t=0; for(i=2;i<=NF;i++) t+=$i; print $9, t}'; }
for _ in $(seq 1 "$ROUNDS"); do
  for d in "$OTHER" "$HERE"; do
    l=$(cut -d' ' -f1 /proc/loadavg)
    read -r s0 t0 < <(stat)
    r=$(cd "$d" && .venv/bin/python "$HERE/benchmarks/bench_preview.py" --runs 1 | grep '^run 1' |
        sed -E 's/.*in ([0-9.]+) s wall.*: ([0-9.]+)x real time.*CPU ([0-9.]+) s.*/wall \1 s, \2x, cpu \3 s/')
    read -r s1 t1 < <(stat)
    echo "$(basename "$d") load $l steal $(( 100 * (s1 - s0) / (t1 - t0 + 1) ))% : $r"
  done
done
