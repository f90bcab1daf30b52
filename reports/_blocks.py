"""Report blocks (headings, paragraphs, tables, images) and their two renderings.

A report is built once as a list of blocks and rendered to both formats: markdown links the PNGs
next to it; HTML embeds them as base64 data URIs (one file, no external assets) and opens with a
table of contents.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[str]]
    #: One URL per row, or None: rendered as a last "trace" column linking each row (a sample to
    #: its trace in Phoenix).
    links: list[str | None] | None = None


@dataclass(frozen=True)
class Image:
    alt: str
    path: str  # relative to the report's folder


Block = Heading | Para | Table | Image


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: Sequence[Block]) -> str:
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"{'#' * block.level} {block.text}")
        elif isinstance(block, Para):
            out.append(block.text)
        elif isinstance(block, Table):
            headers, rows = _with_links(block, lambda url: f"[trace]({url})" if url else "")
            lines = ["| " + " | ".join(_md_cell(h) for h in headers) + " |",
                     "|" + "|".join("---" for _ in headers) + "|"]
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
            out.append("\n".join(lines))
        else:
            out.append(f"![{block.alt}]({block.path})")
    return "\n\n".join(out) + "\n"


def _with_links(table: Table, render: Callable[[str | None], str]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows, with the rendered links as a last column when the table has them."""
    if table.links is None:
        return table.headers, table.rows
    rows = [[*row, render(url)] for row, url in zip(table.rows, table.links, strict=True)]
    return [*table.headers, "trace"], rows


def _inline(text: str) -> str:
    """Escape, then the two bits of markdown the paragraphs use: **bold** and `code`."""
    parts = html.escape(text).split("**")
    text = "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(parts))
    parts = text.split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _anchors(blocks: Sequence[Block]) -> dict[int, str]:
    """A unique ``id`` for every heading below the title, by block position."""
    seen: dict[str, int] = {}
    out = {}
    for position, block in enumerate(blocks):
        if isinstance(block, Heading) and block.level > 1:
            slug = re.sub(r"[^a-z0-9]+", "-", block.text.lower()).strip("-") or "section"
            seen[slug] = seen.get(slug, 0) + 1
            out[position] = slug if seen[slug] == 1 else f"{slug}-{seen[slug]}"
    return out


def _toc(blocks: Sequence[Block], anchors: dict[int, str]) -> str:
    """Nested links to every heading below the title (levels 2 and 3)."""
    items = [(block.level, block.text, anchors[i]) for i, block in enumerate(blocks)
             if isinstance(block, Heading) and i in anchors and block.level <= 3]
    if not items:
        return ""
    out = ['<nav class="toc"><strong>Contents</strong><ul>']
    depth = 2
    for level, text, anchor in items:
        while depth < level:
            out.append("<ul>")
            depth += 1
        while depth > level:
            out.append("</ul>")
            depth -= 1
        out.append(f'<li><a href="#{anchor}">{_inline(text)}</a></li>')
    out.append("</ul>" * (depth - 1) + "</nav>")
    return "".join(out)


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1200px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: left; }
th { background: #f2f2f2; }
tr:nth-child(even) td { background: #fafafa; }
img { max-width: 100%; height: auto; margin: 0.5em 0; }
code { background: #f2f2f2; padding: 0 0.25em; }
h1 { border-bottom: 2px solid #ddd; } h2 { border-bottom: 1px solid #eee; margin-top: 1.6em; }
nav.toc { background: #f7f7f7; border: 1px solid #e3e3e3; padding: 0.5em 1em; margin: 1em 0; }
nav.toc ul { margin: 0.2em 0; padding-left: 1.2em; }
"""


def _link_cell(url: str | None) -> str:
    if not url:
        return "<td></td>"
    return f'<td><a href="{html.escape(url, quote=True)}" target="_blank" rel="noopener">trace</a></td>'


def to_html(blocks: Sequence[Block], base: Path, *, title: str) -> str:
    """A single self-contained page: a table of contents after the title, images read from
    ``base`` and embedded as data URIs."""
    anchors = _anchors(blocks)
    toc = _toc(blocks, anchors)
    body: list[str] = []
    for position, block in enumerate(blocks):
        if isinstance(block, Heading):
            anchor = f' id="{anchors[position]}"' if position in anchors else ""
            body.append(f"<h{block.level}{anchor}>{_inline(block.text)}</h{block.level}>")
            if block.level == 1 and toc:
                body.append(toc)
                toc = ""
        elif isinstance(block, Para):
            body.append(f"<p>{_inline(block.text)}</p>")
        elif isinstance(block, Table):
            links = block.links or [None] * len(block.rows)
            headers = [*block.headers, "trace"] if block.links is not None else block.headers
            head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
            rows = "".join(
                "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row)
                + (_link_cell(url) if block.links is not None else "") + "</tr>"
                for row, url in zip(block.rows, links, strict=True)
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        else:
            data = base64.b64encode((base / block.path).read_bytes()).decode("ascii")
            body.append(f'<img alt="{html.escape(block.alt)}" src="data:image/png;base64,{data}">')
    if toc:  # no title heading: the contents open the page
        body.insert(0, toc)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body) + "\n</body>\n</html>\n"
    )
