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


def test_the_charts_read_what_the_trainer_really_reports():
    """Epoch records from a real (tiny) training run, through the worker's payload
    encoding, give the submission page a loss, a metric and a gradient-norm series."""
    from types import SimpleNamespace

    from podium.web.charts import compare_charts, submission_charts
    from workers import training as trainer
    from workers.data import load_dataset
    from workers.runner import epoch_payload
    from workers.spec import parse_config

    config = parse_config(
        "version: 1\nseed: 0\nmodel:\n  layers:\n    - linear: {units: 8}\n    - activation: relu\n"
        "    - linear: {units: auto}\ntrain:\n  epochs: 2\n  batch_size: 16\n"
        "  optimizer: {name: adam, lr: 0.01}\n"
    )
    records = []
    trainer.train(
        config, load_dataset("iris"), device="cpu", on_epoch=lambda r: records.append(epoch_payload(r))
    )
    epochs = [SimpleNamespace(epoch=r["epoch"], data=r) for r in records]
    charts = submission_charts(epochs)
    for name in ("loss", "metric", "grad"):
        assert charts[name]["series"], name
        assert all(v is not None for s in charts[name]["series"] for v in s["data"]), name
    assert charts["metric"]["ylabel"] == "accuracy"
    assert {s["label"] for s in charts["metric"]["series"]} == {"validation metric"}
    both = compare_charts(SimpleNamespace(pk=1), epochs, SimpleNamespace(pk=2), epochs)
    assert len(both["metric"]["series"]) == 2
