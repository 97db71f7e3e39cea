#!/usr/bin/awk -f
# The summary tables of scripts/bench.sh (docs/benchmarks.md), from one run:
#   bench_summary.awk DIR/{native,fault,patched,devfree}_rN.csv... DIR/workload.txt
# The CSV files are Google Benchmark's (--benchmark_out_format=csv) with the
# median and min aggregates of bench/bench_access.cc; each file's name is its
# tag (native: no tracer; fault: record --no-patch; patched: record;
# devfree: the untraced loops under record), _rN its round: of the rounds,
# each figure's lowest is kept (the round least disturbed by other
# processes; a median stays a median of 5). workload.txt holds lines
# "how median_ms min_ms". Every ratio is between figures of this one run.
# Plain POSIX awk (Debian's mawk).
function tag_of(path, t) {
  t = path
  sub(/.*\//, "", t)
  sub(/\.[a-z]+$/, "", t)
  sub(/_r[0-9]+(_[a-z0-9]+)?$/, "", t)  # a round, or a part of one: TAG_rN.csv, TAG_rN_PART.csv
  return t
}
# Keeps the lowest value seen for a key: the best of the rounds.
function keep(key, x) {
  if (!(key in v) || x + 0 < v[key] + 0) v[key] = x
}
function fig(x) {
  if (x == "") return "-"
  if (x >= 100) return sprintf("%.0f", x)
  if (x >= 10) return sprintf("%.1f", x)
  return sprintf("%.2f", x)
}
function ratio(a, b) {
  if (a == "" || b == "" || b + 0 == 0) return "-"
  if (a / b >= 10) return sprintf("%.0fx", a / b)
  return sprintf("%.2fx", a / b)
}
# key: tag SUBSEP bench SUBSEP threads SUBSEP stat SUBSEP ("real" or "cpu")
function get(tag, bench, threads, stat, which) {
  return (tag SUBSEP bench SUBSEP threads SUBSEP stat SUBSEP which) in v ? v[tag, bench, threads, stat, which] : ""
}
function row(label, tag, bench, threads) {
  printf "| %s | %d | %s | %s | %s |\n", label, threads, fig(get(tag, bench, threads, "median", "real")),
         fig(get(tag, bench, threads, "min", "real")), fig(get(tag, bench, threads, "median", "cpu"))
}

FILENAME ~ /\.csv$/ && /^"/ {
  n = split($0, f, ",")
  name = f[1]
  gsub(/"/, "", name)
  if (f[n - 1] != "" && f[n - 1] != "false") next  # error_occurred: a skipped benchmark
  if (!match(name, /_(median|min)$/)) next
  stat = substr(name, RSTART + 1)
  base = substr(name, 1, RSTART - 1)
  threads = 1
  if (match(base, /threads:[0-9]+/)) threads = substr(base, RSTART + 8, RLENGTH - 8) + 0
  bench = base
  sub(/\/.*/, "", bench)
  t = tag_of(FILENAME)
  # A Burst row's iteration is one burst of N accesses (its argument,
  # bench_access.cc): per access, its time over N; its CPU time includes the
  # sleeps between bursts, so it is not kept.
  per = 1
  if (bench ~ /Burst_/) {
    arg = base
    sub(/^[^\/]*\//, "", arg)
    sub(/\/.*/, "", arg)
    per = arg + 0
  }
  keep(t SUBSEP bench SUBSEP threads SUBSEP stat SUBSEP "real", f[3] / per)
  if (per == 1) keep(t SUBSEP bench SUBSEP threads SUBSEP stat SUBSEP "cpu", f[4])
  next
}
FILENAME ~ /workload\.txt$/ { wl_med[$1] = $2; wl_min[$1] = $3; next }

END {
  print "### ns per access (median and minimum of 5 repetitions, best of the rounds)"
  print ""
  print "| benchmark | threads | wall median | wall min | CPU median |"
  print "| --- | --- | --- | --- | --- |"
  split("Read Write", ops, " ")
  split("1 2 4", ths, " ")
  for (o = 1; o <= 2; ++o) {
    op = ops[o]
    for (i = 1; i <= 3; ++i) row("untraced " tolower(op), "native", "Untraced_" op, ths[i])
    for (i = 1; i <= 3; ++i) row("bare signal round trip " tolower(op), "native", "BareSignal_" op, ths[i])
    for (i = 1; i <= 3; ++i) row("floor of a fault-free tracer " tolower(op), "native", "FaultFreeFloor_" op, ths[i])
    for (i = 1; i <= 3; ++i) row("traced " tolower(op) ", fault path (--no-patch)", "fault", "Traced_" op, ths[i])
    for (i = 1; i <= 3; ++i) row("**traced " tolower(op) ", patched site**", "patched", "Traced_" op, ths[i])
    for (i = 1; i <= 3; ++i) row("untraced " tolower(op) " under record (device-free code)", "devfree", "Untraced_" op, ths[i])
    for (i = 1; i <= 3; ++i) row("floor of a fault-free tracer " tolower(op) ", in bursts", "native", "FaultFreeFloorBurst_" op, ths[i])
    for (i = 1; i <= 3; ++i) row("traced " tolower(op) ", fault path, in bursts", "fault", "TracedBurst_" op, ths[i])
    for (i = 1; i <= 3; ++i) row("**traced " tolower(op) ", patched site, in bursts**", "patched", "TracedBurst_" op, ths[i])
  }
  print ""
  print "### Ratios (this run's figures; wall median / CPU median / wall min)"
  print ""
  print "| access | threads | patched / floor, in bursts (goal <= 2x; wall median / wall min) | patched / floor, a stream that never stops | patched / bare signal (goal < 0.05x) | fault path / bare signal | fault path / patched | device-free under record / untraced |"
  print "| --- | --- | --- | --- | --- | --- | --- | --- |"
  for (o = 1; o <= 2; ++o) {
    op = ops[o]
    for (i = 1; i <= 3; ++i) {
      th = ths[i]
      P = "Traced_" op
      line = sprintf("| %s | %d", tolower(op), th)
      B = "TracedBurst_" op
      line = line " | " ratio(get("patched", B, th, "median", "real"), get("native", "FaultFreeFloorBurst_" op, th, "median", "real")) \
                  " / " ratio(get("patched", B, th, "min", "real"), get("native", "FaultFreeFloorBurst_" op, th, "min", "real"))
      line = line " | " ratio(get("patched", P, th, "median", "real"), get("native", "FaultFreeFloor_" op, th, "median", "real")) \
                  " / " ratio(get("patched", P, th, "median", "cpu"), get("native", "FaultFreeFloor_" op, th, "median", "cpu")) \
                  " / " ratio(get("patched", P, th, "min", "real"), get("native", "FaultFreeFloor_" op, th, "min", "real"))
      line = line " | " ratio(get("patched", P, th, "median", "real"), get("native", "BareSignal_" op, th, "median", "real")) \
                  " / " ratio(get("patched", P, th, "median", "cpu"), get("native", "BareSignal_" op, th, "median", "cpu")) \
                  " / " ratio(get("patched", P, th, "min", "real"), get("native", "BareSignal_" op, th, "min", "real"))
      line = line " | " ratio(get("fault", P, th, "median", "real"), get("native", "BareSignal_" op, th, "median", "real")) \
                  " / " ratio(get("fault", P, th, "median", "cpu"), get("native", "BareSignal_" op, th, "median", "cpu")) \
                  " / " ratio(get("fault", P, th, "min", "real"), get("native", "BareSignal_" op, th, "min", "real"))
      line = line " | " ratio(get("fault", P, th, "median", "real"), get("patched", P, th, "median", "real")) \
                  " / " ratio(get("fault", P, th, "median", "cpu"), get("patched", P, th, "median", "cpu")) \
                  " / " ratio(get("fault", P, th, "min", "real"), get("patched", P, th, "min", "real"))
      U = "Untraced_" op
      line = line " | " ratio(get("devfree", U, th, "median", "real"), get("native", U, th, "median", "real")) \
                  " / " ratio(get("devfree", U, th, "median", "cpu"), get("native", U, th, "median", "cpu")) \
                  " / " ratio(get("devfree", U, th, "min", "real"), get("native", U, th, "min", "real")) " |"
      print line
    }
  }
  print ""
  print "### Other instruction forms, 1 thread (wall median ns per access; the copy: per 4 KiB copy)"
  print ""
  print "| form | fault path | patched | patched CPU median | fault path / patched |"
  print "| --- | --- | --- | --- | --- |"
  split("Traced_OrRmw Traced_LockXadd Traced_Store32 Traced_Store64 Traced_Memcpy4K", forms, " ")
  for (k = 1; k <= 5; ++k) {
    F = forms[k]
    a = get("fault", F, 1, "median", "real")
    b = get("patched", F, 1, "median", "real")
    if (a == "" && b == "") {
      printf "| %s | not run (instruction set missing on this CPU) | | | |\n", F
      continue
    }
    printf "| %s | %s | %s | %s | %s |\n", F, fig(a), fig(b), fig(get("patched", F, 1, "median", "cpu")), ratio(a, b)
  }
  print ""
  print "### 4 threads, 160,000 accesses: whole wall time (ms, of 5 runs)"
  print ""
  print "| run | median | min | median / untraced |"
  print "| --- | --- | --- | --- |"
  split("untraced fault-path patched", hows, " ")
  label["untraced"] = "untraced"
  label["fault-path"] = "`record --no-patch` (fault path)"
  label["patched"] = "`record` (patched, the default)"
  for (k = 1; k <= 3; ++k) {
    h = hows[k]
    printf "| %s | %s | %s | %s |\n", label[h], wl_med[h], wl_min[h], ratio(wl_med[h], wl_med["untraced"])
  }
}
