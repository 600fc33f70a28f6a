#!/usr/bin/env python3
"""loop_client.py: request/response loops, for the growth tests. Each of CLIENTS connections
sends SET or GET of one of KEYS keys, waits for the reply, thinks THINK_MS and sends the next,
for SECONDS (the chains of `replay --pace auto`: each request follows its predecessor's reply).
With WAIT_MS, each SET is followed by `WAIT 1 WAIT_MS`: on a server without replicas the reply
is held WAIT_MS without the server working (as a durable service holds a write until its log
has it), so the loop's pace is bound by the server's latency, not by its capacity. Prints
"requests N" on stdout.

Usage: loop_client.py PORT SECONDS [CLIENTS] [THINK_MS] [KEYS] [WAIT_MS]
"""
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cache_aside import Conn  # noqa: E402  (the same RESP client)


def client(port, seconds, think, keys, wait_ms, seed, out, lock):
    rnd = random.Random(seed)
    c = Conn(port)
    n = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        k = "item:%d" % rnd.randrange(keys)
        if rnd.random() < 0.5:
            c.call("SET", k, "v%d" % n)
            if wait_ms:
                c.call("WAIT", 1, wait_ms)
                n += 1
        else:
            c.call("GET", k)
        n += 1
        if think:
            time.sleep(think)
    with lock:
        out[0] += n


def main():
    port, seconds = int(sys.argv[1]), float(sys.argv[2])
    clients = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    think = (float(sys.argv[4]) if len(sys.argv) > 4 else 0.5) / 1000
    keys = int(sys.argv[5]) if len(sys.argv) > 5 else 10000
    wait_ms = int(sys.argv[6]) if len(sys.argv) > 6 else 0
    out, lock = [0], threading.Lock()
    th = [threading.Thread(target=client, args=(port, seconds, think, keys, wait_ms, i, out, lock))
          for i in range(clients)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    print("requests %d" % out[0])


if __name__ == "__main__":
    main()
