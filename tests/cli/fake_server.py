#!/usr/bin/env python3
"""fake_server.py MODE PORTFILE [ARG]: a misbehaving server on 127.0.0.1 for the replay tests.

It listens on a free loopback port, writes the port to PORTFILE, and serves every connection
in its own thread until killed:
  http         answers anything with an HTTP/1.1 400 response and closes (not RESP at all)
  early N      sends N "+OK" replies nobody asked for as soon as a client connects, then
               answers each command (PING: +PONG, anything else: +OK)
  huge SIZE    answers GET with a bulk string of SIZE bytes, written in 1 MiB pieces (a
               target with very large replies), PING with +PONG, CLUSTER with an error (not a
               cluster), anything else with +OK
"""
import socket
import sys
import threading


def commands(conn):
    """Yields each RESP command (a list of bytes) the client sends."""
    buf = b""
    while True:
        while True:
            cmd, used = parse(buf)
            if cmd is None:
                break
            buf = buf[used:]
            yield cmd
        data = conn.recv(65536)
        if not data:
            return
        buf += data


def parse(buf):
    if not buf.startswith(b"*"):
        end = buf.find(b"\r\n")
        if end < 0:
            return None, 0
        return buf[:end].split(), end + 2
    end = buf.find(b"\r\n")
    if end < 0:
        return None, 0
    n = int(buf[1:end])
    pos, args = end + 2, []
    for _ in range(n):
        e = buf.find(b"\r\n", pos)
        if e < 0:
            return None, 0
        ln = int(buf[pos + 1:e])
        if len(buf) < e + 2 + ln + 2:
            return None, 0
        args.append(buf[e + 2:e + 2 + ln])
        pos = e + 2 + ln + 2
    return args, pos


def serve(conn, mode, arg):
    try:
        if mode == "http":
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        if mode == "early":
            conn.sendall(b"+OK\r\n" * int(arg))
        piece = b"x" * (1 << 20)
        for cmd in commands(conn):
            name = cmd[0].upper() if cmd else b""
            if name == b"PING":
                conn.sendall(b"+PONG\r\n")
            elif name == b"CLUSTER":
                conn.sendall(b"-ERR This instance has cluster support disabled\r\n")
            elif mode == "huge" and name == b"GET":
                size = int(arg)
                conn.sendall(b"$%d\r\n" % size)
                left = size
                while left:
                    k = min(left, len(piece))
                    conn.sendall(piece[:k])
                    left -= k
                conn.sendall(b"\r\n")
            else:
                conn.sendall(b"+OK\r\n")
    except OSError:
        pass
    finally:
        conn.close()


def main():
    mode, portfile = sys.argv[1], sys.argv[2]
    arg = sys.argv[3] if len(sys.argv) > 3 else "0"
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(srv.getsockname()[1]))
    import os
    os.rename(portfile + ".tmp", portfile)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, mode, arg), daemon=True).start()


if __name__ == "__main__":
    main()
