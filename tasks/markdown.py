"""Instructions are Markdown written by requesters and shown to workers, so the HTML
is sanitised with an allow-list: no scripts, styles or event handlers, and images
only from our own site (a third-party image would cost workers data and leak that
they opened the task)."""

from urllib.parse import unquote, urlsplit

import markdown
import nh3

ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li",
    "h2", "h3", "h4", "a", "img", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}}


def _may_leave_the_site(path: str) -> bool:
    # Browsers read a backslash as a slash ("/\host/x" loads http://host/x) and drop
    # tabs and newlines inside a URL ("/\t/host" is "//host"): neither may appear.
    return (
        not path.startswith("/")
        or path.startswith("//")
        or "\\" in path
        or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in path)
    )


def same_site_path(url: str) -> str | None:
    """The URL if it is a path on this site ("/media/examples/x.webp"), else None: no
    scheme (https:, data:, javascript:), no host, and nothing that a browser, or a
    proxy decoding %-escapes, could read as one ("/%5Chost", "/%2F/host")."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or " " in url:
        return None
    if _may_leave_the_site(url) or _may_leave_the_site(unquote(url)):
        return None
    return url


def _keep_attribute(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src":
        return same_site_path(value)
    return value


def render_instructions(text: str) -> str:
    html = markdown.markdown(text or "", extensions=["tables", "sane_lists"], output_format="html")
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=_keep_attribute,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
