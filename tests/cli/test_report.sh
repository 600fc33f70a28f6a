#!/usr/bin/env bash
# test_report.sh: `resptrace report` on the trace of make_report_trace (a known per-second
# ramp, keys, a command name and an error prefix made of markup and control bytes) and on
# replay runs of it against a real redis-server: the HTML is well-formed, fetches and runs
# nothing, escapes every string of the trace, shows the known numbers, and renders in headless
# Chromium without console errors into a screenshot whose charts hold their colours.
. "$(dirname "$0")/lib.sh"
GEN=$(dirname "$RT")/make_report_trace
if [ ! -x "$GEN" ]; then
    echo "no $GEN (build the make_report_trace target)" >&2
    exit 1
fi
T=$TMP/h.rtrace
"$GEN" "$T"; check_eq "make_report_trace exit" 0 $?

# ---- command line ----------------------------------------------------------------------------
"$RT" report --help | grep -q "usage: resptrace report"; check_eq "report --help" 0 $?
check_match "help lists report" "report +write one self-contained HTML" "$("$RT" help)"
"$RT" report > /dev/null 2>&1; check_eq "no trace: usage error" 2 $?
"$RT" report "$T" --top 0 -o "$TMP/x.html" > /dev/null 2>&1; check_eq "--top 0: usage error" 2 $?
"$RT" report "$T" --shards 3,x -o "$TMP/x.html" > /dev/null 2>&1; check_eq "--shards 3,x" 2 $?
"$RT" report "$T" --shards 0 -o "$TMP/x.html" > /dev/null 2>&1; check_eq "--shards 0" 2 $?
"$RT" report "$T" --shards 2000 -o "$TMP/x.html" > /dev/null 2>&1; check_eq "--shards 2000" 2 $?
msg=$("$RT" report "$TMP/none.rtrace" -o "$TMP/x.html" 2>&1 >/dev/null); rc=$?
check_eq "missing trace: exit 1" 1 $rc
check_match "missing trace: names it" "none\.rtrace" "$msg"
printf '{"ops": 1,\n  "x": }\n' > "$TMP/bad.json"
msg=$("$RT" report "$T" "$TMP/bad.json" -o "$TMP/x.html" 2>&1 >/dev/null); rc=$?
check_eq "bad run JSON: exit 1" 1 $rc
check_match "bad run JSON: names file and line" "bad\.json: line 2" "$msg"
echo '[1,2]' > "$TMP/arr.json"
"$RT" report "$T" "$TMP/arr.json" -o "$TMP/x.html" > /dev/null 2>&1; check_eq "run not an object" 1 $?
[ ! -e "$TMP/x.html" ]; check_eq "no report written on errors" 0 $?
# usage errors: one line naming the problem, then where the help is; the help fits 80 columns
"$RT" report "$T" --top 0 -o "$TMP/x.html" > /dev/null 2> "$TMP/err"
check_eq "--top 0: one line and the pointer" "resptrace report: bad --top '0' (1 to 100000)
see 'resptrace report --help'" "$(cat "$TMP/err")"
"$RT" report "$T" --frob > /dev/null 2> "$TMP/err"; check_eq "unknown option" 2 $?
check_eq "... one line and the pointer" "resptrace report: unknown option '--frob'
see 'resptrace report --help'" "$(cat "$TMP/err")"
"$RT" report > /dev/null 2> "$TMP/err"
check_eq "no trace: one line and the pointer" 2 "$(wc -l < "$TMP/err")"
check_eq "--help fits 80 columns" "" "$("$RT" report --help | awk 'length($0) >= 80')"
check_eq "help list fits 80 columns" "" "$("$RT" help | awk 'length($0) >= 80')"

# outputs never destroy inputs: -o (or --json=) naming the trace or a run is refused before
# anything is read or written, also through a symlink or a hard link
cp "$T" "$TMP/t.keep"
"$RT" report "$T" -o "$T" > /dev/null 2> "$TMP/err"; check_eq "report T -o T: refused" 2 $?
check_match "... says why" "will not write .*h\.rtrace: it is the input" "$(cat "$TMP/err")"
check_files "... the trace is untouched" "$TMP/t.keep" "$T"
ln -s "$T" "$TMP/tlink.html"; ln "$T" "$TMP/thard.html"
"$RT" report "$T" -o "$TMP/tlink.html" > /dev/null 2>&1; check_eq "-o a symlink to the trace: refused" 2 $?
"$RT" report "$T" -o "$TMP/thard.html" > /dev/null 2>&1; check_eq "-o a hard link to the trace: refused" 2 $?
"$RT" report "$T" --json="$T" -o "$TMP/y.html" > /dev/null 2>&1; check_eq "--json=TRACE: refused" 2 $?
check_files "... the trace is untouched" "$TMP/t.keep" "$T"
echo '{"ops": 1, "latency_us": {}}' > "$TMP/r1.json"; cp "$TMP/r1.json" "$TMP/r1.keep"
"$RT" report "$T" "$TMP/r1.json" -o "$TMP/r1.json" > /dev/null 2>&1; check_eq "-o a run: refused" 2 $?
check_files "... the run is untouched" "$TMP/r1.keep" "$TMP/r1.json"
[ ! -e "$TMP/y.html" ]; check_eq "... and nothing written" 0 $?
# a report that fails leaves the file it would have replaced as it was
echo "old report" > "$TMP/old.html"
"$RT" report "$TMP/none.rtrace" -o "$TMP/old.html" > /dev/null 2>&1; check_eq "failing report" 1 $?
check_eq "... the old file is kept" "old report" "$(cat "$TMP/old.html")"

# ---- replay runs against a real server -----------------------------------------------------
start_redis_x
RUN=$TMP/run.json
"$RT" replay "$T" --target "redis://127.0.0.1:$RX_PORT" --speed 2 --json="$RUN" > "$TMP/replay.out"
check_eq "replay exit" 0 $?
check_eq "replay answered every request" 15000 "$(jnum "$RUN" .ops)"
# a run with a known timeline (label with markup): entry i ends at t_s = i+1 s as replay writes
# them, (i+1) thousand ops and (i+1) hundred errors a second, then a last partial entry of half
# a second at 6000 ops/s and 600 errors/s; the same with a last entry of a tenth of a second
# (too short to be a rate), as the step that held of a capacity sweep (made with jq: its other
# step broke); one without any timeline, a real --verify-writes run that read back from an empty
# server (every acknowledged write lost); and a copy of the real run, unlabelled like it, whose
# name must differ from it. The disruption's extra_misses and warmup_s are written in with jq.
jq '. + {label: "tl <b>&amp;", timeline: ([range(0;5) as $i | {t_s: ($i+1), ops: (1000*($i+1)),
    errors: (100*($i+1)), p50_us: (50+10*$i), p99_us: (200+50*$i), max_us: (1000*($i+1))}]
    + [{t_s: 5.5, ops: 3000, errors: 300, p50_us: 100, p99_us: 450, max_us: 6000}]),
    disruption: {from_s: 1, to_s: 3, errors: 300, peak_p99_us: 450, extra_misses: 1000,
    warmup_s: null}}' "$RUN" > "$TMP/run_tl.json"
jq 'del(.label) | .timeline[5] = {t_s: 5.1, ops: 50, errors: 50, p50_us: 100, p99_us: 450,
    max_us: 6000}' "$TMP/run_tl.json" > "$TMP/step_tl2.json"
jq '{tool, version, schema, command, mode: "sweep", trace, target, label: "tl2", slo: "p99<2ms",
    max_speed_held: 2, first_speed_broke: 2.83,
    steps: [{speed: 2, held: true, why: null, result: .},
            {speed: 2.83, held: false, why: "p99<2ms broke: 3.000 ms",
             result: (.ops_per_s *= 1.41 | .speed = 2.83)}]}' "$TMP/step_tl2.json" > "$TMP/run_tl2.json"
PRUN=$RX_PORT
start_redis_x; PEMPTY=$RX_PORT; RX_PORT=$PRUN
"$RT" replay "$T" --target "redis://127.0.0.1:$PRUN" --speed max --verify-writes \
    --verify-target "redis://127.0.0.1:$PEMPTY" --json="$TMP/verify.json" -q > /dev/null 2>&1
check_eq "replay --verify-writes exit" 0 $?
check_eq "... every acknowledged write read back from the empty server is lost" 1 \
    "$(jq '.verify_writes.read_back and .verify_writes.lost > 0 and
           .verify_writes.lost == .verify_writes.keys' "$TMP/verify.json" | grep -c true)"
jq 'del(.timeline) | .label = "no-tl" | .disruption = {from_s: 2, to_s: 4, errors: 0,
    peak_p99_us: 900, extra_misses: 420, warmup_s: 2.5}' "$TMP/verify.json" > "$TMP/run_nt.json"
cp "$RUN" "$TMP/run_copy.json"
# the prices: by label (markup and all), by file name, one naming no run; run_copy.json has none
cat > "$TMP/prices.json" <<'EOF'
{"currency": "EUR",
 "runs": {"tl <b>&amp;": {"nodes": 3, "price_per_node_hour": 0.25},
          "tl2": {"nodes": 2, "price_per_node_hour": 0.5},
          "run.json": {"nodes": 1, "price_per_node_hour": 1.2},
          "no-tl": {"nodes": 4, "price_per_node_hour": 0.2},
          "nobody": {"nodes": 1, "price_per_node_hour": 1}}}
EOF
real_tl=$(jq '.timeline | length' "$RUN")
RUNS=("$RUN" "$TMP/run_tl.json" "$TMP/run_nt.json" "$TMP/run_tl2.json" "$TMP/run_copy.json")

H=$TMP/report.html
out=$("$RT" report "$T" "${RUNS[@]}" -o "$H" --top 10 --prices "$TMP/prices.json")
check_eq "report exit" 0 $?
check_match "report says what it wrote" "^wrote .*report\.html .*5 replay runs" "$out"
check_eq "nothing left beside the report" "" "$(ls -A "$TMP" | grep '\.tmp-' || true)"
"$RT" report "$T" "${RUNS[@]}" -o - --top 10 --prices "$TMP/prices.json" > "$TMP/stdout.html"
check_files "-o - writes the same bytes (the report is reproducible)" "$H" "$TMP/stdout.html"

# ---- the HTML ------------------------------------------------------------------------------
xmllint --noout "$H" 2> "$TMP/xmllint.err"; check_eq "well-formed (xmllint, XML rules)" 0 $?
xmllint --html --noout "$H" 2>&1 | grep -E 'parser error' | grep -v 'Tag [a-z]* invalid' > "$TMP/xh.err"
check_eq "no HTML parser errors but HTML4's unknown tags (svg)" "" "$(head -3 "$TMP/xh.err")"
for s in '<script' '<iframe' '<object' '<embed' '<link' '<img' 'url(' '@import' '@font-face'; do
    check_eq "no $s" 0 "$(grep -ciF -- "$s" "$H")"
done
# tags and attributes as a browser's tokenizer sees them; the numbers shown in the tables
cat > "$TMP/parse.py" <<'EOF'
import json, re, sys
from html.parser import HTMLParser
VOID = {"meta", "br", "hr", "img", "input", "link", "rect", "line", "polyline", "circle", "path"}
class P(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.bad, self.tags, self.attrs = [], [], set(), []
        self.rows, self.row, self.cell, self.svg, self.polys = [], None, None, [], []
        self.text, self.texts, self.tbuf, self.h2, self.spans, self.sbuf = [], [], None, [], {}, None
        self.tstack, self.trows, self.rcls = [], [], []
    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        a = dict(attrs)
        self.attrs += [(tag, k, v or "") for k, v in attrs]
        if tag == "svg":
            self.svg.append(a.get("class", ""))
        if tag == "polyline":
            self.polys.append((self.svg[-1] if self.svg else "", a.get("stroke"), a.get("points"),
                               len(self.svg) - 1))
        if tag == "rect" and a.get("class") == "plot" and self.svg:
            self.polys.append((self.svg[-1], "plot", "%s %s" % (a["y"], a["height"]), len(self.svg) - 1))
        if tag == "text":
            self.tbuf = (a.get("class", ""), [])
        if tag == "h2":
            self.h2.append(a.get("id", ""))
        if tag == "span" and a.get("class"):
            self.sbuf = (a["class"], [])
        if tag == "table":
            self.tstack.append(a.get("class", ""))
        if tag == "tr":
            self.row, self.rcls = [], []
        if tag in ("td", "th"):
            self.cell = []
            self.rcls.append(a.get("class", ""))
        if tag not in VOID:
            self.stack.append(tag)
    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()
    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.bad.append("unbalanced </%s> (open: %s)" % (tag, self.stack[-3:]))
            return
        self.stack.pop()
        if tag == "text" and self.tbuf is not None:
            self.texts.append((self.svg[-1] if self.svg else "", self.tbuf[0], "".join(self.tbuf[1])))
            self.tbuf = None
        if tag == "span" and self.sbuf is not None:
            self.spans.setdefault(self.sbuf[0], []).append("".join(self.sbuf[1]))
            self.sbuf = None
        if tag in ("td", "th") and self.row is not None:
            self.row.append("".join(self.cell).strip())
            self.cell = None
        if tag == "tr":
            self.rows.append(self.row)
            self.trows.append([self.tstack[-1] if self.tstack else "", self.row, self.rcls])
            self.row = None
        if tag == "table" and self.tstack:
            self.tstack.pop()
    def handle_data(self, d):
        self.text.append(d)
        if self.tbuf is not None:
            self.tbuf[1].append(d)
        if self.sbuf is not None:
            self.sbuf[1].append(d)
        if self.cell is not None:
            self.cell.append(d)
p = P()
p.feed(open(sys.argv[1], encoding="utf-8").read())
p.close()
ext = [x for x in p.attrs if x[1] in ("src", "srcset", "action", "formaction", "data", "poster")
       or (x[1] in ("href", "xlink:href") and not x[2].startswith("#"))
       or x[1].startswith("on") or "url(" in x[2] or re.search(r"(?i)javascript:", x[2])]
print(json.dumps({"bad": p.bad + (["unclosed %s" % p.stack] if p.stack else []),
                  "tags": sorted(p.tags), "external": ext, "rows": p.rows,
                  "svgs": p.svg, "polys": p.polys, "text": "".join(p.text), "texts": p.texts,
                  "h2": p.h2, "spans": p.spans, "trows": p.trows}))
EOF
python3 "$TMP/parse.py" "$H" > "$TMP/parsed.json"
check_eq "python parse" 0 $?
P=$TMP/parsed.json
check_eq "tags balanced" "[]" "$(jq -c .bad "$P")"
check_eq "no external reference or event handler attribute" "[]" "$(jq -c .external "$P")"
check_eq "no script element" false "$(jq '.tags | index("script") != null' "$P")"

# every string of the trace is escaped: the raw markup never appears, its escaped text does
for raw in '<img src=http' '<script>x' 'a<b&c>' '<E&R>' '<b>&amp;'; do
    check_eq "raw [$raw] absent" 0 "$(grep -cF -- "$raw" "$H")"
done
for esc in 'a&lt;b&amp;c&gt;&quot;q&#39;' '&lt;img src=http://evil.example/x.png&gt;' \
    '&lt;script&gt;x&lt;/script&gt;' '&lt;E&amp;R&gt; 1,500' 'ctl\x00\x1b\xff' \
    'tl &lt;b&gt;&amp;amp;'; do
    check_eq "escaped [$esc] present" 1 "$([ "$(grep -cF -- "$esc" "$H")" -gt 0 ] && echo 1)"
done
check_eq "no control bytes in the file" 0 "$(tr -d '\n\t' < "$H" | LC_ALL=C grep -c '[[:cntrl:]]')"

# known numbers: the hot keys table (key, ops, reads, writes) as the browser decodes it
row() { jq -c --arg k "$1" '[.rows[] | select(.[1] == $k) | .[1:5]][0]' "$P"; }
check_eq "hot key a<b&c>\"q'" "[\"a<b&c>\\\"q'\",\"1,500\",\"1,500\",\"0\"]" "$(row "a<b&c>\"q'")"
check_eq "hot key <img ...>" '["<img src=http://evil.example/x.png>","1,500","0","1,500"]' \
    "$(row '<img src=http://evil.example/x.png>')"
check_eq "hot key ctl bytes" '["ctl\\x00\\x1b\\xff","1,500","1,500","0"]' "$(row 'ctl\x00\x1b\xff')"
check_eq "user keys: 300 ops each" '["user:14","300","300","0"]' "$(row 'user:14')"
check_eq "10 keys listed (--top 10)" 10 \
    "$(jq '[.rows[] | select(length == 7 and (.[0] | test("^[0-9]+$")) and (.[1] | test("^(user:[0-9]+|a<b.*|<img src=http://.*|ctl.*)$")))] | length' "$P")"
check_match "overview: requests and rate" "15,000 \(per second: min 1,000, mean 3,000, max 5,000\)" \
    "$(jq -r '.rows[] | select(.[0] == "requests") | .[1]' "$P")"
check_match "command mix shows the unknown command" "<script>x</script> *1,500 \(10.00%\)" \
    "$(jq -r .text "$P" | tr -s ' \n' ' ')"

# the rate chart: 5 points whose heights above the plot's bottom are 1:2:3:4:5
rate=$(jq -r '[.polys[] | select(.[0] == "chart rate")] | map(.[2]) | @tsv' "$P")
check_eq "rate chart heights" "0.2 0.4 0.6 0.8 1.0" "$(echo "$rate" | awk -F'\t' '{
    split($1, pl, " "); bottom = pl[1] + pl[2]; n = split($2, pts, " ");
    split(pts[n], last, ","); for (i = 1; i <= n; i++) { split(pts[i], xy, ",");
    printf "%s%.1f", (i > 1 ? " " : ""), (bottom - xy[2]) / (bottom - last[2]) } }')"

# heights CLASS STROKE [REPORT]: the points of the line drawn in STROKE in the (first) chart of
# CLASS, as heights above the plot's bottom relative to the last point's, 2 decimals
heights() {
    python3 - "${3:-$P}" "$1" "$2" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
polys = [p for p in d["polys"] if p[0] == sys.argv[2]]
if not polys:
    sys.exit(0)
svg = polys[0][3]
plot = [p for p in polys if p[3] == svg and p[1] == "plot"][0]
y, h = (float(v) for v in plot[2].split())
line = [p for p in polys if p[3] == svg and p[1] == sys.argv[3]]
if not line:
    sys.exit(0)
ys = [float(pt.split(",")[1]) for pt in line[0][2].split()]
print(" ".join("%.2f" % ((y + h - v) / (y + h - ys[-1])) for v in ys))
EOF
}

# the sections: the decision first, the replay runs before the long tables of hot keys and shards
check_eq "section order" '["decision","overview","rate","commands","runs","compare","hotkeys","shards"]' \
    "$(jq -c .h2 "$P")"
check_eq "the navigation in that order" '#decision #overview #rate #commands #runs #compare #hotkeys #shards' \
    "$(grep -o '<nav>.*</nav>' "$H" | grep -o 'href="[^"]*"' | cut -d'"' -f2 | xargs)"

# ---- the decision table: every cell as the test works it out ----------------------------------
# from the run files and the prices file (costs, headroom, ops/s at the SLO, writes lost, the
# disruption's fields), and the classes' p99 from `resptrace compare --json` (test_compare.sh
# checks those against its own merge of the histograms); formatted as the report formats them
"$RT" compare "${RUNS[@]}" --json > "$TMP/cmp5.json"; check_eq "compare of the report's runs" 0 $?
cat > "$TMP/decision.py" <<'EOF'
import json, os, sys
prices_path, cmp = sys.argv[1], json.load(open(sys.argv[2]))
prices = json.load(open(prices_path))
cur, hours = prices.get("currency"), prices.get("hours_per_month", 730)
def us(v):
    if v < 1: return "%.0f ns" % (v * 1e3)
    if v < 1000: return "%.3g \u00b5s" % v
    if v < 1e6: return "%.3g ms" % (v / 1e3)
    return "%.3g s" % (v / 1e6)
def num(v): return "{:,}".format(int(v)) if v == int(v) else "%.3g" % v
def money(v): return ("%s " % cur if cur else "") + "%.2f" % v
keys = ["write p99", "read p99", "headroom at the SLO", "ops/s served within the SLO",
        "acknowledged writes lost on failover", "miss storm (extra misses)", "warm-up time",
        "monthly cost", "cost per 1,000 ops/s at the SLO"]
lower = [1, 1, 0, 0, 1, 1, 1, 1, 1]
cells, vals = [[k] for k in keys], [[] for k in keys]
for i, f in enumerate(sys.argv[3:]):
    d = json.load(open(f))
    sweep, ops, m = d.get("mode") == "sweep", None, None
    run = d
    if sweep:
        m = d.get("max_speed_held")
        step = [s for s in d["steps"] if m is not None and s["held"] and s["speed"] == m]
        run = (step or d["steps"])[0]["result"]
        ops = step[0]["result"]["ops_per_s"] if step else None
    def put(k, v, text):
        vals[k].append(v)
        cells[k].append(text)
    for k, name in ((0, "write"), (1, "read")):
        v = [r["values"][i] for r in cmp["rows"]
             if r["scope"] == "class" and r["name"] == name and r["metric"] == "p99_us"]
        v = v[0] if v else None
        put(k, v, us(v) if v is not None else "- no %ss" % name)
    broke = d.get("first_speed_broke")
    if not sweep:
        put(2, None, "- not a sweep"); put(3, None, "- not a sweep")
    elif m is None:
        put(2, None, "- broke at %gx" % broke); put(3, None, "- broke at %gx" % broke)
    else:
        put(2, m, "%.3gx %s%s" % (m, d["slo"], "" if broke is not None else "; the fastest tried: it may hold more"))
        put(3, ops, num(round(ops)))
    vw = run.get("verify_writes")
    if vw is None: put(4, None, "- no --verify-writes")
    elif not vw["read_back"]: put(4, None, "- not read back")
    else: put(4, vw["lost"], num(vw["lost"]) + (" and %d reverted" % vw["reverted"] if vw["reverted"] else ""))
    dis = run.get("disruption", {})
    if dis is None:
        put(5, None, "- no disruption"); put(6, None, "- no disruption")
    else:
        x = dis.get("extra_misses")
        put(5, x, num(x) if x is not None else "-")
        w = dis.get("warmup_s", "absent")
        put(6, None if w in (None, "absent") else w,
            "- not warmed up" if w is None else "-" if w == "absent" else "%.1f s" % w)
    e = prices["runs"].get(d.get("label", "")) or prices["runs"].get(os.path.basename(f))
    if e is None:
        put(7, None, "- no price in " + prices_path); put(8, None, "- no price in " + prices_path)
    else:
        monthly = e["nodes"] * e["price_per_node_hour"] * hours
        put(7, monthly, money(monthly))
        if ops is not None: put(8, monthly / (ops / 1000.0), money(monthly / (ops / 1000.0)))
        else: put(8, None, "- " + ("not a sweep" if not sweep else "the SLO never held"))
best = []
for k in range(len(keys)):
    have = [v for v in vals[k] if v is not None]
    b = (min if lower[k] else max)(have) if have else None
    mark = len(have) >= 2 and any(v != b for v in have)
    best.append(["best" if mark and v == b else "" for v in vals[k]])
print(json.dumps({"cells": cells, "best": best, "values": vals}))
EOF
python3 "$TMP/decision.py" "$TMP/prices.json" "$TMP/cmp5.json" "${RUNS[@]}" > "$TMP/want_dec.json"
check_eq "decision: the test worked it out" 0 $?
got_dec=$(jq -c '[.trows[] | select(.[0] == "decision") | .[1]][1:]' "$P")
got_best=$(jq -c '[.trows[] | select(.[0] == "decision") | .[2][1:]][1:]' "$P")
for k in $(seq 0 8); do
    check_eq "decision row $k: every cell" "$(jq -c ".cells[$k]" "$TMP/want_dec.json")" "$(jq -c ".[$k]" <<< "$got_dec")"
    check_eq "decision row $k: the best marked" "$(jq -c ".best[$k]" "$TMP/want_dec.json")" "$(jq -c ".[$k]" <<< "$got_best")"
done
check_eq "decision: one column per run, named as in the runs table" \
    "$(jq -c '[.trows[] | select(.[0] == "runsum") | .[1][1:]][0]' "$P")" \
    "$(jq -c '[.trows[] | select(.[0] == "decision") | .[1][1:]][0]' "$P")"
check_eq "decision: the known costs, worked out by hand" \
    '["EUR 876.00","EUR 547.50","EUR 584.00","EUR 730.00","- no price in '"$TMP"'/prices.json"]' \
    "$(jq -c '.[7][1:]' <<< "$got_dec")"
check_eq "decision: the cheapest is marked" '["","best","","",""]' "$(jq -c '.[7]' <<< "$got_best")"
check_eq "decision: the headroom of the sweep" '"2x p99<2ms"' "$(jq -c '.[2][4]' <<< "$got_dec")"
check_eq "decision: the cost per 1,000 ops/s of the sweep: 730 / (its 2x step's ops/s / 1000)" \
    "$(jq -r '.steps[0].result.ops_per_s' "$TMP/run_tl2.json" | awk '{ printf "EUR %.2f", 730 / ($1 / 1000) }')" \
    "$(jq -r '.[8][4]' <<< "$got_dec")"
check_eq "decision: the writes the empty server lost" "$(jq '.verify_writes.lost' "$TMP/verify.json")" \
    "$(jq -r '.[4][3] | gsub(","; "") | split(" ")[0]' <<< "$got_dec")"
check_eq "decision: the miss storms and warm-up times" '["1,000","420"] ["- not warmed up","2.5 s"]' \
    "$(jq -c '[.[5][2], .[5][3]]' <<< "$got_dec") $(jq -c '[.[6][2], .[6][3]]' <<< "$got_dec")"
check_match "decision: how the costs are worked out" \
    "Monthly cost = nodes × price per node-hour × 730 hours \(prices from .*prices\.json\); cost per 1,000 ops/s at the SLO = monthly cost / \(ops/s served within the SLO / 1,000\)" \
    "$(jq -r .text "$P" | tr -s ' \n' ' ')"
check_match "decision: the entry that names no run" 'prices\.json: runs\."nobody" names no run given' \
    "$(jq -r .text "$P")"
# the hot keys' counts, each its own number, as `resptrace hotkeys` counts them
"$RT" hotkeys "$T" --top 10 --json > "$TMP/hk.json"
c3() { jq -r "$1" "$TMP/hk.json" | sed -e ':a' -e 's/\B[0-9]\{3\}\>/,&/' -e 'ta'; }
check_eq "hot keys: keyed, key operations, distinct keys, skipped" \
    "$(c3 .keyed_requests) keyed requests, $(c3 .key_ops) key operations, $(c3 .distinct_keys) distinct keys; $(c3 .skipped_requests) requests skipped (unknown command or keys)" \
    "$(jq -r '.spans.hkcounts[0]' "$P")"
check_eq "hot keys: the skipped count is the unknown command's" "1,500" "$(c3 .skipped_requests)"
# the trace's error replies per second: 100, 200, ... 500 (one request in ten)
check_eq "error chart heights" "0.20 0.40 0.60 0.80 1.00" "$(heights "chart errors" "#e41a1c")"
# runs: names unique (label, else target and file name); rates per second of each entry's
# real length: the half second at 6000/s drawn at 6000, the tenth of a second left out
want_names=$(jq -n -c --arg t "redis://127.0.0.1:$RX_PORT/0" --argjson real "$real_tl" \
    '(if $real > 0 then ["\($t) (run.json)"] else [] end) + ["tl <b>&amp;", "tl2"] +
     (if $real > 0 then ["\($t) (run_copy.json)"] else [] end)')
check_eq "run names in the legend: label, else target and file" "$want_names" \
    "$(jq -c '[.texts[] | select(.[0] == "chart tput" and .[1] == "lg") | .[2]]' "$P")"
check_eq "run names in the summary table" \
    "[\"redis://127.0.0.1:$RX_PORT/0 (run.json)\",\"tl <b>&amp;\",\"no-tl\",\"tl2\",\"redis://127.0.0.1:$RX_PORT/0 (run_copy.json)\"]" \
    "$(jq -c '[.rows[] | select(.[0] == "")][0][1:]' "$P")"
check_eq "throughput: the partial second per second" "0.17 0.33 0.50 0.67 0.83 1.00" \
    "$(heights "chart tput" "#393b79")"
check_eq "throughput: a tenth of a second left out" "0.20 0.40 0.60 0.80 1.00" \
    "$(heights "chart tput" "#843c39")"
check_eq "errors over time: per second" "0.17 0.33 0.50 0.67 0.83 1.00" \
    "$(heights "chart rerr" "#393b79")"
check_eq "errors over time: a tenth of a second left out" "0.20 0.40 0.60 0.80 1.00" \
    "$(heights "chart rerr" "#843c39")"

# a trace that ends inside a second: its last second drawn per second of what it covers
"$RT" slice "$T" --to +4.5 -o "$TMP/t45.rtrace" > /dev/null 2>&1; check_eq "slice to 4.5 s" 0 $?
"$RT" report "$TMP/t45.rtrace" -o "$TMP/t45.html" --shards none > /dev/null
python3 "$TMP/parse.py" "$TMP/t45.html" > "$TMP/t45.json"
check_eq "trace ends at 4.5 s: rate chart heights (the last second per second)" \
    "0.20 0.40 0.60 0.80 1.00" "$(heights "chart rate" "#1f77b4" "$TMP/t45.json")"
check_eq "trace ends at 4.5 s: last second covered" 0.5 \
    "$("$RT" stat "$TMP/t45.rtrace" --json | jq '.rate.last_second_s * 100 | round / 100')"
check_match "... the report says how it draws it" "ends 0\.[0-9]+ s into its last second: that second's count is drawn per second" \
    "$(tr -s ' \n' ' ' < "$TMP/t45.html")"
"$RT" slice "$T" --to +4.1 -o "$TMP/t41.rtrace" > /dev/null 2>&1
"$RT" report "$TMP/t41.rtrace" -o "$TMP/t41.html" --shards none > /dev/null
check_match "trace ends at 4.1 s: the last second left out" "too little of a second to draw as a rate" \
    "$(tr -s ' \n' ' ' < "$TMP/t41.html")"
python3 "$TMP/parse.py" "$TMP/t41.html" > "$TMP/t41.json"
check_eq "trace ends at 4.1 s: rate chart heights (4 whole seconds)" \
    "0.25 0.50 0.75 1.00" "$(heights "chart rate" "#1f77b4" "$TMP/t41.json")"

# shards: one chart per count; each count's ops add up to the trace's key operations (13500)
check_eq "shard charts" 3 "$(jq '[.svgs[] | select(. == "chart shards")] | length' "$P")"
for n in 3 6 12; do
    check_eq "$n shards heading" 1 "$(grep -c "<h3>$n shards: imbalance" "$H")"
done
"$RT" shards "$T" --shards 3 --json > "$TMP/shards.json" 2>/dev/null
imb=$(jq -r '.projections[0].imbalance * 1000 | round / 1000 | tostring' "$TMP/shards.json")
check_eq "3-shard imbalance as resptrace shards says" 1 "$(grep -c "<h3>3 shards: imbalance $(printf '%.3f' "$imb")</h3>" "$H")"
check_eq "shard ops add up to 13500" "13500 13500 13500" "$(grep -o '>[0-9,]* ops, [0-9,]* keys' "$H" |
    tr -d ',>' | awk '{ s += $1; if (++n == 3 || n == 9 || n == 21) { printf "%s%d", (n > 3 ? " " : ""), s; s = 0 } }')"

# runs: side by side, the labels, the ops of each, timelines
check_match "run columns" "redis://127.0.0.1:$RX_PORT/0.*tl <b>&amp;.*no-tl" \
    "$(jq -r '.rows[] | select(.[0] == "") | join(" ")' "$P")"
check_eq "ops of the five runs" '["15,000","15,000","15,000","15,000","15,000"]' \
    "$(jq -c '[.rows[] | select(.[0] == "ops (answered)") | .[1:]][0]' "$P")"
want_nt=$((real_tl > 0 ? 1 : 3))
check_eq "runs without a timeline say so" "$want_nt" "$(grep -o 'no timeline in this run' "$H" | wc -l)"
check_eq "latency charts" $((5 - want_nt)) "$(jq '[.svgs[] | select(. == "chart lat")] | length' "$P")"
check_eq "throughput chart" 1 "$(jq '[.svgs[] | select(. == "chart tput")] | length' "$P")"
check_eq "errors over time chart" 1 "$(jq '[.svgs[] | select(. == "chart rerr")] | length' "$P")"

# --json: one document with the tool's header, on stdout instead of the line, or into a file
"$RT" report "$T" "$RUN" -o "$TMP/j.html" --shards 3 --json > "$TMP/j.json"; check_eq "--json exit" 0 $?
check_eq "--json: one document" 1 "$(jq -s length "$TMP/j.json")"
check_eq "--json: header" '["resptrace","report",2]' "$(jq -c '[.tool, .command, .schema]' "$TMP/j.json")"
check_eq "--json: what was written" "[\"$TMP/j.html\",$(stat -c %s "$TMP/j.html"),15000,[3],false]" \
    "$(jq -c '[.output, .bytes, .requests, .shard_counts, .interrupted]' "$TMP/j.json")"
check_eq "--json: run names" "[\"redis://127.0.0.1:$RX_PORT/0 (run.json)\"]" "$(jq -c '[.runs[].name]' "$TMP/j.json")"
out=$("$RT" report "$T" -o "$TMP/j2.html" --shards 3 --json="$TMP/j2.json"); check_eq "--json=FILE exit" 0 $?
check_match "--json=FILE: the line on stdout" "^wrote .*j2\.html" "$out"
check_eq "--json=FILE: the document" '["report",[3]]' "$(jq -c '[.command, .shard_counts]' "$TMP/j2.json")"
"$RT" report "$T" -o - --json > /dev/null 2> "$TMP/err"; check_eq "-o - with --json on stdout: refused" 2 $?
check_match "... says to give the JSON a file" "give the JSON a file" "$(cat "$TMP/err")"
"$RT" report "$T" -o - --shards none --json="$TMP/j3.json" > "$TMP/j3.html"; check_eq "-o - --json=FILE" 0 $?
check_eq "... the HTML on stdout" 1 "$(grep -c '^<!DOCTYPE html>' "$TMP/j3.html")"
check_eq "... the document in the file" null "$(jq .bytes "$TMP/j3.json")"

# a damaged (truncated) trace: the report is still written, with a warning, exit 1
head -c $(($(stat -c %s "$T") / 2)) "$T" > "$TMP/cut.rtrace"
"$RT" report "$TMP/cut.rtrace" -o "$TMP/cut.html" > /dev/null 2> "$TMP/cut.err"
check_eq "damaged trace: exit 1" 1 $?
check_eq "damaged trace: warning in the report" 1 "$(grep -c 'class="warn"' "$TMP/cut.html")"
check_match "damaged trace: message names the file" "cut\.rtrace" "$(cat "$TMP/cut.err")"
xmllint --noout "$TMP/cut.html"; check_eq "damaged trace: still well-formed" 0 $?

# ---- headless Chromium -----------------------------------------------------------------------
if ! command -v chromium > /dev/null; then
    fail "chromium is not installed (.ci/setup installs it)"
    finish
fi
# text that does not fit its chart is cut off by the browser: laid out by Chromium, every text
# of every chart (but the rotated axis title) lies inside its SVG's viewBox. A copy of the
# report gets a script that measures them (getBBox) and writes what it finds into the page.
cat > "$TMP/measure.html" <<'EOF'
<script>
(function () {
  var out = [];
  var svgs = document.querySelectorAll('svg');
  for (var i = 0; i < svgs.length; i++) {
    var svg = svgs[i], vb = svg.viewBox.baseVal;
    if (!vb || !vb.width) continue;
    var ts = svg.querySelectorAll('text');
    for (var j = 0; j < ts.length; j++) {
      var t = ts[j];
      if (t.hasAttribute('transform')) continue;
      var b = t.getBBox();
      if (b.x < vb.x - 0.5 || b.x + b.width > vb.x + vb.width + 0.5 ||
          b.y < vb.y - 0.5 || b.y + b.height > vb.y + vb.height + 0.5)
        out.push([svg.getAttribute('class'), t.textContent, Math.round(b.x),
                  Math.round(b.x + b.width), vb.width]);
    }
  }
  // the decision table as laid out: its cells' text, cells whose text overflows them, and
  // whether the table fits the page's width
  var dt = document.querySelector('table.decision'), dec = null;
  if (dt) {
    var cells = dt.querySelectorAll('td, th'), over = 0;
    for (var c = 0; c < cells.length; c++)
      if (cells[c].scrollWidth > cells[c].clientWidth + 1) over++;
    var best = dt.querySelector('td.best');
    dec = {rows: Array.prototype.map.call(dt.rows, function (tr) {
             return Array.prototype.map.call(tr.cells, function (td) {
               return td.innerText.replace(/\s+/g, ' ').trim(); }); }),
           overflowing: over,
           fits: dt.getBoundingClientRect().right <= document.documentElement.clientWidth,
           top: Math.round(dt.getBoundingClientRect().top + window.scrollY),
           best: dt.querySelectorAll('td.best').length,
           best_bg: best ? getComputedStyle(best).backgroundColor : null};
  }
  var pre = document.createElement('pre');
  pre.id = 'measured';
  pre.textContent = JSON.stringify({cut: out, texts: document.querySelectorAll('svg text').length,
                                    height: document.documentElement.scrollHeight,
                                    decision: dec});
  document.body.appendChild(pre);
})();
</script>
EOF
# measure REPORT: the JSON the script writes
measure() {
    python3 - "$1" "$TMP/measure.html" "$TMP/m.html" <<'EOF'
import sys
page, script = open(sys.argv[1], encoding="utf-8").read(), open(sys.argv[2]).read()
open(sys.argv[3], "w", encoding="utf-8").write(page.replace("</body>", script + "</body>"))
EOF
    timeout 120 chromium --headless --no-sandbox --disable-gpu --user-data-dir="$TMP/chromium" \
        --dump-dom "file://$TMP/m.html" 2> /dev/null |
        python3 -c 'import html, re, sys; m = re.search(r"<pre id=\"measured\">(.*?)</pre>", sys.stdin.read(), re.S); print(html.unescape(m.group(1)) if m else "{}")'
}
measure "$H" > "$TMP/measured.json"
check_eq "chromium measured the charts' texts" 1 "$(jq '.texts > 100 | if . then 1 else 0 end' "$TMP/measured.json")"
check_eq "no chart text cut off (labels, notes, legends)" "[]" "$(jq -c .cut "$TMP/measured.json")"
# shard labels with long slot ranges, and a thousand shards
"$RT" report "$T" -o "$TMP/many.html" --shards 1,1024 > /dev/null
measure "$TMP/many.html" > "$TMP/many.json"
check_eq "1024 shards: no chart text cut off" "[]" "$(jq -c .cut "$TMP/many.json")"
# the decision table as Chromium lays it out: near the top, the text of every cell as the
# test worked it out, nothing overflowing, within the page's width, the best cells green
check_eq "chromium: the decision table's cells" "$(jq -c '[.cells[][1:]]' "$TMP/want_dec.json")" \
    "$(jq -c '[.decision.rows[1:][][1:]]' "$TMP/measured.json")"
check_eq "chromium: its row titles" "$(jq -c '[.cells[][0]]' "$TMP/want_dec.json")" \
    "$(jq -c '[.decision.rows[1:][][0]]' "$TMP/measured.json")"
check_eq "chromium: no cell overflows, the table fits the page" "0 true" \
    "$(jq -r '"\(.decision.overflowing) \(.decision.fits)"' "$TMP/measured.json")"
check_eq "chromium: the table near the top (in the first 400 pixels)" 1 \
    "$(jq '.decision.top < 400 | if . then 1 else 0 end' "$TMP/measured.json")"
check_eq "chromium: the best cells, green" "$(jq '[.best[][] | select(. == "best")] | length' "$TMP/want_dec.json") rgb(198, 239, 206)" \
    "$(jq -r '"\(.decision.best) \(.decision.best_bg)"' "$TMP/measured.json")"
height=$(jq .height "$TMP/measured.json")
check_eq "page height measured" 1 "$([ "${height:-0}" -gt 3000 ] && [ "$height" -lt 20000 ] && echo 1)"

SHOT=$TMP/shot.png
timeout 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --user-data-dir="$TMP/chromium" --enable-logging=stderr --v=0 \
    --screenshot="$SHOT" --window-size="1200,$height" "file://$H" > "$TMP/chromium.out" 2> "$TMP/chromium.err"
check_eq "chromium exit" 0 $?
check_eq "no console messages or uncaught errors" "" \
    "$(grep -E 'CONSOLE|Uncaught|Refused|ERR_FILE|ERR_NAME' "$TMP/chromium.err" | head -3)"
# decode the PNG (stdlib only) and count the pixels of each chart colour
python3 - "$SHOT" > "$TMP/colors.json" <<'EOF'
import json, struct, sys, zlib
from collections import Counter
d = open(sys.argv[1], "rb").read()
assert d[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, hdr = 8, [], None
while pos < len(d):
    n, = struct.unpack(">I", d[pos:pos + 4])
    typ, body = d[pos + 4:pos + 8], d[pos + 8:pos + 8 + n]
    pos += 12 + n
    if typ == b"IHDR":
        hdr = struct.unpack(">IIBBBBB", body)
    elif typ == b"IDAT":
        idat.append(body)
w, h, depth, ctype, _, _, interlace = hdr
assert depth == 8 and ctype in (2, 6) and interlace == 0, hdr
bpp = 3 if ctype == 2 else 4
raw = zlib.decompress(b"".join(idat))
stride = w * bpp
# byte-wise addition mod 256 of two rows at once: the bytes in two interleaved sets, so that a
# carry out of one byte falls into a byte of the other set and is masked off
full = (1 << (8 * stride)) - 1
m1 = int.from_bytes(b"\x00\xff" * (stride // 2) + b"\x00" * (stride % 2), "big")
if stride % 2:
    m1 = int.from_bytes((b"\xff\x00" * (stride // 2 + 1))[:stride], "big")
m2 = full ^ m1
def add_rows(a, b):
    x, y = int.from_bytes(a, "big"), int.from_bytes(b, "big")
    s = (((x & m1) + (y & m1)) & m1) | (((x & m2) + (y & m2)) & m2)
    return s.to_bytes(stride, "big")
prev = bytes(stride)
counts, cache = Counter(), {}
for yy in range(h):
    f = raw[yy * (stride + 1)]
    line = raw[yy * (stride + 1) + 1:(yy + 1) * (stride + 1)]
    if f == 2:
        line = prev if not any(line) else add_rows(line, prev)
    elif f in (1, 3, 4):
        line = bytearray(line)
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 3:
                line[i] = (line[i] + ((a + prev[i]) >> 1)) & 255
            else:
                b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        line = bytes(line)
    prev = line
    c = cache.get(line)
    if c is None:
        c = Counter(zip(line[0::bpp], line[1::bpp], line[2::bpp]))
        if len(cache) < 4096:
            cache[line] = c
    counts.update(c)
white = counts.get((255, 255, 255), 0)
print(json.dumps({"width": w, "height": h, "nonwhite": w * h - white,
                  "colors": {bytes(k).hex(): v for k, v in counts.items() if v >= 20}}))
EOF
check_eq "screenshot decoded" 0 $?
C=$TMP/colors.json
check_eq "screenshot size" "1200x$height" "$(jq -r '"\(.width)x\(.height)"' "$C")"
check_eq "page not blank (>5% non-white)" 1 "$(jq '.nonwhite > .width * .height / 20 | if . then 1 else 0 end' "$C")"
# colour MIN-PIXELS what: the fixed colours of tools/cmd_report.c
color() {
    local n
    n=$(jq --arg c "$1" '.colors[$c] // 0' "$C")
    if [ "$n" -ge "$2" ]; then ok; else fail "$3: $n pixels of #$1, want >= $2"; fi
}
color 1f77b4 300 "rate line"
color e41a1c 300 "error replies line"
color 2ca02c 3000 "read bar (get)"
color ff7f0e 300 "write bar (set)"
color 7f7f7f 300 "other bar (the unknown command)"
color d62728 3000 "hot key and slot bars"
color 9467bd 10000 "shard bars"
color 393b79 300 "throughput line of the run with a timeline"
color 17becf 40 "p50 line"
color bcbd22 40 "p99 line"
color e377c2 40 "max line"
color c6efce 300 "the best cells of the decision table"
finish
