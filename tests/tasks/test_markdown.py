from tasks.markdown import render_instructions


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
