import numpy as np

from inspector.charts import (
    Curve,
    curves_figure,
    share_bars_figure,
    side_by_side_figure,
    small_multiples_figure,
    stacked_contributions_figure,
)


def _curve(name="bbox", n=50):
    steps = np.arange(n)
    values = np.linspace(1, 0.5, n)
    return Curve(
        name,
        steps,
        values,
        lower=values - 0.1,
        upper=values + 0.1,
        smoothed=values,
        spike_steps=np.array([10]),
        spike_values=np.array([3.0]),
    )


def test_curves_figure_draws_band_line_ema_spikes_and_lr():
    fig = curves_figure(
        [_curve()], "bbox", lr=(np.arange(50), np.full(50, 1e-3)), segments=[(0, 20), (21, 49)]
    )
    names = [t.name for t in fig.data]
    assert names.count("bbox") == 1 and "bbox (EMA)" in names and "bbox spikes" in names and "lr" in names
    assert any(t.fill == "tonexty" for t in fig.data)
    assert len(fig.layout.shapes) == 1  # the restart segment is shaded
    assert fig.layout.yaxis2.type == "log"


def test_log_y_and_side_by_side():
    fig = curves_figure([_curve()], "x", log_y=True)
    assert fig.layout.yaxis.type == "log"
    both = side_by_side_figure([_curve("raw")], [_curve("weighted")], ("raw", "weighted"))
    assert {t.xaxis for t in both.data} == {"x", "x2"}


def test_stacked_and_share_bars_and_small_multiples():
    steps = np.arange(10)
    fig = stacked_contributions_figure(steps, {"bbox": np.ones(10) * 3, "cls": np.ones(10)})
    assert [t.stackgroup for t in fig.data] == ["total", "total"]
    assert fig.data[0].groupnorm == "percent"
    bars = share_bars_figure({"bbox": 0.75, "cls": 0.25}, {"bbox": 0.9, "cls": 0.1})
    assert list(bars.data[1].y) == [90.0, 10.0]
    grid = small_multiples_figure([_curve("a"), _curve("b"), _curve("c"), _curve("d")], columns=3)
    assert len(grid.layout.annotations) == 4
