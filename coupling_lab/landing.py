"""The class server's own pages: the landing page at ``/`` and the class-full page.

Plain HTML with inline CSS (no template files, so a non-editable install
serves them too, and no network: the pages load nothing else). Used by
``coupling_lab.serve``; standard library only.
"""
from __future__ import annotations

import html
import re
from pathlib import Path

import nbformat

TITLE = "coupling-lab"
TAGLINE = "See margin engines liquidate together when they share price oracles."
#: One line on what coupling is (README's opening, shortened).
COUPLING = ("When lending and trading platforms read the same price oracle, their margin engines "
            "liquidate at the same moments: the forced selling piles up, the price falls further, "
            "and one faulty shared feed can hit every platform at once.")
#: Where the instructor's guide is served (the notebook ``notebooks/instructor-guide.ipynb``).
GUIDE_PATH = "voila/render/instructor-guide.ipynb"

#: Per lesson number: (the one idea, what to do first, minutes when the lesson does not say).
LESSON_CARDS = {
    "00": ("What margin engine coupling is, and how to use the kit.",
           "Read the picture and answer its check question, then move the sharing slider.", 10),
    "01": ("Health, liquidation price, close factor, bonus and bad debt on one platform.",
           "Predict what a fall from 2000 to 1700 USD does to account A6, then move the price.", 15),
    "02": ("Shared oracles line liquidations up across platforms.",
           "Commit to a prediction before you touch the dial, then turn it.", 25),
    "02b": ("Two channels: shared oracles and shared collateral; one oracle provider is one fault domain.",
            "Commit to an answer before you touch the two dials, then press Check.", 20),
    "03": ("Forced selling feeds back into the price: depth and cascades.",
           "Predict what a thinner market does to the shared design, then set the depth to 150.", 25),
    "04": ("One bad shared feed hits every platform at once.",
           "Pick a stale feed (20 %, 10 minutes) and compare the shared and the separate oracles.", 20),
    "05": ("What each protection buys and what it costs: delays, anchors, fallbacks, rate limits, breakers.",
           "Predict which protection deepens the crash, then switch it on beside its unprotected twin.", 30),
    "06": ("Liquidation maps and a margin-call forecast with feedback.",
           "Read the liquidation map: how much is sold if the price drops 10 %?", 25),
    "07": ("The dial over many seeds: means with confidence bands.",
           "Predict which curve rises most steeply along the dial, then run the sweep.", 20),
    "08": ("Your own position in the crowd's cascade: how much buffer shared feeds ask for.",
           "Predict how often a position like yours is caught when every platform reads one feed.", 20),
    "09": ("Isolated or cross margin: who survives a crash, and how one blown leg sells a whole portfolio.",
           "Predict which margin mode keeps the hedged pair alive, then press Check.", 20),
    "10": ("When the insurance fund runs dry: who pays the shortfall, under a haircut and under ADL.",
           "Predict who pays when the fund is empty, then move the fund's size.", 20),
    "11": ("Stylised replays of real stress events, held against what was reported.",
           "Pick an event, predict what the model will get right, then compare its figures with the record.", 20),
}

_HEADING = re.compile(r"^#\s+(.*)$", re.M)
_MINUTES = re.compile(r"About (\d+) minutes")
_NUMBER = re.compile(r"^(\d\d[a-z]?)-")


def lesson_cards(paths):
    """One dict per lesson notebook: number, title, idea, minutes, first, href.

    The title and (when the lesson states it) the minutes come from the
    notebook itself; the idea and the first step from :data:`LESSON_CARDS`.
    """
    cards = []
    for path in paths:
        path = Path(path)
        number = _NUMBER.match(path.name).group(1)
        nb = nbformat.read(path, as_version=4)
        prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        heading = _HEADING.search(prose)
        title = heading.group(1) if heading else path.stem
        title = re.sub(r"^\d\d[a-z]?\s*·\s*", "", title).replace("*", "").strip()
        idea, first, minutes = LESSON_CARDS.get(number, ("", "Open the lesson and read its first lines.", None))
        stated = _MINUTES.search(prose)
        cards.append({"number": number, "title": title, "idea": idea, "first": first,
                      "minutes": int(stated.group(1)) if stated else minutes,
                      "href": f"voila/render/{path.name}"})
    return cards


_CSS = """
:root { --ink: #1d2330; --muted: #5b6478; --accent: #1f5fbf; --card: #ffffff; --bg: #f3f5f9; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--ink); background: var(--bg); }
main { max-width: 1120px; margin: 0 auto; padding: 40px 24px 56px; }
header h1 { margin: 0 0 4px; font-size: 34px; letter-spacing: -0.5px; }
header .tagline { margin: 0 0 12px; font-size: 19px; color: var(--accent); font-weight: 600; }
header .coupling { margin: 0 0 28px; max-width: 760px; color: var(--muted); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); gap: 18px;
         list-style: none; margin: 0; padding: 0; }
.card { background: var(--card); border-radius: 10px; box-shadow: 0 1px 3px rgba(20, 30, 50, .12);
        padding: 18px 18px 16px; display: flex; flex-direction: column; }
.card a.title { color: var(--ink); text-decoration: none; font-weight: 650; font-size: 18px; }
.card a.title:hover { color: var(--accent); text-decoration: underline; }
.card .number { font: 600 13px/1 ui-monospace, monospace; color: var(--accent); margin-bottom: 6px; }
.card .idea { margin: 8px 0; }
.card .first { margin: 0 0 10px; color: var(--muted); font-size: 14px; }
.card .minutes { margin-top: auto; font-size: 13px; color: var(--muted); }
.guide { margin-top: 28px; padding: 14px 18px; background: var(--card); border-radius: 10px;
         box-shadow: 0 1px 3px rgba(20, 30, 50, .12); }
.guide a { color: var(--accent); font-weight: 600; }
.notice { max-width: 640px; margin: 12vh auto 0; background: var(--card); border-radius: 10px;
          box-shadow: 0 1px 3px rgba(20, 30, 50, .12); padding: 28px 28px 24px; }
.notice h1 { margin: 0 0 12px; font-size: 26px; }
.notice .message { font-size: 18px; margin: 0 0 16px; }
.notice a { color: var(--accent); font-weight: 600; }
footer { margin-top: 32px; color: var(--muted); font-size: 13px; }
"""


def _page(title, body):
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(title)}</title><link rel=\"icon\" href=\"data:;base64,=\">"
            f"<style>{_CSS}</style></head><body>{body}</body></html>\n")


def landing_page(paths, base_url="/"):
    """The landing page: title, one line on coupling, one card per lesson, the guide link."""
    e = html.escape
    items = []
    for card in lesson_cards(paths):
        minutes = f"About {card['minutes']} minutes" if card["minutes"] else ""
        items.append(
            f"<li class=\"card\" data-lesson=\"{e(card['number'])}\">"
            f"<div class=\"number\">Lesson {e(card['number'])}</div>"
            f"<a class=\"title\" href=\"{e(base_url + card['href'])}\">{e(card['title'])}</a>"
            f"<p class=\"idea\">{e(card['idea'])}</p>"
            f"<p class=\"first\"><strong>First:</strong> {e(card['first'])}</p>"
            f"<div class=\"minutes\">{e(minutes)}</div></li>")
    body = (f"<main><header><h1>{e(TITLE)}</h1><p class=\"tagline\">{e(TAGLINE)}</p>"
            f"<p class=\"coupling\">{e(COUPLING)}</p></header>"
            f"<ol class=\"cards\">{''.join(items)}</ol>"
            f"<p class=\"guide\">Teaching a class? Read the "
            f"<a class=\"guide-link\" href=\"{e(base_url + GUIDE_PATH)}\">instructor's guide</a>: "
            "objectives, timed outlines, exercises and how to run the class.</p>"
            "<footer>Follow the lessons in order. Each asks you to predict before it shows the answer.</footer>"
            "</main>")
    return _page(TITLE, body)


def notice_page(heading, message, base_url="/"):
    """A one-message page in the landing page's style (the class-full page)."""
    e = html.escape
    body = (f"<main><div class=\"notice\"><h1>{e(heading)}</h1><p class=\"message\">{e(message)}</p>"
            f"<p><a href=\"{e(base_url)}\">Back to the lessons</a></p></div></main>")
    return _page(f"{heading} · {TITLE}", body)
