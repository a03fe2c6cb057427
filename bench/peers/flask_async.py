"""The Flask 2.0 async tutorial's xkcd route, rebuilt faithfully for the benchmark.

The tutorial fetches N random comics server-side with httpx and asyncio.gather and shows
the time taken; its "before" does the same one request after another with requests.
Here the comic API's base URL and the simulated delay are parameters, so that it can be
pointed at fanout-proxy's demo origin with the same delays as the page.
"""

import asyncio
import os
import random
import sys
import time

import httpx
import requests
from flask import Flask, request

app = Flask(__name__)
ORIGIN = os.environ["COMIC_ORIGIN"]  # e.g. http://127.0.0.1:8080
DELAY = os.environ.get("COMIC_QUERY", "")  # e.g. latency_ms=300&jitter_ms=0


def comic_url(number):
    return f"{ORIGIN}/api/comics/{number}?{DELAY}"


def random_comic():
    number = random.randint(1, 3000)
    return 405 if number == 404 else number


async def get_xkcd_image(session):
    result = await session.get(comic_url(random_comic()))
    return result.json()["img"]


async def get_multiple_images(number):
    async with httpx.AsyncClient() as session:
        tasks = [get_xkcd_image(session) for _ in range(number)]
        return await asyncio.gather(*tasks, return_exceptions=True)


@app.get("/comic")
async def comic_async():
    start = time.perf_counter()
    urls = await get_multiple_images(int(request.args.get("n", 5)))
    end = time.perf_counter()
    markup = f"Time taken: {end - start}<br><br>"
    for url in urls:
        markup += f'<img src="{url}"></img><br><br>'
    return markup


@app.get("/comic-sync")
def comic_sync():
    start = time.perf_counter()
    urls = []
    for _ in range(int(request.args.get("n", 5))):
        urls.append(requests.get(comic_url(random_comic())).json()["img"])
    end = time.perf_counter()
    markup = f"Time taken: {end - start}<br><br>"
    for url in urls:
        markup += f'<img src="{url}"></img><br><br>'
    return markup


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True)
