# hist_merge.awk: an independent reading of the histograms of replay results ("hist": the
# text of rt_hist_encode, "v1 7 min max count clamped sum idx:n ..."), for the CLI tests.
# Input: one histogram per line. It adds them up bucket by bucket (what an exact merge must
# give) and prints one line:
#   count min max clamped p50 p90 p99 p999 BUCKETS
# with the percentiles in ns by the nearest rank, as the highest value of the bucket
# (the layout of replay/hist.c: below 256 one bucket per value, then 128 buckets per power
# of two), clamped to [min, max]; BUCKETS is "idx:n idx:n ..." in increasing order.
# Usage: printf '%s\n' "$H1" "$H2" | awk -f hist_merge.awk
function high(i,    m, s, w) {
    if (i < 256) return i
    m = int((i - 256) / 128) + 8
    s = (i - 256) % 128
    w = 2 ^ (m - 7)
    return (128 + s) * w + w - 1
}
function pct(pm,    rank, seen, k, v) {
    # nearest rank ceil(pm/1000 * count), at least 1
    rank = int((pm * count + 999) / 1000)
    if (rank < 1) rank = 1
    seen = 0
    for (k = 1; k <= nidx; k++) {
        seen += b[idx[k]]
        if (seen >= rank) {
            v = high(idx[k])
            if (v > max) v = max
            if (v < min) v = min
            return v
        }
    }
    return max
}
BEGIN { count = 0; clamped = 0; min = -1; max = 0 }
NF > 0 {
    if ($1 != "v1" || $2 != 7) { print "bad histogram: " $0 > "/dev/stderr"; exit 1 }
    if ($5 == 0) next
    if (min < 0 || $3 + 0 < min) min = $3 + 0
    if ($4 + 0 > max) max = $4 + 0
    count += $5
    clamped += $6
    for (f = 8; f <= NF; f++) {
        split($f, kv, ":")
        b[kv[1] + 0] += kv[2]
    }
}
END {
    nidx = 0
    for (i in b) idx[++nidx] = i + 0
    # insertion sort of the bucket indexes
    for (i = 2; i <= nidx; i++) {
        v = idx[i]
        for (j = i - 1; j >= 1 && idx[j] > v; j--) idx[j + 1] = idx[j]
        idx[j + 1] = v
    }
    if (min < 0) min = 0
    out = ""
    for (k = 1; k <= nidx; k++) out = out (k > 1 ? " " : "") idx[k] ":" b[idx[k]]
    printf "%.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %s\n", count, min, max, clamped, pct(500), pct(900), pct(990), pct(999), out
}
