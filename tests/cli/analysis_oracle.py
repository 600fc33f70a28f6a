#!/usr/bin/env python3
"""analysis_oracle.py: what stat, hotkeys, shards and prime must count on a trace, computed
without resptrace's command table, key specifications or pairing code (test_analysis_counts.sh).

Usage: analysis_oracle.py PORT < TRACE.jsonl > EXPECTED.json

TRACE.jsonl is `resptrace cat --format jsonl` of the trace: every event, a request line
carrying its reply when cat paired them ("reply"), other replies as their own lines with the
sequence number of the request they name ("seq", null for none). From it, in file order:
  - pairing: a reply pairs with the request whose sequence number it names when that request
    came before it, expects a reply (no "noreply" flag) and has not been answered yet; a reply
    naming none is unpaired, one naming another is lost; a request expecting a reply that
    never pairs is unanswered (the traces here are far shorter than the 2^20-request window);
  - keys: the redis-server on 127.0.0.1:PORT (the version the command table was generated
    from) is asked COMMAND GETKEYS for every distinct request, and COMMAND INFO for the flags
    (readonly, write) of every command with keys: a known command's keys are its reply, "has
    no key arguments" makes it keyless, an unknown command or arguments the server rejects
    make it unresolved (skipped);
  - bytes: a request as a RESP array of bulk strings, a reply by its recorded wire length;
    cluster slots by CRC16/XMODEM of the key or its {hashtag}, written out here.
"""
import json
import socket
import sys


def unescape(s):
    """The bytes of a string as rt_json_bytes() wrote them: \\\\ is a backslash, \\xHH a byte."""
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s) and s[i + 1] == "\\":
            out.append(0x5C)
            i += 2
        elif c == "\\" and i + 3 < len(s) and s[i + 1] == "x":
            out.append(int(s[i + 2:i + 4], 16))
            i += 4
        else:
            out += c.encode("utf-8")
            i += 1
    return bytes(out)


class Redis:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.buf = b""

    def send_all(self, cmds):
        out = bytearray()
        for argv in cmds:
            out += b"*%d\r\n" % len(argv)
            for a in argv:
                out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(bytes(out))

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise EOFError("the server closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _bytes(self, n):
        while len(self.buf) < n + 2:
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise EOFError("the server closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest
        if t == b"-":
            return Exception(rest.decode("utf-8", "replace"))
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._bytes(n)
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise ValueError("unexpected reply %r" % line)

    def many(self, cmds, batch=2000):
        res = []
        for i in range(0, len(cmds), batch):
            part = cmds[i:i + batch]
            self.send_all(part)
            res += [self.reply() for _ in part]
        return res


def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def key_slot(key):
    s = key.find(b"{")
    if s >= 0:
        e = key.find(b"}", s + 1)
        if e > s + 1:
            key = key[s + 1:e]
    return crc16(key) & 16383


def ndigits(v):
    return len(str(v))


def wire(argv):
    return 1 + ndigits(len(argv)) + 2 + sum(1 + ndigits(len(a)) + 2 + len(a) + 2 for a in argv)


def main():
    port = int(sys.argv[1])
    reqs = {}       # seq -> request
    order = []      # requests in file order
    replies = []    # (seq or None, length), in file order, with the request seen or not
    n_replies = 0
    for line in sys.stdin:
        ev = json.loads(line)
        if ev["event"] == "request":
            r = {
                "seq": ev["seq"],
                "db": ev["db"],
                "malformed": bool(ev.get("malformed")),
                "noreply": "noreply" in ev["flags"],
                "argv": [unescape(a) for a in ev["argv"]],
                "answered": False,
                "reply_len": None,
            }
            reqs[r["seq"]] = r
            order.append(r)
            if ev["reply"] is not None:  # cat paired it: the reply came after the request
                n_replies += 1
                replies.append((r["seq"], ev["reply"].get("len", 0), True))
        elif ev["event"] == "reply":
            n_replies += 1
            replies.append((ev["seq"], ev["reply"].get("len", 0), ev["seq"] in reqs))

    # pairing, in file order
    unpaired = lost = paired = 0
    for seq, length, seen in replies:
        if seq is None:
            unpaired += 1
            continue
        r = reqs.get(seq)
        if not seen or r is None or r["noreply"] or r["answered"]:
            lost += 1
            continue
        r["answered"] = True
        r["reply_len"] = length
        paired += 1
    unanswered = sum(1 for r in order if not r["noreply"] and not r["answered"])

    # keys and flags from the server
    rd = Redis(port)
    shapes = sorted({tuple(r["argv"]) for r in order if not r["malformed"] and r["argv"]})
    # COMMAND GETKEYS wants the command and at least one argument: a command alone (PING) is
    # asked COMMAND INFO instead, and has no keys when its arity allows no arguments
    alone = [a for a in shapes if len(a) == 1]
    asked = [a for a in shapes if len(a) > 1]
    got = rd.many([[b"COMMAND", b"GETKEYS"] + list(a) for a in asked])
    for a, info in zip(alone, rd.many([[b"COMMAND", b"INFO", a[0]] for a in alone])):
        asked.append(a)
        if not info or info[0] is None:
            got.append(Exception("Invalid command specified"))
        elif info[0][1] in (1, -1):
            got.append([])
        else:
            got.append(Exception("Invalid number of arguments specified for command"))
    keys_of = {}
    for a, g in zip(asked, got):
        if isinstance(g, list):
            keys_of[a] = ("keys", g)
        elif "no key arguments" in str(g):
            keys_of[a] = ("keys", [])
        elif "Invalid command specified" in str(g):
            keys_of[a] = ("unknown", None)
        else:
            keys_of[a] = ("unresolved", None)
    names = sorted({a[0].lower() for a, k in keys_of.items() if k[0] == "keys" and k[1]})
    flags = {}
    for name, info in zip(names, rd.many([[b"COMMAND", b"INFO", n] for n in names])):
        f = set(x.decode() for x in info[0][2]) if info and info[0] else set()
        flags[name] = f

    e = dict(requests=len(order), malformed=0, replies=n_replies, unpaired=unpaired, lost=lost,
             paired=paired, unanswered=unanswered, keyed=0, keyless=0, skipped=0, unknown=0,
             unresolved=0, key_ops=0, cross_slot=0, reads=0, writes=0, keyed_bytes=0,
             keyed_reply_bytes=0, named_reply_bytes=0)
    distinct, prime_keys = set(), set()
    for seq, length, seen in replies:
        if seq is not None:
            e["named_reply_bytes"] += length
    for r in order:
        if r["malformed"]:
            e["malformed"] += 1
            continue
        if not r["argv"]:
            e["skipped"] += 1
            continue
        kind, ks = keys_of[tuple(r["argv"])]
        if kind != "keys":
            e["skipped"] += 1
            e[kind] += 1
            continue
        if not ks:
            e["keyless"] += 1
            continue
        e["keyed"] += 1
        e["key_ops"] += len(ks)
        distinct.update(ks)
        if len({key_slot(k) for k in ks}) > 1:
            e["cross_slot"] += 1
        e["keyed_bytes"] += wire(r["argv"])
        if r["answered"]:
            e["keyed_reply_bytes"] += r["reply_len"]
        f = flags[r["argv"][0].lower()]
        if "write" in f:
            e["writes"] += 1
        elif "readonly" in f:
            e["reads"] += 1
        else:
            continue
        prime_keys.update((r["db"], k) for k in ks)
    e["distinct_keys"] = len(distinct)
    e["prime_keys"] = len(prime_keys)
    json.dump(e, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
