"""format=html: translate the text between tags, keep the markup.

`split_html` cuts a document into segments: markup (tags, comments, doctype, text inside script/style/code/pre
or elements marked translate="no") kept verbatim, and text runs to translate (entities decoded). `join_html`
puts the translated runs back, escaped.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser

_KEEP_ELEMENTS = frozenset({"script", "style", "code", "pre", "kbd", "samp", "var", "textarea"})
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)


class _Splitter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.segments: list[tuple[bool, str]] = []  # (translate?, text)
        self._stack: list[tuple[str, bool]] = []  # (tag, keeps its content verbatim)

    def _keeping(self) -> bool:
        return any(keep for _, keep in self._stack)

    def handle_starttag(self, tag, attrs):
        self.segments.append((False, self.get_starttag_text() or f"<{tag}>"))
        if tag in _VOID:
            return
        keep = tag in _KEEP_ELEMENTS or any(k == "translate" and (v or "").lower() == "no" for k, v in attrs)
        self._stack.append((tag, keep))

    def handle_startendtag(self, tag, attrs):
        self.segments.append((False, self.get_starttag_text() or f"<{tag}/>"))

    def handle_endtag(self, tag):
        self.segments.append((False, f"</{tag}>"))
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                del self._stack[i:]
                break

    def handle_data(self, data):
        if self._keeping() or not data.strip():
            self.segments.append((False, html.escape(data, quote=False) if not self._raw() else data))
        else:
            self.segments.append((True, data))

    def _raw(self) -> bool:
        return bool(self._stack) and self._stack[-1][0] in ("script", "style")

    def handle_comment(self, data):
        self.segments.append((False, f"<!--{data}-->"))

    def handle_decl(self, decl):
        self.segments.append((False, f"<!{decl}>"))

    def handle_pi(self, data):
        self.segments.append((False, f"<?{data}>"))

    def unknown_decl(self, data):
        self.segments.append((False, f"<![{data}]>"))


def split_html(document: str) -> list[tuple[bool, str]]:
    """(translate?, text) segments; joining the texts (translatable ones escaped) rebuilds the document."""
    parser = _Splitter()
    parser.feed(document)
    parser.close()
    out: list[tuple[bool, str]] = []
    for translate, text in parser.segments:
        if out and out[-1][0] == translate and translate:
            out[-1] = (True, out[-1][1] + text)
        else:
            out.append((translate, text))
    return out


def join_html(segments: list[tuple[bool, str]], translations: list[str]) -> str:
    """The document with the translatable segments replaced by `translations`, in order (escaped)."""
    it = iter(translations)
    out = []
    for translate, text in segments:
        if translate:
            translated = next(it)
            lead = text[: len(text) - len(text.lstrip())]
            tail = text[len(text.rstrip()):]
            out.append(lead + html.escape(translated.strip(), quote=False) + tail)
        else:
            out.append(text)
    return "".join(out)
