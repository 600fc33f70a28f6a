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

# ---- replay runs against a real server -----------------------------------------------------
start_redis_x
RUN=$TMP/run.json
"$RT" replay "$T" --target "redis://127.0.0.1:$RX_PORT" --speed 2 --json="$RUN" > "$TMP/replay.out"
check_eq "replay exit" 0 $?
check_eq "replay answered every request" 15000 "$(jnum "$RUN" .ops)"
# a run with a known timeline (label with markup), and one without any
jq '. + {label: "tl <b>&amp;", timeline: [range(0;5) as $i | {t_s: $i, ops: (1000*($i+1)),
    errors: 100, p50_us: (50+10*$i), p99_us: (200+50*$i), max_us: (1000*($i+1))}]}' "$RUN" \
    > "$TMP/run_tl.json"
jq 'del(.timeline) | .label = "no-tl"' "$RUN" > "$TMP/run_nt.json"
real_tl=$(jq '.timeline | length' "$RUN")

H=$TMP/report.html
out=$("$RT" report "$T" "$RUN" "$TMP/run_tl.json" "$TMP/run_nt.json" -o "$H" --top 10)
check_eq "report exit" 0 $?
check_match "report says what it wrote" "^wrote .*report\.html .*3 replay runs" "$out"
"$RT" report "$T" "$RUN" "$TMP/run_tl.json" "$TMP/run_nt.json" -o - --top 10 > "$TMP/stdout.html"
check_files "-o - writes the same bytes (the report is reproducible)" "$H" "$TMP/stdout.html"

# ---- the HTML ------------------------------------------------------------------------------
xmllint --noout "$H" 2> "$TMP/xmllint.err"; check_eq "well-formed (xmllint, XML rules)" 0 $?
xmllint --html --noout "$H" 2>&1 | grep -v 'Tag [a-z]* invalid' | grep -E 'error' > "$TMP/xh.err"
check_eq "no HTML parser errors but HTML4's unknown tags (svg)" "" "$(head -3 "$TMP/xh.err")"
for s in '<script' '<iframe' '<object' '<embed' '<link' '<img' 'url(' '@import' '@font-face'; do
    check_eq "no $s" 0 "$(grep -ciF -- "$s" "$H")"
done
# tags and attributes as a browser's tokenizer sees them; the numbers shown in the tables
python3 - "$H" > "$TMP/parsed.json" <<'EOF'
import json, re, sys
from html.parser import HTMLParser
VOID = {"meta", "br", "hr", "img", "input", "link", "rect", "line", "polyline", "circle", "path"}
class P(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.bad, self.tags, self.attrs = [], [], set(), []
        self.rows, self.row, self.cell, self.svg, self.polys = [], None, None, [], []
        self.text = []
    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        a = dict(attrs)
        self.attrs += [(tag, k, v or "") for k, v in attrs]
        if tag == "svg":
            self.svg.append(a.get("class", ""))
        if tag == "polyline":
            self.polys.append((self.svg[-1] if self.svg else "", a.get("stroke"), a.get("points")))
        if tag == "rect" and a.get("class") == "plot" and self.svg:
            self.polys.append((self.svg[-1], "plot", "%s %s" % (a["y"], a["height"])))
        if tag == "tr":
            self.row = []
        if tag in ("td", "th"):
            self.cell = []
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
        if tag in ("td", "th") and self.row is not None:
            self.row.append("".join(self.cell).strip())
            self.cell = None
        if tag == "tr":
            self.rows.append(self.row)
            self.row = None
    def handle_data(self, d):
        self.text.append(d)
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
                  "svgs": p.svg, "polys": p.polys, "text": "".join(p.text)}))
EOF
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

# shards: one chart per count; each count's ops add up to the trace's key operations (13500)
check_eq "shard charts" 3 "$(jq '[.svgs[] | select(. == "chart shards")] | length' "$P")"
for n in 3 6 12; do
    check_eq "$n shards heading" 1 "$(grep -c "<h3>$n shards: imbalance" "$H")"
done
"$RT" shards "$T" --shards 3 --json > "$TMP/shards.json" 2>/dev/null
imb=$(jq -r '(if type == "array" then .[0] else . end) | .imbalance * 1000 | round / 1000 | tostring' "$TMP/shards.json")
check_eq "3-shard imbalance as resptrace shards says" 1 "$(grep -c "<h3>3 shards: imbalance $(printf '%.3f' "$imb")</h3>" "$H")"
check_eq "shard ops add up to 13500" "13500 13500 13500" "$(grep -o '>[0-9,]* ops, [0-9,]* keys' "$H" |
    tr -d ',>' | awk '{ s += $1; if (++n == 3 || n == 9 || n == 21) { printf "%s%d", (n > 3 ? " " : ""), s; s = 0 } }')"

# runs: side by side, the labels, the ops of each, timelines
check_match "run columns" "redis://127.0.0.1:$RX_PORT/0.*tl <b>&amp;.*no-tl" \
    "$(jq -r '.rows[] | select(.[0] == "") | join(" ")' "$P")"
check_eq "ops of the three runs" '["15,000","15,000","15,000"]' \
    "$(jq -c '[.rows[] | select(.[0] == "ops (answered)") | .[1:]][0]' "$P")"
want_nt=$((real_tl > 0 ? 1 : 2))
check_eq "runs without a timeline say so" "$want_nt" "$(grep -o 'no timeline in this run' "$H" | wc -l)"
check_eq "latency charts" $((3 - want_nt)) "$(jq '[.svgs[] | select(. == "chart lat")] | length' "$P")"
check_eq "throughput chart" 1 "$(jq '[.svgs[] | select(. == "chart tput")] | length' "$P")"

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
SHOT=$TMP/shot.png
timeout 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --user-data-dir="$TMP/chromium" --enable-logging=stderr --v=0 \
    --screenshot="$SHOT" --window-size=1200,5000 "file://$H" > "$TMP/chromium.out" 2> "$TMP/chromium.err"
check_eq "chromium exit" 0 $?
check_eq "no console messages or uncaught errors" "" \
    "$(grep -E 'CONSOLE|Uncaught|Refused|ERR_FILE|ERR_NAME' "$TMP/chromium.err" | head -3)"
# decode the PNG (stdlib only) and count the pixels of each chart colour
python3 - "$SHOT" > "$TMP/colors.json" <<'EOF'
import json, struct, sys, zlib
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
prev = bytearray(stride)
counts, white = {}, 0
for y in range(h):
    f = raw[y * (stride + 1)]
    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    if f == 1:
        for i in range(bpp, stride):
            line[i] = (line[i] + line[i - bpp]) & 255
    elif f == 2:
        line = bytearray((a + b) & 255 for a, b in zip(line, prev))
    elif f == 3:
        for i in range(stride):
            line[i] = (line[i] + (((line[i - bpp] if i >= bpp else 0) + prev[i]) >> 1)) & 255
    elif f == 4:
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    prev = line
    px = bytes(line) if bpp == 3 else bytes(v for i, v in enumerate(line) if i % 4 != 3)
    for i in range(0, len(px), 3):
        k = px[i:i + 3]
        counts[k] = counts.get(k, 0) + 1
white = counts.get(b"\xff\xff\xff", 0)
print(json.dumps({"width": w, "height": h, "nonwhite": w * h - white,
                  "colors": {k.hex(): v for k, v in counts.items() if v >= 20}}))
EOF
check_eq "screenshot decoded" 0 $?
C=$TMP/colors.json
check_eq "screenshot size" "1200x5000" "$(jq -r '"\(.width)x\(.height)"' "$C")"
check_eq "page not blank (>5% non-white)" 1 "$(jq '.nonwhite > .width * .height / 20 | if . then 1 else 0 end' "$C")"
# colour MIN-PIXELS what: the fixed colours of tools/cmd_report.c
color() {
    local n
    n=$(jq --arg c "$1" '.colors[$c] // 0' "$C")
    if [ "$n" -ge "$2" ]; then ok; else fail "$3: $n pixels of #$1, want >= $2"; fi
}
color 1f77b4 300 "rate line"
color 2ca02c 3000 "read bar (get)"
color ff7f0e 300 "write bar (set)"
color 7f7f7f 300 "other bar (the unknown command)"
color d62728 3000 "hot key and slot bars"
color 9467bd 10000 "shard bars"
color 393b79 300 "throughput line of the run with a timeline"
color 17becf 40 "p50 line"
color bcbd22 40 "p99 line"
color e377c2 40 "max line"
finish
