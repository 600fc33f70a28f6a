#!/usr/bin/env python3
"""cache_aside.py: a cache-aside application, for the warm-up tests. Each of CLIENTS
connections reads a key (GET); on a miss it "loads the value" and writes it with a TTL
(SET k v EX 300), as applications in front of a database do. Keys are drawn uniformly from
KEYS keys; each client paces itself to RATE requests per second (GETs; SETs follow their miss at
once). Runs for SECONDS, then prints "gets N misses M" on stdout.

Usage: cache_aside.py PORT SECONDS [CLIENTS] [RATE] [KEYS] [VALUE_BYTES]
Plain sockets and RESP2 (no client library), 127.0.0.1 only.
"""
import random
import socket
import sys
import threading
import time


def cmd(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln

    def reply(self):
        ln = self.line()
        if ln[:1] == b"$":
            n = int(ln[1:])
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                chunk = self.s.recv(65536)
                if not chunk:
                    raise ConnectionError("closed")
                self.buf += chunk
            v, self.buf = self.buf[:n], self.buf[n + 2:]
            return v
        if ln[:1] == b"-":
            raise RuntimeError(ln.decode())
        return ln[1:]

    def call(self, *args):
        self.s.sendall(cmd(*args))
        return self.reply()


def client(port, seconds, rate, keys, size, seed, totals, lock):
    rnd = random.Random(seed)
    c = Conn(port)
    gets = misses = 0
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < seconds:
        k = "user:%d" % rnd.randrange(keys)
        if c.call("GET", k) is None:
            misses += 1
            c.call("SET", k, b"v" * size, "EX", 300)
        gets += 1
        n += 1
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    with lock:
        totals[0] += gets
        totals[1] += misses


def main():
    port, seconds = int(sys.argv[1]), float(sys.argv[2])
    clients = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    rate = float(sys.argv[4]) if len(sys.argv) > 4 else 500
    keys = int(sys.argv[5]) if len(sys.argv) > 5 else 500
    size = int(sys.argv[6]) if len(sys.argv) > 6 else 100
    totals, lock = [0, 0], threading.Lock()
    th = [threading.Thread(target=client, args=(port, seconds, rate, keys, size, i, totals, lock))
          for i in range(clients)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    print("gets %d misses %d" % (totals[0], totals[1]))


if __name__ == "__main__":
    main()
