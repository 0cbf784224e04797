#!/bin/sh
# Install the Debian packages a make target needs, and only those missing.
# Usage: scripts/deps.sh GROUP...   (groups: build cxx test fuzz qemu bench)
# Called by make before targets that need more than gcc and make; safe to
# run by hand. Uses apt-get --no-install-recommends; needs root (or sudo).
set -eu

missing=""

need() { # need PACKAGE PATH-OR-COMMAND...
	pkg=$1
	shift
	for probe in "$@"; do
		case $probe in
		/*) [ -e "$probe" ] && return 0 ;;
		*) command -v "$probe" >/dev/null 2>&1 && return 0 ;;
		esac
	done
	missing="$missing $pkg"
}

clang_rt_fuzzer() {
	for f in /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a; do
		[ -e "$f" ] && { echo "$f"; return 0; }
	done
	echo /nonexistent
}

for group in "$@"; do
	case $group in
	build)
		need gcc gcc
		need make make
		need binutils nm
		# gcc only recommends the C library headers; the hosted tests
		# and libvmmu.so need them.
		need libc6-dev /usr/include/stdio.h
		;;
	cxx)
		need g++ g++
		;;
	test)
		need g++ g++
		need libcmocka-dev /usr/include/cmocka.h
		need valgrind valgrind
		;;
	fuzz)
		need clang clang
		need libclang-rt-14-dev "$(clang_rt_fuzzer)"
		;;
	qemu)
		need qemu-system-x86 qemu-system-x86_64
		need clang clang
		;;
	bench)
		need g++ g++
		need libbenchmark-dev /usr/include/benchmark/benchmark.h
		need libck-dev /usr/include/ck_ring.h
		need liburcu-dev /usr/include/urcu/wfcqueue.h /usr/include/x86_64-linux-gnu/urcu/wfcqueue.h
		need valgrind valgrind
		need python3 python3
		;;
	*)
		echo "deps.sh: unknown group '$group'" >&2
		exit 2
		;;
	esac
done

[ -z "$missing" ] && exit 0

echo "deps.sh: installing:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1; then
	SUDO="sudo"
else
	echo "deps.sh: need root to install:$missing" >&2
	echo "deps.sh: run as root: apt-get install --no-install-recommends$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
