from __future__ import annotations

from podium.web.rendering import render_markdown


def test_markdown_is_rendered_and_sanitised():
    html = render_markdown(
        "# Title\n\n**bold** [ok](https://example.com) [bad](javascript:alert(1))\n\n"
        "<script>alert(1)</script><img src=x onerror=alert(1)>"
    )
    assert "<h1>Title</h1>" in html
    assert "<strong>bold</strong>" in html
    assert 'href="https://example.com"' in html
    assert "javascript:" not in html
    assert "<script" not in html
    assert "onerror" not in html


def test_empty_overview():
    assert render_markdown("") == ""
