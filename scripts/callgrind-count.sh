#!/bin/sh
# SPDX-License-Identifier: MIT
# Instructions per operation for the vmmu benchmark cases, under callgrind.
#
# Usage: scripts/callgrind-count.sh [-o DIR] VMMU_BENCH [PREFIX...]
#   VMMU_BENCH  the benchmark binary (build/bench/vmmu-bench)
#   PREFIX      only cases whose name starts with one of these (default: all)
#   -o DIR      keep the callgrind output of the larger run of each case in
#               DIR (callgrind.NAME.out, '/' in NAME as '_'), for
#               callgrind_annotate
#
# Each case runs twice through `VMMU_BENCH --count-case=NAME --iterations=N`,
# with N1 and N2 iterations, counting only inside vmmu_bench_timed() (the
# function every timed call goes through: --collect-atstart=no
# --toggle-collect). Setup, teardown and untimed resets are not counted, and
# the difference of the two runs cancels what is left of the fixed cost:
#   instructions per op = (Ir(N2) - Ir(N1)) / ((N2 - N1) * items per iteration)
set -eu

keep=""
if [ "${1:-}" = "-o" ]; then
	keep=$2
	shift 2
fi
if [ $# -lt 1 ]; then
	echo "usage: $0 [-o DIR] VMMU_BENCH [PREFIX...]" >&2
	exit 2
fi
bin=$1
shift
command -v valgrind >/dev/null 2>&1 || {
	echo "callgrind-count: valgrind not found (scripts/deps.sh bench)" >&2
	exit 1
}
[ -n "$keep" ] && mkdir -p "$keep"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# ir CASE N OUTFILE: instructions counted inside vmmu_bench_timed.
ir() {
	if ! valgrind --tool=callgrind --callgrind-out-file="$3" \
		--collect-atstart=no --toggle-collect=vmmu_bench_timed \
		"$bin" --count-case="$1" --iterations="$2" \
		>"$tmp/stdout" 2>"$tmp/stderr"; then
		echo "callgrind-count: $1 failed:" >&2
		cat "$tmp/stderr" >&2
		return 1
	fi
	# "summary:" (older callgrind) or "totals:" carries the Ir total.
	awk '/^(summary|totals):/ { print $2; exit }' "$3"
}

wanted() {
	[ $# -eq 1 ] && return 0
	name=$1
	shift
	for p in "$@"; do
		case $name in
		"$p"*) return 0 ;;
		esac
	done
	return 1
}

printf '%-26s %14s %10s  %s\n' "case" "instr/op" "N1,N2" "(callgrind Ir, timed region only)"
"$bin" --list-cases >"$tmp/cases"
status=0
while read -r name items reset item; do
	wanted "$name" "$@" || continue
	if [ "$items" -gt 1 ] || [ "$reset" = 1 ]; then
		n1=1 n2=3
	else
		n1=1000 n2=21000
	fi
	safe=$(printf '%s' "$name" | tr '/' '_')
	out2="$tmp/$safe.2"
	[ -n "$keep" ] && out2="$keep/callgrind.$safe.out"
	if ! i1=$(ir "$name" "$n1" "$tmp/$safe.1") ||
		! i2=$(ir "$name" "$n2" "$out2"); then
		status=1
		continue
	fi
	awk -v n="$name" -v a="$i1" -v b="$i2" -v n1="$n1" -v n2="$n2" \
		-v k="$items" -v it="$item" 'BEGIN {
		printf "%-26s %14.1f %10s  per %s\n", n, (b - a) / ((n2 - n1) * k),
			n1 "," n2, it
	}'
done <"$tmp/cases"
exit $status
