"""An approver at their inbox, without a browser: open the emailed link, tick every box, press a button."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from html import unescape

_HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')
_BOX = re.compile(r'<input type="checkbox" name="attest" value="([^"]*)">')
_NOTICE = re.compile(r'<p class="notice[^"]*">(.*?)</p>', re.S)
_FORM = re.compile(r'<form method="post" action="([^"]*)">')


@dataclass
class Answer:
    status: int
    text: str
    html: str


def _fetch(opener: urllib.request.OpenerDirector, request: urllib.request.Request) -> Answer:
    try:
        with opener.open(request, timeout=15) as response:
            body = response.read().decode()
            status = response.status
    except urllib.error.HTTPError as exc:
        body = exc.read().decode()
        status = exc.code
    notice = _NOTICE.search(body)
    return Answer(status, unescape(notice.group(1)) if notice else "", body)


def open_link(link: str) -> tuple[Answer, urllib.request.OpenerDirector]:
    """GET the link as a browser would (keeping its cookie); changes nothing on the server."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    return _fetch(opener, urllib.request.Request(link)), opener


def decide_by_link(link: str, decision: str = "approve", comment: str = "", tick: bool = True) -> Answer:
    """Open the link, tick every attestation (unless `tick` is False), and submit the decision."""
    page, opener = open_link(link)
    if page.status != 200:
        return page
    fields = [(name, unescape(value)) for name, value in _HIDDEN.findall(page.html)]
    if tick:
        fields += [("attest", unescape(value)) for value in _BOX.findall(page.html)]
    fields += [("decision", decision), ("comment", comment)]
    parts = urllib.parse.urlsplit(link)
    form = _FORM.search(page.html)
    if form is None:
        raise ValueError("the page has no decision form")
    # Where a browser would post: the form's action, resolved against the page's own URL.
    action = urllib.parse.urljoin(link, unescape(form.group(1)))
    request = urllib.request.Request(
        action,
        data=urllib.parse.urlencode(fields).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": f"{parts.scheme}://{parts.netloc}"},
        method="POST",
    )
    return _fetch(opener, request)
