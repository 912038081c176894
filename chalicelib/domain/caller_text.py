"""Text a caller wrote (an abort's reason, a rejection's comment, a session's name) made inert for each place
it is shown: one function per output, so that no text can mention, link, format or steer where it lands.

Every output first drops what no reader should get from a caller: control characters (a terminal's escape
sequences, a header's line break, a workflow command's newline) and the marks that reorder text (right-to-left
overrides, isolates, zero-width joiners), and cuts the text to a length the output can carry. Then each adds
its own escaping: HTML's entities; chat's (Slack's and Teams' markdown in AWS Chatbot) entities for `& < >`,
with the mention words broken and the formatting marks swapped for look-alikes; an email's links made
unclickable. The text is recorded as the caller sent it (the record is the audit); it is made inert where
it is shown."""

from __future__ import annotations

import html
import re

# C0 and C1 controls, DEL; a newline and a tab are kept where an output shows more than one line.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_LINE_BREAKS = re.compile(r"[\r\n\t\u2028\u2029\x85]+")
# What reorders or hides text: bidi marks, embeddings, overrides and isolates; zero-width characters.
_STEERING = re.compile(r"[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
ELLIPSIS = "…"


def plain(text: str, limit: int, one_line: bool = True) -> str:
    """`text` without controls or steering marks (one line unless asked), at most `limit` characters."""
    cleaned = _STEERING.sub("", text)
    cleaned = _LINE_BREAKS.sub(" ", cleaned) if one_line else cleaned.replace("\r\n", "\n").replace("\r", "\n")
    cleaned = _CONTROLS.sub("", cleaned).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: max(0, limit - 1)].rstrip() + ELLIPSIS


def for_html(text: object, limit: int = 10_000) -> str:
    """For an HTML page, in an element or an attribute."""
    return html.escape(plain(str(text), limit, one_line=False), quote=True)


# Chat's markdown (Slack's mrkdwn, Teams' markdown) turns these into formatting, code or links.
_CHAT_MARKS = str.maketrans(
    {
        "*": "\u2217",  # asterisk operator
        "_": "\u02cd",  # modifier letter low macron
        "~": "\u223c",  # tilde operator
        "`": "\u02cb",  # modifier letter grave accent
        "[": "\uff3b",  # fullwidth brackets
        "]": "\uff3d",
        "|": "\u2223",  # divides
        "#": "\uff03",  # fullwidth number sign
    }
)
# Words a chat turns into a notification for many people, with or without the brackets.
_MENTIONS = re.compile(r"@(channel|here|everyone|all)\b", re.IGNORECASE)
_ZERO_WIDTH_JOINER = "\u2060"


def for_chat(text: str, limit: int = 500) -> str:
    """For AWS Chatbot's custom notifications (client markdown): no mention, no link in disguise, no
    formatting: `<!channel>`, `<@U…>`, `<https://…|click>` lose their brackets to entities, `@here` is
    broken by a word joiner, and the marks of bold, italics, code, quotes, headings and links become
    look-alikes. A bare address stays readable as what it is."""
    escaped = plain(text, limit).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    escaped = _MENTIONS.sub(lambda match: "@" + _ZERO_WIDTH_JOINER + match.group(1), escaped)
    return escaped.translate(_CHAT_MARKS)


# What mail clients make clickable in plain text: a scheme's address, a www. host.
_LINKABLE = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*)://|\bwww\.")


def for_email(text: str, limit: int = 2000) -> str:
    """For a plain-text email's body: one line, and no address a mail client would make a link of
    (`https://x` reads `https[:]//x`, `www.` reads `www[.]`)."""

    def unclickable(match: re.Match[str]) -> str:
        return f"{match.group(1)}[:]//" if match.group(1) else "www[.]"

    return _LINKABLE.sub(unclickable, plain(text, limit))


def for_email_subject(text: str, limit: int = 100) -> str:
    """For an email's subject (SNS's): one line of printable ASCII, under 100 characters, as SNS requires."""
    ascii_only = "".join(character if " " <= character <= "~" else "?" for character in plain(text, 10 * limit))
    return ascii_only[:limit].strip() or "launch controller"


def for_github(text: str, limit: int = 140) -> str:
    """For a GitHub deployment status's description: one plain line of at most 140 characters."""
    return plain(text, limit)


def for_terminal(text: str, limit: int = 2000) -> str:
    """For a terminal (the CLI): no escape sequence can move the cursor, recolour or retitle it."""
    return plain(text, limit, one_line=False)


def for_log(text: str, limit: int = 2000) -> str:
    """For a log field: one line (a reader's viewer cannot be steered or split into a forged line)."""
    return plain(text, limit)


def for_lark(text: str, limit: int = 2000) -> str:
    """For a Lark (Feishu) card's plain text, lines kept: no tag Lark would read (`<at user_id="all">`, a
    `<font>`, a link) survives, its angle brackets swapped for full-width look-alikes. Chat's entities (the
    channel's message is escaped for Chatbot first) are read back so that `&lt;` does not show as such."""
    return plain(html.unescape(text), limit, one_line=False).replace("<", "\uff1c").replace(">", "\uff1e")
