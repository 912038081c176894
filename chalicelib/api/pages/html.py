"""What every page the API serves shares: one HTML document, its security headers, and the refusal page."""

from __future__ import annotations

from dataclasses import dataclass, field

from chalicelib.domain.caller_text import for_html


@dataclass
class Page:
    status: int
    html: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Family:
    """What a family of pages may do, which its headers say: nothing may be cached, framed, fetched from
    elsewhere or sniffed, whichever it is."""

    form_action: str  # where its forms may post
    referrer: str  # what a link followed from it tells the next site
    width: str


# The approval page posts its own form; its Referer stays same-origin (no-referrer would make the form's
# Origin "null"). The launch pages post nothing, and their link is the capability: never sent onwards.
APPROVAL = Family(form_action="'self'", referrer="same-origin", width="40rem")
VIEW = Family(form_action="'none'", referrer="no-referrer", width="64rem")

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; max-width: %s; margin: 1.5rem auto; padding: 0 1rem; color: #1b1f24; }
h1 { font-size: 1.35rem; margin-bottom: .2rem; } h2 { font-size: 1.1rem; margin-top: 1.6rem; }
.meta { color: #57606a; } table { border-collapse: collapse; width: 100%%; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #e5e7eb; vertical-align: top; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; } dt { font-weight: 600; }
fieldset { border: 1px solid #ccd; border-radius: .5rem; margin: 1rem 0; } label { display: block; margin: .3rem 0; }
textarea { width: 100%%; min-height: 4rem; }
button { font-size: 1rem; padding: .5rem 1.2rem; margin-right: .5rem; border-radius: .4rem; border: 1px solid #889; }
button[value=approve] { background: #1f7a3a; color: white; } button[value=reject] { background: #a3262b; color: white; }
.badge { display: inline-block; padding: .1rem .55rem; border-radius: 1rem; font-weight: 600; font-size: .85rem; }
.notice { padding: .75rem 1rem; border-radius: .5rem; background: #f3f4f6; }
.ok, .good { background: #e6f4ea; color: #1f7a3a; } .bad { background: #fde8e8; color: #a3262b; }
.run { background: #e8f0fe; color: #1a56c4; } .idle { background: #f3f4f6; color: #57606a; }
.warn { background: #fff4e5; color: #8a5300; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(17rem, 1fr)); gap: 1rem; }
svg { width: 100%%; height: auto; background: #fafbfc; border: 1px solid #e5e7eb; border-radius: .4rem; }
td, dd, .meta, .notice, li { overflow-wrap: anywhere; }
.steps { border-left: .3rem solid #8a5300; background: #fff4e5; padding: .6rem 1rem; border-radius: .3rem; }
.steps h2 { margin-top: 0; }
details { margin: .6rem 0; } summary { cursor: pointer; color: #1a56c4; }
a { color: #1a56c4; }
@media (max-width: 40rem) {
  table, tbody, tr, td, th { display: block; width: auto; }
  tr:first-child:has(th) { display: none; }
  tr { border-bottom: 1px solid #d0d7de; padding: .3rem 0; } td { border: 0; padding: .1rem 0; }
  dl { grid-template-columns: 1fr; } dd { margin: 0 0 .4rem; }
}
"""


def headers(family: Family) -> dict[str, str]:
    return {
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": f"default-src 'none'; style-src 'unsafe-inline'; form-action {family.form_action}",
        "Referrer-Policy": family.referrer,
    }


def document(
    family: Family,
    title: str,
    body: str,
    status: int = 200,
    refresh_seconds: int = 0,
    extra: dict[str, str] | None = None,
) -> Page:
    """A whole page: `body` is HTML already escaped by its maker; the title is escaped here."""
    refresh = f'<meta http-equiv="refresh" content="{refresh_seconds}">' if refresh_seconds else ""
    text = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="referrer" content="{family.referrer}">'
        f"{refresh}<title>{for_html(title)}</title><style>{STYLE % family.width}</style></head>"
        f"<body>{body}</body></html>"
    )
    return Page(status, text, {**headers(family), **(extra or {})})


def refusal(family: Family, status: int, title: str, message: str, tone: str = "bad") -> Page:
    """Any answer that is not the page asked for (or a decision's outcome): its title and one notice."""
    notice = f'<h1>{for_html(title)}</h1><p class="notice {tone}">{for_html(message)}</p>'
    return document(family, title, notice, status)


class Refused(Exception):
    """A page's maker stops with the refusal to show."""

    def __init__(self, page: Page) -> None:
        super().__init__(page.status)
        self.page = page
