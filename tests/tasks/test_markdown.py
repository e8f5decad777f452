import pytest

from tasks.markdown import render_instructions, same_site_path


def test_markdown_renders_formatting_and_tables():
    html = render_instructions("**Stop** signs are *red*.\n\n| a | b |\n|---|---|\n| 1 | 2 |")
    assert "<strong>Stop</strong>" in html and "<em>red</em>" in html and "<table>" in html


def test_scripts_handlers_and_javascript_links_are_removed():
    html = render_instructions(
        '<script>alert(1)</script><img src="/media/x.png" onerror="alert(2)">'
        '[click](javascript:alert(3)) <a href="https://example.org" onclick="x()">ok</a>'
    )
    for bad in ("<script", "onerror", "javascript:", "onclick"):
        assert bad not in html
    assert 'rel="noopener noreferrer nofollow"' in html


def test_images_only_from_our_own_site():
    html = render_instructions(
        "![ok](/media/examples/stop.webp) "
        "![no](https://tracker.example/p.gif) ![no](//cdn.example/x.png)"
    )
    assert 'src="/media/examples/stop.webp"' in html
    assert "tracker.example" not in html and "cdn.example" not in html


@pytest.mark.parametrize(
    "src",
    [
        "/\\host/x.png",  # browsers read the backslash as a slash: http://host/x.png
        "\\\\host/x.png",
        "/%5Chost/x.png",
        "/%2F/host/x.png",
        "/\t/host/x.png",
        " //host/x.png",
        "https://host/x.png",
        "http:/host/x.png",
        "//host/x.png",
        "javascript:alert(1)",
        "data:image/png;base64,iVBORw0KGgo=",
        "x.png",
    ],
)
def test_an_image_that_could_load_from_another_host_is_dropped(src):
    html = render_instructions(f'<img src="{src}" alt="a"> ![b]({src})')
    assert "src=" not in html
    assert same_site_path(src) is None


def test_an_image_written_with_entities_is_read_as_the_browser_reads_it():
    html = render_instructions('<img src="/&#92;host/x.png"> <img src="&#x2F;&#x2F;host/x">')
    assert "src=" not in html and "host" not in html


def test_an_image_on_our_site_is_kept():
    html = render_instructions("![stop](/media/examples/x.webp) ![b](/media/a%20b.png)")
    assert 'src="/media/examples/x.webp"' in html and 'src="/media/a%20b.png"' in html
