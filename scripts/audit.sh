#!/bin/sh
# make audit: the archive must not need libc, and library sources must not
# include libc headers.
# Usage: scripts/audit.sh ARCHIVE NM SOURCE...
set -eu
archive=$1
nm=$2
shift 2
allowed="memcpy memmove memset memcmp"
status=0

# Symbols undefined in some member and defined in none.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
$nm -u "$archive" | awk 'NF == 2 { print $2 }' | sort -u > "$tmp/undef"
$nm --defined-only "$archive" | awk 'NF == 3 { print $3 }' | sort -u > "$tmp/def"
undefined=$(comm -23 "$tmp/undef" "$tmp/def")
for sym in $undefined; do
	case " $allowed " in
	*" $sym "*) ;;
	*)
		echo "audit: $archive needs '$sym' (only $allowed are allowed)" >&2
		status=1
		;;
	esac
done

# No vector or x87 registers: an embedder in a kernel or hypervisor must not
# have to save FPU/SSE state around vmmu calls (-mgeneral-regs-only).
if command -v objdump >/dev/null 2>&1; then
	vec=$(objdump -d "$archive" | grep -cE '%(xmm|ymm|zmm|st)[0-9(]|%mm[0-7]' || true)
	if [ "$vec" -ne 0 ]; then
		echo "audit: $archive uses vector/FPU registers in $vec instructions" >&2
		status=1
	fi
fi

# Compiler-provided headers only (design.md section 3).
headers_ok="stdint.h stddef.h stdbool.h limits.h stdalign.h stdnoreturn.h"
for src in "$@"; do
	for hdr in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*<\([^>]*\)>.*/\1/p' "$src"); do
		case $hdr in
		vmmu/*) continue ;;
		esac
		case " $headers_ok " in
		*" $hdr "*) ;;
		*)
			echo "audit: $src includes <$hdr>, not a compiler-provided header" >&2
			status=1
			;;
		esac
	done
done

if [ $status -eq 0 ]; then
	echo "audit: OK ($(echo "$undefined" | wc -w) undefined symbols, all allowed: $(echo $undefined))"
fi
exit $status
