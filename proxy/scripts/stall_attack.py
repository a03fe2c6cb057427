#!/usr/bin/env python3
"""Issue 22's done-when check, as a one-off measurement (not a test: it reports numbers).

Starts a fanout-proxy binary under a 1024 open-file limit (soft and hard) with
--send-timeout-ms 5000. For DURATION seconds one address (127.0.0.1) holds CONNECTIONS
HTTP/2 connections (h2c, or TLS with --tls), each opening STREAMS GETs of PATH with a zero
stream window: it answers pings and settings and never reads a byte of body, and opens a
new connection whenever the proxy closes one. Meanwhile another address (127.0.0.2) asks
for /api/health, / and /robots.txt (three requests every 0.3 s, each on a fresh
connection). Prints the other client's latency, the proxy's open files and resident memory
(sampled every 0.25 s), and how the stalled streams ended.

    python3 proxy/scripts/stall_attack.py target/release/fanout-proxy \
        [--tls] [--dist dist] [--path /robots.txt] [--seconds 20] [--connections 5] [--streams 250]

The HTTP/2 client is written out here (frames and HPACK literals, about 60 lines) so that the
script needs nothing beyond Python's standard library.
"""

import argparse
import asyncio
import resource
import ssl
import struct
import subprocess
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY = 0, 1, 3, 4, 6, 7


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def hpack_int(value, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    out.append(value)
    return bytes(out)


def hpack_literal(name, value):
    # Literal header field without indexing, new name, no Huffman (RFC 7541 §6.2.2).
    return b"\x00" + hpack_int(len(name), 7) + name + hpack_int(len(value), 7) + value


def get_headers(scheme, authority, path):
    return b"".join(
        hpack_literal(n.encode(), v.encode())
        for n, v in [(":method", "GET"), (":scheme", scheme), (":authority", authority), (":path", path)]
    )


def client_tls():
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class Tally:
    def __init__(self):
        self.connections = 0
        self.answered = 0
        self.reset = 0
        self.refused = 0
        self.goaway = 0
        self.closed_by_proxy = 0
        self.data_bytes = 0


async def stalled_connection(args, port, tally, stop):
    """One attacking connection, opened again whenever the proxy closes it."""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=client_tls() if args.tls else None,
                server_hostname="localhost" if args.tls else None,
            )
        except OSError:
            await asyncio.sleep(0.2)
            continue
        tally.connections += 1
        # SETTINGS: ENABLE_PUSH 0, INITIAL_WINDOW_SIZE 0.
        writer.write(PREFACE + frame(SETTINGS, 0, 0, struct.pack(">HIHI", 2, 0, 4, 0)))
        scheme = "https" if args.tls else "http"
        block = get_headers(scheme, f"localhost:{port}", args.path)
        for i in range(args.streams):
            writer.write(frame(HEADERS, 0x5, 1 + 2 * i, block))  # END_STREAM | END_HEADERS
        try:
            await writer.drain()
            while not stop.is_set():
                try:
                    head = await asyncio.wait_for(reader.readexactly(9), timeout=0.5)
                except asyncio.TimeoutError:
                    continue
                length = int.from_bytes(head[:3], "big")
                kind, flags = head[3], head[4]
                payload = await reader.readexactly(length)
                if kind == SETTINGS and not flags & 1:
                    writer.write(frame(SETTINGS, 1, 0))
                elif kind == PING and not flags & 1:
                    writer.write(frame(PING, 1, 0, payload))
                elif kind == HEADERS:
                    tally.answered += 1
                elif kind == DATA:
                    tally.data_bytes += length
                elif kind == RST_STREAM:
                    if int.from_bytes(payload[:4], "big") == 7:
                        tally.refused += 1
                    else:
                        tally.reset += 1
                elif kind == GOAWAY:
                    tally.goaway += 1
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, OSError):
            tally.closed_by_proxy += 1
        writer.close()


async def ordinary_request(args, port, path):
    started = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                "127.0.0.1", port, local_addr=("127.0.0.2", 0),
                ssl=client_tls() if args.tls else None,
                server_hostname="localhost" if args.tls else None,
            ),
            timeout=5,
        )
        writer.write(f"GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n".encode())
        response = await asyncio.wait_for(reader.read(), timeout=5)
        writer.close()
        return response.startswith(b"HTTP/1.1 200"), time.monotonic() - started
    except (OSError, asyncio.TimeoutError, ssl.SSLError):
        return False, time.monotonic() - started


def sample(pid):
    files = 0
    try:
        import os
        files = len(os.listdir(f"/proc/{pid}/fd"))
        status = open(f"/proc/{pid}/status").read()
        rss_kb = int([l for l in status.splitlines() if l.startswith("VmRSS")][0].split()[1])
    except (OSError, IndexError):
        rss_kb = 0
    return files, rss_kb


async def main(args):
    command = [
        "prlimit", "--nofile=1024:1024", args.binary,
        "--listen", "127.0.0.1:0", "--origin", "demo", "--dist", args.dist,
        "--send-timeout-ms", "5000",
    ]
    if args.tls:
        command.append("--tls-self-signed")
    proxy = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={"RUST_LOG": "info,fanout_proxy::access=off"},
    )
    log = []
    port = None
    while port is None:
        line = proxy.stdout.readline().decode()
        if not line:
            raise SystemExit("the proxy exited: " + "".join(log))
        log.append(line)
        if line.startswith("fanout-proxy listening on"):
            port = int(line.split("://")[1].split("/")[0].split(":")[1])
    loop = asyncio.get_running_loop()
    drain = loop.run_in_executor(None, lambda: log.extend(l.decode() for l in proxy.stdout))
    files_limit = [l for l in open(f"/proc/{proxy.pid}/limits") if l.startswith("Max open files")][0]
    idle_files, idle_rss = sample(proxy.pid)

    stop = asyncio.Event()
    tally = Tally()
    attackers = [asyncio.create_task(stalled_connection(args, port, tally, stop)) for _ in range(args.connections)]
    samples = []
    results = []
    started = time.monotonic()
    while time.monotonic() - started < args.seconds:
        round_started = time.monotonic()
        results.extend(await asyncio.gather(*(ordinary_request(args, port, p) for p in ["/api/health", "/", "/robots.txt"])))
        samples.append(sample(proxy.pid))
        await asyncio.sleep(max(0.0, 0.3 - (time.monotonic() - round_started)))
    stop.set()
    await asyncio.gather(*attackers, return_exceptions=True)
    proxy.terminate()
    proxy.wait(timeout=40)
    await drain

    ok = sum(1 for good, _ in results if good)
    times = sorted(t for _, t in results)
    print(f"proxy: {' '.join(files_limit.split()[3:5])} (soft hard) open files; {'TLS' if args.tls else 'h2c'}; {args.path}")
    print(f"{args.seconds:.0f} s, {args.connections} connections x {args.streams} zero-window streams from 127.0.0.1")
    print(f"other client (127.0.0.2): {ok}/{len(results)} succeeded; median {times[len(times) // 2] * 1000:.0f} ms, "
          f"slowest {times[-1] * 1000:.0f} ms, over 1 s: {sum(1 for t in times if t >= 1.0)}")
    print(f"proxy open files: idle {idle_files}, max {max(f for f, _ in samples)} during the attack")
    print(f"proxy resident memory: idle {idle_rss / 1024:.1f} MiB, max {max(r for _, r in samples) / 1024:.1f} MiB")
    print(f"attacker: {tally.connections} connections opened, {tally.answered} streams answered, "
          f"{tally.refused} refused (REFUSED_STREAM), {tally.reset} reset otherwise, {tally.goaway} GOAWAYs, "
          f"{tally.closed_by_proxy} connections closed by the proxy, {tally.data_bytes} body bytes received")
    emfile = [l for l in log if "Too many open files" in l]
    print(f"'Too many open files' in the proxy's log: {len(emfile)} lines")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--tls", action="store_true")
    parser.add_argument("--dist", default="dist")
    parser.add_argument("--path", default="/robots.txt")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=5)
    parser.add_argument("--streams", type=int, default=250)
    arguments = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(8192, hard), hard))
    asyncio.run(main(arguments))
