#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Summarise a vmmu-bench JSON file (Google Benchmark's --benchmark_out).

Prints, per benchmark, the median over repetitions of the CPU time per
iteration and per operation (the "per_op" counter), the coefficient of
variation, and the ratios of each case to its baseline (walk : floor,
batch : peer queue, unbatched : batched), per operation. Standard library
only.

Usage: scripts/bench-report.py [--strict] [--markdown] build/bench/bench.json
  --markdown  print the tables as Markdown (for docs/benchmarks.md)

Exit status: 1 if a benchmark reported an error (a library call failed or
translated wrongly), or with --strict when a ratio misses its goal (GOALS:
walk/4level/4k at most 2.5x floor/dependent_loads/4, batch/enqueue at most
0.5x peer/ck_ring_spsc, unbatched/update_syscall at least 20x
batch/flush512_syscall, shadow/fault_fill/4k at most 20x
floor/dependent_loads/4, shadow/fork/64mib_batched at most 4x
native/fork/64mib); else 0.
"""

import json
import statistics
import sys

# (case, its baseline): the floor chases the same tables with the same
# depth; the peer queues move the same 32-byte entry; the unbatched path
# makes the same updates one system call each. Ratios are per operation
# (the per_op medians), so cases with different items per iteration
# compare (512 updates per batch/ iteration, one pair per peer/ one).
RATIOS = [
    ("walk/4level/4k", "floor/dependent_loads/4"),
    ("walk/4level/4k_peek", "floor/dependent_loads/4"),
    ("walk/4level/4k_maphook", "floor/dependent_loads/4"),
    ("walk/4level/4k_set_ad", "floor/dependent_loads/4"),
    ("walk/4level/2m", "floor/dependent_loads/3"),
    ("walk/4level/1g", "floor/dependent_loads/2"),
    ("walk/5level/4k", "floor/dependent_loads/5"),
    ("pv/l1_update/batch512", "floor/xen_l1_atomics"),
    ("pv/l1_update/fastpath", "floor/xen_l1_atomics"),
    ("batch/enqueue", "peer/ck_ring_spsc"),
    ("batch/enqueue", "peer/urcu_wfcq"),
    ("unbatched/update_syscall", "batch/flush512_syscall"),
    # Shadow paging: a leaf fill against the walk floor; the fork's PTE
    # writes through the batch queue, or one emulated write each, against
    # the same writes as plain stores (per PTE write).
    ("shadow/fault_fill/4k", "floor/dependent_loads/4"),
    ("shadow/fault_fill/4k_prefetch", "floor/dependent_loads/4"),
    ("shadow/fork/64mib_batched", "native/fork/64mib"),
    ("shadow/fork/64mib_trapped", "native/fork/64mib"),
    ("shadow/fork/64mib_trapped", "shadow/fork/64mib_batched"),
]

# Goals: (case, baseline) -> ("<=" or ">=", ratio).
GOALS = {
    ("walk/4level/4k", "floor/dependent_loads/4"): ("<=", 2.5),
    ("batch/enqueue", "peer/ck_ring_spsc"): ("<=", 0.5),
    ("unbatched/update_syscall", "batch/flush512_syscall"): (">=", 20.0),
    ("shadow/fault_fill/4k", "floor/dependent_loads/4"): ("<=", 20.0),
    ("shadow/fork/64mib_batched", "native/fork/64mib"): ("<=", 4.0),
}

TO_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def collect(doc):
    """name -> dict(cpu=[ns per iteration], real=[...], per_op=[ns], cv, error)"""
    runs = {}
    order = []

    def entry(name):
        if name not in runs:
            runs[name] = {"cpu": [], "real": [], "per_op": [], "agg": {},
                          "error": None}
            order.append(name)
        return runs[name]

    for b in doc.get("benchmarks", []):
        name = b.get("run_name", b["name"])
        e = entry(name)
        if b.get("error_occurred"):
            e["error"] = b.get("error_message", "error")
            continue
        scale = TO_NS.get(b.get("time_unit", "ns"), 1.0)
        if b.get("run_type") == "aggregate":
            agg = b.get("aggregate_name")
            e["agg"][agg] = {
                "cpu": b["cpu_time"] * scale,
                "real": b["real_time"] * scale,
                "per_op": b["per_op"] * 1e9 if "per_op" in b else None,
            }
        else:
            e["cpu"].append(b["cpu_time"] * scale)
            e["real"].append(b["real_time"] * scale)
            if "per_op" in b:
                e["per_op"].append(b["per_op"] * 1e9)

    out = {}
    for name in order:
        e = runs[name]
        r = {"error": e["error"], "reps": len(e["cpu"])}
        if e["cpu"]:
            r["cpu"] = statistics.median(e["cpu"])
            r["real"] = statistics.median(e["real"])
            r["per_op"] = statistics.median(e["per_op"]) if e["per_op"] else None
            r["cv"] = (statistics.stdev(e["cpu"]) / statistics.mean(e["cpu"])
                       if len(e["cpu"]) > 1 else None)
        elif "median" in e["agg"]:
            m = e["agg"]["median"]
            r.update(cpu=m["cpu"], real=m["real"], per_op=m["per_op"],
                     cv=e["agg"].get("cv", {}).get("cpu"))
            r["reps"] = None
        out[name] = r
    return out


def fmt_ns(v):
    if v is None:
        return "-"
    if v >= 1e6:
        return "%.3f ms" % (v / 1e6)
    if v >= 1e4:
        return "%.1f us" % (v / 1e3)
    if v < 0.1:
        return "%.1f ps" % (v * 1e3)
    return "%.2f ns" % v


def per_op(r):
    """Median time per operation (per_op), else per iteration."""
    return r["per_op"] if r.get("per_op") else r["cpu"]


def ratios(res):
    """[(case, baseline, ratio)] for the pairs present in res."""
    out = []
    for case, base in RATIOS:
        c, b = res.get(case), res.get(base)
        if c and b and "cpu" in c and "cpu" in b:
            out.append((case, base, per_op(c) / per_op(b)))
    return out


def goal_note(case, base, ratio):
    """("  goal <= 2.5x: met", met) for a pair with a goal, else ("", True)."""
    goal = GOALS.get((case, base))
    if goal is None:
        return "", True
    op, bound = goal
    ok = ratio <= bound if op == "<=" else ratio >= bound
    return "  goal %s %gx: %s" % (op, bound, "met" if ok else "MISSED"), ok


def markdown(res):
    print("| benchmark | median per iteration | median per op | cv |")
    print("|-----------|---------------------:|--------------:|---:|")
    for name, r in res.items():
        if r["error"]:
            print("| `%s` | FAILED: %s | | |" % (name, r["error"]))
        elif "cpu" in r:
            cv = "-" if r.get("cv") is None else "%.1f%%" % (100 * r["cv"])
            print("| `%s` | %s | %s | %s |" % (name, fmt_ns(r["cpu"]),
                                             fmt_ns(r.get("per_op")), cv))
    print()
    print("| case | baseline | ratio (per op) |")
    print("|------|----------|------:|")
    for case, base, ratio in ratios(res):
        print("| `%s` | `%s` | %.2fx |" % (case, base, ratio))


def main(argv):
    strict = "--strict" in argv
    md = "--markdown" in argv
    paths = [a for a in argv[1:] if a not in ("--strict", "--markdown")]
    if len(paths) != 1:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    doc = load(paths[0])
    res = collect(doc)
    ctx = doc.get("context", {})
    if md:
        markdown(res)
        return 0

    reps = {r["reps"] for r in res.values() if r.get("reps")}
    print()
    print("vmmu benchmark summary (median of %s repetitions, CPU time)"
          % ("/".join(str(x) for x in sorted(reps)) or "?"))
    print("  host: %s CPUs @ %s MHz, libbenchmark build type: %s" % (
        ctx.get("num_cpus", "?"), ctx.get("mhz_per_cpu", "?"),
        ctx.get("library_build_type", "?")))
    print()
    print("  %-26s %14s %12s %7s" % ("benchmark", "per iteration", "per op", "cv"))
    failed = False
    for name, r in res.items():
        if r["error"]:
            failed = True
            print("  %-26s FAILED: %s" % (name, r["error"]))
            continue
        if "cpu" not in r:
            continue
        cv = "-" if r.get("cv") is None else "%.1f%%" % (100 * r["cv"])
        print("  %-26s %14s %12s %7s" % (name, fmt_ns(r["cpu"]),
                                         fmt_ns(r.get("per_op")), cv))

    print()
    print("  ratios (case median / baseline median per op, same run):")
    missed = False
    for case, base, ratio in ratios(res):
        note, ok = goal_note(case, base, ratio)
        missed = missed or not ok
        print("    %-26s : %-26s %6.2fx%s" % (case, base, ratio, note))
    print()
    if failed:
        return 1
    if strict and missed:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
