#!/usr/bin/env python3
"""Issue 13's done-when check, as a one-off measurement (not a test: it reports numbers).

Starts a fanout-proxy binary under a 1024 open-file limit (soft and hard), then for
DURATION seconds one address (127.0.0.1) holds 1,200 sockets, half silent and half
trickling a request head that never ends, each opened again a second after the proxy
closes it. Meanwhile another address (127.0.0.2) asks for comics on fresh connections.
Prints how many ordinary requests succeeded and how slow the slowest was, and how long
the proxy took to close the hostile sockets it accepted (the rest it closes at once).

    python3 proxy/scripts/hold_attack.py target/release/fanout-proxy [seconds] [hostile sockets]

With 0 hostile sockets it measures the floor: the same requests on the same machine with
no one attacking.
"""

import asyncio
import resource
import subprocess
import sys
import time

HOSTILE = int(sys.argv[3]) if len(sys.argv) > 3 else 1200
HEADER_TIMEOUT_S = 10.0  # the proxy's default


def limit_files():
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))


async def hostile_socket(port, half_sent, stop, closes):
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(1)
            continue
        opened = time.monotonic()
        if half_sent:
            writer.write(b"GET /api/comics/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        try:
            while not stop.is_set():
                try:
                    data = await asyncio.wait_for(reader.read(256), timeout=1.0)
                    if not data:
                        break
                except asyncio.TimeoutError:
                    if half_sent:
                        writer.write(b"z")
                        await writer.drain()
        except OSError:
            pass
        if not stop.is_set():
            closes.append(time.monotonic() - opened)
        writer.close()
        await asyncio.sleep(1)


async def ordinary_request(port, n):
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, local_addr=("127.0.0.2", 0)
    )
    writer.write(
        f"GET /api/comics/{n}?latency_ms=0&jitter_ms=0 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Connection: close\r\n\r\n".encode()
    )
    response = await reader.read()
    writer.close()
    return response.startswith(b"HTTP/1.1 200"), time.monotonic() - started


async def main(binary, duration):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(8192, hard), hard))
    proxy = subprocess.Popen(
        [binary, "--listen", "127.0.0.1:0", "--origin", "demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=limit_files,
        env={"RUST_LOG": "info,fanout_proxy::access=off"},
    )
    log = []
    port = None
    while port is None:
        line = proxy.stdout.readline().decode()
        log.append(line)
        if line.startswith("fanout-proxy listening on http://"):
            port = int(line.split("http://")[1].split("/")[0].split(":")[1])
    limits = open(f"/proc/{proxy.pid}/limits").read()
    files = [l for l in limits.splitlines() if l.startswith("Max open files")][0]

    stop = asyncio.Event()
    closes = []
    hostile = [
        asyncio.create_task(hostile_socket(port, i % 2 == 1, stop, closes))
        for i in range(HOSTILE)
    ]
    results = []
    started = time.monotonic()
    n = 1
    while time.monotonic() - started < duration:
        try:
            # Comics 1 to 400: the demo has no comic 404, like xkcd.
            results.append(await ordinary_request(port, n % 400 + 1))
        except OSError as err:
            results.append((False, float("nan")))
            print("ordinary request failed:", err)
        n += 1
        await asyncio.sleep(0.05)
    stop.set()
    for task in hostile:
        task.cancel()
    await asyncio.gather(*hostile, return_exceptions=True)
    proxy.terminate()
    rest = proxy.communicate(timeout=40)[0].decode()
    log.extend(rest.splitlines())

    ok = sum(1 for good, _ in results if good)
    slowest = max(t for _, t in results)
    times = sorted(t for _, t in results)
    print(f"ordinary requests: median {times[len(times) // 2] * 1000:.0f} ms")
    held = sorted(t for t in closes if t > 0.5)
    at_once = sum(1 for t in closes if t <= 0.5)
    print(f"proxy: {files.split()[3]} soft / {files.split()[4]} hard open files")
    print(f"{duration:.0f} s, {HOSTILE} hostile sockets from 127.0.0.1 (re-opened 1 s after each close)")
    print(f"ordinary requests from 127.0.0.2: {ok}/{len(results)} succeeded, slowest {slowest * 1000:.0f} ms")
    print(
        f"hostile sockets closed by the proxy: {at_once} at once (over the per-client cap), "
        f"{len(held)} after being held; held ones closed after "
        f"min {held[0]:.2f} s, max {held[-1]:.2f} s (header timeout {HEADER_TIMEOUT_S:.0f} s)"
        if held
        else f"hostile sockets closed: {at_once} at once, none held"
    )
    emfile = [l for l in log if "Too many open files" in l]
    print(f"'Too many open files' in the proxy's log: {len(emfile)} lines")
    for line in log:
        if "open-file limit" in line or "accepting connections" in line:
            print("proxy log:", line.strip())


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 45.0))
