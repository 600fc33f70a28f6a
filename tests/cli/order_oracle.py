#!/usr/bin/env python3
"""order_oracle.py: what the recording can and cannot say about the order of writes to a key
(test_replay_order.sh's oracle, independent of resptrace's engine: arithmetic on the recorded
timestamps of `resptrace cat --format jsonl`, read with exact integers).

A write W certainly ran before a write X when W's reply was on the wire before X's request.
The candidates for a key's final value are the SETs that no other write of the key certainly
followed; a key with one candidate is certain, with several the recording cannot say which one
the server ran last (both were in the server at once). Prints one JSON document:
  {"uncertain": {key: [candidate values]}, "overlapped": N}
where "overlapped" counts the requests that, in the order the requests arrived, came while the
previous write of their key by another connection was still unanswered in the recording (the
replayer's `sync_stats.overlapped`, computed here from the timestamps alone).

Usage: order_oracle.py JSONL [KEY_PREFIX]  (only SETs of keys starting with KEY_PREFIX)
"""
import json
import sys


def main():
    path = sys.argv[1]
    prefix = sys.argv[2] if len(sys.argv) > 2 else ""
    writes = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            ev = json.loads(line)
            if ev.get("event") != "request" or ev.get("cmd") != "SET" or not ev.get("reply"):
                continue
            key, val = ev["argv"][1], ev["argv"][2]
            if not key.startswith(prefix):
                continue
            writes.setdefault(key, []).append(
                (int(ev["ts"]), int(ev["reply"]["ts"]), ev["conn"], val))
    uncertain = {}
    overlapped = 0
    for key, ws in writes.items():
        ws.sort()  # the order the requests arrived in
        for prev, cur in zip(ws, ws[1:]):
            if prev[2] != cur[2] and prev[1] > cur[0]:
                overlapped += 1
        cands = [w for w in ws if not any(x is not w and x[0] > w[1] for x in ws)]
        if len(cands) > 1:
            uncertain[key] = sorted({w[3] for w in cands})
    json.dump({"uncertain": uncertain, "overlapped": overlapped}, sys.stdout, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
