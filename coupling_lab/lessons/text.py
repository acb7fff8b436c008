"""What a learner reads: numbers as labelled, formatted text, never a Python repr.

:class:`Sentence` is prose-level output for a notebook cell: Voila and
JupyterLab show its HTML, a console its plain text. :class:`Prose` is a few
paragraphs of it, with bullets and bold (what a lesson reveals after its
prediction is checked). The ``fmt_*`` helpers
give every quantity one unit and never print a negative zero ("-0.00").
"""
from __future__ import annotations

import html
import math
import re

__all__ = ["Sentence", "Prose", "fmt_number", "fmt_pct", "fmt_musd", "fmt_usd", "fmt_sync", "extra_fall"]


class Sentence:
    """A sentence (or a few) to show as a cell's output.

    >>> Sentence("Bad debt after the gap: 1,234 USD.")
    Bad debt after the gap: 1,234 USD.
    """

    def __init__(self, text):
        self.text = str(text)

    def __str__(self):
        return self.text

    def __repr__(self):
        return self.text

    def __eq__(self, other):
        return isinstance(other, Sentence) and other.text == self.text

    def __hash__(self):
        return hash(self.text)

    def _repr_html_(self):
        paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in self.text.split("\n") if p.strip())
        return f"<div class='cl-sentence'>{paragraphs}</div>"


class Prose(Sentence):
    r"""Paragraphs a learner reads, written in a small part of markdown.

    Blocks are separated by a blank line; a block whose lines start with
    ``"- "`` is a bulleted list (a line that does not start so continues the
    bullet above); a block whose lines all start with ``"|"`` is a table (its
    first row the header, the ``|---|`` row under it left out); ``**text**``
    is bold. ``str()`` is the plain text (no markup), :meth:`html` the page's.

    >>> p = Prose("With seed 1: **24.1 %**.\n\n- one\n- two")
    >>> str(p)
    'With seed 1: 24.1 %.\n- one\n- two'
    >>> p.html()
    "<div class='cl-prose'><p>With seed 1: <b>24.1 %</b>.</p><ul><li>one</li><li>two</li></ul></div>"
    >>> t = Prose("| run | sold |\n|---|---|\n| shared | **246 M USD** |")
    >>> str(t)
    'run | sold\nshared | 246 M USD'
    >>> t.html()  # doctest: +ELLIPSIS
    "<div class='cl-prose'><table class='cl-table' ...><tr><th ...>run</th><th ...>sold</th></tr><tr><td ...>shared</td><td ...><b>246 M USD</b></td></tr></table></div>"
    """

    def __init__(self, source):
        self.source = str(source).strip()
        self.blocks = [_block(b) for b in re.split(r"\n\s*\n", self.source) if b.strip()]
        super().__init__("\n".join(_plain_block(kind, items) for kind, items in self.blocks))

    def html(self):
        """The text as HTML: ``<p>`` paragraphs, ``<ul>`` lists, ``<b>`` for bold; everything else escaped."""
        parts = []
        for kind, items in self.blocks:
            if kind == "ul":
                parts.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
            elif kind == "table":
                head, *rows = items
                parts.append(f"<table class='cl-table' style='{_TABLE}'><tr>"
                             + "".join(f"<th style='{_CELL};border-bottom:1px solid #999'>{_inline(c)}</th>"
                                       for c in head) + "</tr>"
                             + "".join("<tr>" + "".join(f"<td style='{_CELL}'>{_inline(c)}</td>" for c in row)
                                       + "</tr>" for row in rows) + "</table>")
            else:
                parts.append(f"<p>{_inline(items[0])}</p>")
        return f"<div class='cl-prose'>{''.join(parts)}</div>"

    def _repr_html_(self):
        return self.html()


_TABLE = "border-collapse:collapse;margin:0.5em 0"
_CELL = "padding:2px 16px 2px 0;text-align:left;vertical-align:top"
_BOLD = re.compile(r"\*\*(.+?)\*\*")


def _block(text):
    """``("ul", [item, ...])`` for a bulleted block, ``("table", [[cell, ...], ...])`` for a table (header
    first), ``("p", [paragraph])`` otherwise (lines joined)."""
    lines = [line.strip() for line in text.strip().splitlines()]
    if all(line.startswith("|") for line in lines):
        rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
        return "table", [row for row in rows if not all(set(cell) <= set("-: ") for cell in row)]
    if not lines[0].startswith("- "):
        return "p", [" ".join(lines)]
    items = []
    for line in lines:
        if line.startswith("- "):
            items.append(line[2:].strip())
        else:
            items[-1] += " " + line
    return "ul", items


def _plain_block(kind, items):
    if kind == "ul":
        return "\n".join(f"- {_plain(i)}" for i in items)
    if kind == "table":
        return "\n".join(" | ".join(_plain(c) for c in row) for row in items)
    return _plain(items[0])


def _plain(text):
    return _BOLD.sub(r"\1", text)


def _inline(text):
    return _BOLD.sub(r"<b>\1</b>", html.escape(text, quote=False))


def fmt_number(x, digits=2):
    """``x`` with ``digits`` decimals and thousands separators; a value that rounds to 0 is "0", not "-0".

    >>> fmt_number(-0.0004), fmt_number(1234.567, 1)
    ('0.00', '1,234.6')
    """
    x = float(x)
    if math.isnan(x):
        return "n/a"
    text = f"{x:,.{digits}f}"
    if text.startswith("-") and float(text.replace(",", "")) == 0:
        text = text[1:]
    return text


def fmt_pct(fraction, digits=1):
    """A fraction as per cent: ``fmt_pct(0.0731) == '7.3 %'``."""
    return f"{fmt_number(100.0 * float(fraction), digits)} %"


def fmt_musd(usd, digits=1):
    """USD in millions: ``fmt_musd(2.5e8) == '250.0 M USD'``."""
    return f"{fmt_number(float(usd) / 1e6, digits)} M USD"


def fmt_usd(usd, digits=0):
    """USD: ``fmt_usd(1234.4) == '1,234 USD'``."""
    return f"{fmt_number(usd, digits)} USD"


def fmt_sync(s):
    """Synchrony with two decimals, "n/a" when undefined (fewer than two platforms liquidated)."""
    return "n/a (fewer than 2 platforms liquidated)" if s is None or math.isnan(float(s)) else fmt_number(s, 2)


def extra_fall(kappa):
    """The extra fall of the price, as a fraction, caused by impact ``kappa`` (log units): ``1 - exp(-kappa)``."""
    return -math.expm1(-float(kappa))
