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


def test_gradient_shares_bars_with_ci_and_the_cosine_heatmap():
    from inspector.charts import Shares, cosine_heatmap_figure, gradient_shares_figure

    shares = np.array([0.7, 0.2, 0.1])
    fig = gradient_shares_figure(
        ["bbox", "cls", "supcon"],
        [Shares("epoch_4", shares, shares - 0.05, shares + 0.1), Shares("best", shares[::-1])],
    )
    assert [t.type for t in fig.data] == ["bar", "bar"] and [t.name for t in fig.data] == ["epoch_4", "best"]
    np.testing.assert_allclose(fig.data[0].y, [70, 20, 10])
    np.testing.assert_allclose(fig.data[0].error_y.array, [10, 10, 10])
    np.testing.assert_allclose(fig.data[0].error_y.arrayminus, [5, 5, 5])
    assert fig.data[1].error_y.array is None  # no interval given, none drawn
    assert fig.layout.shapes[0].y0 == fig.layout.shapes[0].y1 == 100 / 3  # the equal share
    cos = np.array([[np.nan, -0.2, 0.1], [-0.2, np.nan, 0.05], [0.1, 0.05, np.nan]])
    heat = cosine_heatmap_figure(["bbox", "cls", "supcon"], cos, (cos < 0) * 0.8, np.full((3, 3), 20))
    (trace,) = heat.data
    assert trace.type == "heatmap" and (trace.zmin, trace.zmax) == (-0.2, 0.2)  # symmetric about 0
    assert trace.text[0][0] == "" and trace.text[0][1] == "-0.20<br>80% of 20"
