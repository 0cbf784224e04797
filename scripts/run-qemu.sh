#!/bin/sh
# Run the QEMU test kernels listed in a unittests.cfg (tests/qemu/).
#
# Usage: scripts/run-qemu.sh [-b DIR] [-a auto|tcg|kvm] [-t SECONDS]
#                            [-j JOBS] [-q] [CFG] [NAME...]
#   -b DIR   where the kernels are and the logs go (default build/qemu)
#   -a MODE  auto (default): TCG, then KVM as well when /dev/kvm works;
#            tcg: TCG only; kvm: KVM only (a KVM that does not start is a
#            skip, never a failure)
#   -t SEC   override every test's timeout
#   -j JOBS  run up to JOBS QEMUs at once (default: the number of CPUs);
#            results are still reported in manifest order
#   -q       do not print the log tail of a failed test
#   CFG      default tests/qemu/unittests.cfg
#   NAME     run only these tests
# Environment: QEMU (default qemu-system-x86_64), QEMU_ACCEL (as -a),
# QEMU_JOBS (as -j).
#
# Each run's serial output (the kernel's TAP, readable by prove) goes to
# DIR/NAME.log, and the QEMU command, QEMU's own messages and the verdict
# to DIR/NAME.stderr (NAME.kvm.log and NAME.kvm.stderr under KVM).
# Outcome from QEMU's exit status:
#   33  isa-debug-exit 0x10: pass (and the TAP in the log must agree), or
#       skip when the log's plan is "1..0 # SKIP reason"
#   35  isa-debug-exit 0x11: the kernel reported a failure
#   0   the guest triple-faulted or reset (-no-reboot)
#   124/137  timeout
#   anything else: QEMU died (or a kernel wrote an unknown exit value)
# Under KVM, a QEMU that cannot start KVM, or a "KVM internal error" (the
# host's KVM cannot run the guest), is a skip, never a failure.
# Exit status: 0 when nothing failed, 1 otherwise, 2 on usage errors.
set -u

QEMU=${QEMU:-qemu-system-x86_64}
DIR=build/qemu
ACCEL=${QEMU_ACCEL:-auto}
TIMEOUT_OVERRIDE=
QUIET=0
JOBS=${QEMU_JOBS:-$(nproc 2>/dev/null || echo 1)}

usage() {
	sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

while getopts b:a:t:j:qh opt; do
	case $opt in
	b) DIR=$OPTARG ;;
	a) ACCEL=$OPTARG ;;
	t) TIMEOUT_OVERRIDE=$OPTARG ;;
	j) JOBS=$OPTARG ;;
	q) QUIET=1 ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
case $ACCEL in
auto | tcg | kvm) ;;
*) echo "run-qemu.sh: bad accelerator mode '$ACCEL'" >&2; exit 2 ;;
esac
case $JOBS in
'' | *[!0-9]* | 0) echo "run-qemu.sh: bad job count '$JOBS'" >&2; exit 2 ;;
esac

CFG=tests/qemu/unittests.cfg
if [ $# -gt 0 ] && [ -f "$1" ]; then
	CFG=$1
	shift
fi
[ -f "$CFG" ] || { echo "run-qemu.sh: no config $CFG" >&2; exit 2; }
ONLY=" $* "

command -v "$QEMU" >/dev/null 2>&1 || {
	echo "run-qemu.sh: $QEMU not found (make deps-qemu installs it)" >&2
	exit 1
}

kvm_usable() {
	[ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]
}

# TAP check of a log: a plan, that many results, none "not ok", no bail out.
tap_verdict() {
	awk '
		/^1\.\.[0-9]+/ { plan = substr($1, 4) + 0; have_plan = 1 }
		/^ok [0-9]+/ { n++ }
		/^not ok [0-9]+/ { n++; bad++ }
		/^Bail out!/ { bail = 1 }
		END {
			if (bail) { print "bailed out"; exit 1 }
			if (!have_plan) { print "no TAP plan"; exit 1 }
			if (bad) { print bad " of " n " TAP tests failed"; exit 1 }
			if (n != plan) { print "TAP plan " plan " but " n " results"; exit 1 }
			print n " TAP tests ok"
		}' "$1"
}

npass=0
nfail=0
nskip=0
failed=

# Every run is a background job: it prints to RES/N.out and leaves its
# verdict (PASS, FAIL or SKIP) in RES/N.status; the parent prints the
# outputs and counts the verdicts in launch order.
RES=
pending=
npending=0
njobs=0

report() { # report STATUS NAME ACCEL DETAIL
	printf '%-4s %s (%s) %s\n' "$1" "$2" "$3" "$4"
	echo "$1 $2($3)" >"$RES/$njobs.status"
}

# run_one NAME KERNEL ACCEL CPU SMP MEM TIMEOUT EXTRA
run_one() {
	name=$1 kernel=$2 accel=$3 cpu=$4 smp=$5 mem=$6 tmo=$7 extra=$8
	if [ "$accel" = kvm ]; then
		log=$DIR/$name.kvm.log
		accel_args="-accel kvm -cpu host,-arch-capabilities"
	else
		log=$DIR/$name.log
		accel_args="-accel tcg -cpu $cpu"
	fi
	err=${log%.log}.stderr
	if [ ! -f "$kernel" ]; then
		report FAIL "$name" "$accel" "kernel $kernel not built"
		return
	fi
	# shellcheck disable=SC2086 # word splitting of the argument strings is intended
	set -- $accel_args -machine pc -m "$mem" -smp "$smp" -nodefaults \
		-display none -serial stdio -no-reboot \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 -kernel "$kernel" $extra
	echo "cmd: timeout -k 1s ${tmo}s $QEMU $*" >"$err"
	start=$(date +%s)
	timeout -k 1s "${tmo}s" "$QEMU" "$@" </dev/null >"$log" 2>>"$err" &
	qpid=$!
	internal=0
	if [ "$accel" = kvm ]; then
		# On "KVM internal error" QEMU stops the guest and waits: end it.
		while kill -0 "$qpid" 2>/dev/null; do
			if grep -q '^KVM internal error' "$err"; then
				sleep 1 # let QEMU finish its register dump
				kill -TERM "$qpid" 2>/dev/null
				internal=1
				break
			fi
			sleep 0.2
		done
	fi
	wait "$qpid"
	rc=$?
	secs=$(($(date +%s) - start))
	status=FAIL
	if [ "$internal" -eq 1 ]; then
		# The host's KVM could not execute the guest (seen with KVMs that
		# fail to emulate SSE instructions): an environment limit, not a
		# test result. TCG has run the same kernel.
		rc=internal
	fi
	case $rc in
	internal)
		status=SKIP
		detail="KVM internal error ($(grep -m1 -A9 '^KVM internal error' "$err" |
			grep -m1 -o 'emulation failure\|RIP=[0-9a-f]*' | head -n1)) at $(grep -m1 -o 'RIP=[0-9a-f]*' "$err"): host KVM could not run the kernel"
		;;
	33)
		if skip=$(grep -m1 '^1\.\.0 *# *SKIP' "$log"); then
			# Empty plan with a reason: the kernel cannot run here
			# (a CPU feature missing), which is not a failure.
			status=SKIP
			detail="kernel skipped:${skip#*SKIP}"
		elif detail=$(tap_verdict "$log"); then
			status=PASS
		else
			detail="exit status says pass but $detail"
		fi
		;;
	35) detail="the kernel reported failure: $(tap_verdict "$log")" ;;
	0) detail="triple fault or reset (QEMU exited 0)" ;;
	124 | 137) detail="timeout after ${tmo}s" ;;
	*)
		if [ "$accel" = kvm ] && [ "$rc" -eq 1 ] && grep -qi kvm "$err"; then
			status=SKIP
			detail="KVM did not start: $(grep -i -m1 kvm "$err")"
		elif [ $((rc % 2)) -eq 1 ] && [ "$rc" -gt 1 ] && [ "$rc" -lt 128 ]; then
			detail="unknown isa-debug-exit value $(((rc - 1) / 2)) (status $rc)"
		else
			detail="QEMU died (status $rc)"
		fi
		;;
	esac
	echo "exit status $rc: $status: $detail" >>"$err"
	report "$status" "$name" "$accel" "${secs}s: $detail, log $log"
	case $status in
	FAIL)
		if [ "$QUIET" -eq 0 ]; then
			echo "---- last lines of $log:"
			tail -n 40 "$log" | sed 's/^/    /'
			echo "---- $err (QEMU's messages):"
			tail -n 20 "$err" | sed 's/^/    /'
			echo "----"
		fi
		;;
	esac
}

# Wait for the oldest job, print its output and count its verdict.
reap_oldest() {
	# shellcheck disable=SC2086 # the list is space separated on purpose
	set -- $pending
	pid=${1%%:*}
	n=${1#*:}
	shift
	pending="$*"
	npending=$((npending - 1))
	wait "$pid"
	cat "$RES/$n.out"
	verdict=$(cat "$RES/$n.status" 2>/dev/null || echo "FAIL job$n(runner)")
	case $verdict in
	PASS*) npass=$((npass + 1)) ;;
	SKIP*) nskip=$((nskip + 1)) ;;
	*)
		nfail=$((nfail + 1))
		failed="$failed ${verdict#* }"
		;;
	esac
}

# launch COMMAND ARGS...: run it as a job once a slot is free.
launch() {
	while [ "$npending" -ge "$JOBS" ]; do
		reap_oldest
	done
	njobs=$((njobs + 1))
	"$@" >"$RES/$njobs.out" 2>&1 &
	pending="$pending $!:$njobs"
	npending=$((npending + 1))
}

mkdir -p "$DIR"
RES=$(mktemp -d "$DIR/.run-qemu.XXXXXX") || exit 1
trap 'rm -rf "$RES"' EXIT
tests=$(awk '
	function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t\r]+$/, "", s); return s }
	function flush() {
		if (name != "")
			print name "|" file "|" cpu "|" smp "|" mem "|" tmo "|" ktmo "|" accel "|" extra "|" kextra
	}
	/^[ \t]*(#|$)/ { next }
	/^[ \t]*\[/ {
		flush()
		name = trim($0); gsub(/[][]/, "", name)
		file = name ".elf"; cpu = "max"; smp = 1; mem = "256M"; tmo = 60
		ktmo = ""; accel = "any"; extra = ""; kextra = "\001"
		next
	}
	{
		i = index($0, "=")
		if (i == 0) { print "bad line: " $0 > "/dev/stderr"; next }
		k = trim(substr($0, 1, i - 1)); v = trim(substr($0, i + 1))
		if (k == "file") file = v
		else if (k == "cpu") cpu = v
		else if (k == "smp") smp = v
		else if (k == "memory") mem = v
		else if (k == "timeout") tmo = v
		else if (k == "kvm_timeout") ktmo = v
		else if (k == "accel") accel = v
		else if (k == "extra_params") extra = v
		else if (k == "kvm_params") kextra = v
		else print "unknown key " k > "/dev/stderr"
	}
	END { flush() }' "$CFG" | awk -F'|' 'BEGIN { OFS = "|" } {
		if ($7 == "") $7 = $6
		if ($10 == "\001") $10 = $9
		print
	}')

ran=0
old_ifs=$IFS
IFS='
'
for line in $tests; do
	IFS='|' read -r t_name t_file t_cpu t_smp t_mem t_tmo t_ktmo t_accel t_extra t_kextra <<EOF
$line
EOF
	IFS='
'
	case $ONLY in
	"  ") ;;
	*" $t_name "*) ;;
	*) continue ;;
	esac
	ran=$((ran + 1))
	if [ -n "$TIMEOUT_OVERRIDE" ]; then
		t_tmo=$TIMEOUT_OVERRIDE
		t_ktmo=$TIMEOUT_OVERRIDE
	fi
	IFS=$old_ifs
	if [ "$ACCEL" != kvm ] && [ "$t_accel" != kvm ]; then
		launch run_one "$t_name" "$DIR/$t_file" tcg "$t_cpu" "$t_smp" \
			"$t_mem" "$t_tmo" "$t_extra"
	fi
	if [ "$ACCEL" != tcg ] && [ "$t_accel" != tcg ]; then
		if kvm_usable; then
			launch run_one "$t_name" "$DIR/$t_file" kvm "$t_cpu" "$t_smp" \
				"$t_mem" "$t_ktmo" "$t_kextra"
		else
			launch report SKIP "$t_name" kvm "/dev/kvm not usable"
		fi
	fi
	IFS='
'
done
IFS=$old_ifs
while [ "$npending" -gt 0 ]; do
	reap_oldest
done

if [ "$ran" -eq 0 ]; then
	echo "run-qemu.sh: no test matched:$ONLY" >&2
	exit 2
fi
echo "qemu tests: $npass passed, $nfail failed, $nskip skipped"
if [ "$nfail" -ne 0 ]; then
	echo "failed:$failed"
	exit 1
fi
exit 0
