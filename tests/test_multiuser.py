"""Four people on one server at once: real Streamlit server, real Chromium (Playwright), real model.

Each user uploads an image of their own shape, gets their own cutout, then runs the Memory Lab in
the same process; nobody sees anybody else's image, error or history.
"""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image, ImageDraw

from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, streamlit_server

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.slow]
USERS = [(0, (600, 300)), (1, (300, 600)), (2, (500, 500)), (3, (800, 200))]  # (user, size): shapes tell them apart
WAIT_MS = 480_000


def user_image(k: int, size: tuple[int, int]) -> bytes:
    im = Image.new("RGB", size, (240, 240 - 30 * k, 200))
    w, h = size
    ImageDraw.Draw(im).ellipse((w * 0.2, h * 0.2, w * 0.8, h * 0.8), fill=(40 * k, 60, 180))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def server(model_path):
    """The one server helper: output goes to a file (a full pipe would stall the server) and is checked after."""
    with streamlit_server() as url:
        yield url


async def problems(page) -> list[str]:
    """Exceptions and error alerts on the page, as text."""
    found = []
    for sel in ('[data-testid="stException"]', '[data-testid="stAlertContentError"]'):
        found += await page.locator(sel).all_inner_texts()
    return found


async def settle(page) -> None:
    """Wait until this session's script run is over: a click sent while a widget change is still
    being processed would be answered by the rerun of that change, not by the click."""
    await page.wait_for_timeout(500)
    await page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden")


async def one_user(browser, url: str, k: int, size: tuple[int, int]) -> dict:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)  # two cores shared by four users and a server
    name = f"user{k}.png"
    await page.goto(url)
    uploader = page.locator('[data-testid="stFileUploader"] input[type="file"]').first
    await uploader.set_input_files({"name": name, "mimeType": "image/png", "buffer": user_image(k, size)},
                                   timeout=WAIT_MS)
    await page.get_by_text(f"Before — {name}").wait_for(timeout=WAIT_MS)
    body = await page.locator("body").inner_text()
    # the two images shown are this user's: same aspect ratio as what they uploaded
    await page.wait_for_function("""() => { const i = [...document.querySelectorAll('[data-testid=stImage] img')];
                                           return i.length === 2 && i.every(x => x.complete && x.naturalHeight > 0); }""")
    imgs = page.locator('[data-testid="stImage"] img')
    shapes = [await imgs.nth(i).evaluate("i => [i.naturalWidth, i.naturalHeight]") for i in range(await imgs.count())]
    remove_problems = await problems(page)

    # Memory Lab in the same session: run in this process, twice; the history is this user's alone
    await page.get_by_role("link", name="Memory Lab").click()
    await page.get_by_role("heading", name="Memory Lab").wait_for()
    lab_uploader = page.locator('[data-testid="stFileUploader"] input[type="file"]').first
    await lab_uploader.wait_for(state="attached", timeout=WAIT_MS)
    await lab_uploader.set_input_files({"name": name, "mimeType": "image/png", "buffer": user_image(k, size)})
    await page.get_by_text(name).first.wait_for(timeout=WAIT_MS)
    await settle(page)
    # one image per run (after the page's two warm-ups) keeps four users on two cores reasonably quick
    thumb = page.locator('[data-testid="stSlider"]').filter(has_text="Images per run").locator("input")
    await thumb.focus()
    await thumb.press("Home")
    await page.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid=stSlider]')]
                 .some(s => s.innerText.includes('Images per run') &&
                            s.querySelector('[data-testid=stSliderThumbValue]').innerText.trim() === '1')""",
        timeout=WAIT_MS)
    await settle(page)
    runs = []
    failure = page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]')
    for n in (1, 2):
        await page.get_by_role("button", name="Run in this process").click()
        # the run's heading, or an error: whichever comes first
        await page.get_by_text(f"Run #{n}: in-process").or_(failure).first.wait_for(timeout=WAIT_MS)
        if await failure.count():
            break
        runs.append(n)
        await settle(page)
    lab_body = await page.locator("body").inner_text()
    lab_problems = await problems(page)
    await context.close()
    return {"k": k, "name": name, "size": size, "body": body, "shapes": shapes, "lab_body": lab_body, "runs": runs,
            "problems": remove_problems + lab_problems}


async def four_users(url: str) -> list[dict]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            return await asyncio.gather(*(one_user(browser, url, k, size) for k, size in USERS))
        finally:
            await browser.close()


def test_four_simultaneous_sessions_do_not_cross_talk(server):
    results = asyncio.run(four_users(server))
    for r in results:
        assert r["problems"] == [], (r["name"], r["problems"])
        others = [f"user{k}.png" for k, _ in USERS if k != r["k"]]
        assert not any(o in r["body"] for o in others), f"{r['name']} sees another user's image"
        assert not any(o in r["lab_body"] for o in others), f"{r['name']} sees another user's history"
        w, h = r["size"]
        assert len(r["shapes"]) == 2
        for sw, sh in r["shapes"]:  # before and after previews both have this user's aspect ratio
            assert abs(sw / sh - w / h) < 0.05, (r["name"], r["shapes"])
        assert r["runs"] == [1, 2] and "Run #2: in-process" in r["lab_body"] and "Run #3" not in r["lab_body"]
