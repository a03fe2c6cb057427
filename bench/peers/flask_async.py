"""The Flask 2.0 async tutorial's xkcd route, rebuilt faithfully for the benchmark.

The tutorial fetches N random comics server-side with httpx and asyncio.gather and shows
the time taken; its "before" does the same one request after another with requests.
Here the comic API's base URL and the simulated delay are parameters, so that it can be
pointed at fanout-proxy's demo origin with the same delays as the page.

`/page` is the tutorial's page as a person sees it: the same route, but asking xkcd itself
(here the bench's stand-in xkcd, XKCD_ORIGIN) and answering with `<img>` tags that load
each image from xkcd's image host (here the stand-in's port), a second origin with six
connections of its own. The bench times it in Chromium until the load event.
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
XKCD = os.environ.get("XKCD_ORIGIN", "https://xkcd.com")
IMGS = os.environ.get("IMGS_ORIGIN", "https://imgs.xkcd.com")


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


async def get_xkcd_image_from_xkcd(session, number):
    result = await session.get(f"{XKCD}/{number}/info.0.json")
    return result.json()["img"].replace("https://imgs.xkcd.com", IMGS)


@app.get("/page")
async def comic_page():
    # Distinct comics with an image, so that every tag loads one image of its own (xkcd's
    # interactive comics name no image, and there is no comic 404).
    no_image = {404, 1190, 1416, 1608, 1663, 2198}
    numbers = random.sample([n for n in range(1, 3001) if n not in no_image], int(request.args.get("n", 5)))
    start = time.perf_counter()
    # The tutorial's client: its default pool (100 connections) holds N <= 100 at once.
    async with httpx.AsyncClient() as session:
        urls = await asyncio.gather(*(get_xkcd_image_from_xkcd(session, n) for n in numbers))
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
