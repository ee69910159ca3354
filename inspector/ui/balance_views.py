"""The Loss balance page's parts: a run's checkpoints, measured with a progress bar and cached by content, and
the verdict, gradient shares, term table, cosine heatmap and suggested weights drawn from their reports."""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from streamlit.errors import StreamlitAPIException

from inspector import balance, charts
from inspector.balance import METHODS, BalanceReport
from inspector.batch import EpisodePlan, EvalSettings
from inspector.errors import InspectorError
from inspector.paths import confined_path
from inspector.ui import episode_views as views
from inspector.ui import nav, tables
from inspector.ui.episode_views import Choice
from inspector.ui.loss_views import PRESET_REQUEST, MeasuredBalance, balance_state_key
from inspector.ui.sources import demo_runs
from inspector.ui.torch_threads import one_torch_thread

if TYPE_CHECKING:
    from inspector.data import Episode
    from inspector.runlog import RunLog

# The demo's story: the troubled run, whose bbox weight drowns the other terms.
DEFAULT_CHECKPOINT = "troubled/best.pt"
# The page must stay responsive on a 2-core CPU: measured ~0.15–0.2 s per episode on the demo (one torch
# thread), so 20 episodes take ~4 s; the `balance` command's 50 are a click away.
DEFAULT_EPISODES = 20
MAX_EPISODES = 1000  # ~3–4 minutes here; more is the `balance` command's job
# Reports kept for every session: one is ~K² floats per episode, so memory is no concern; 32 covers a few
# runs' checkpoints at a few settings.
CACHED_REPORTS = 32


@dataclass(frozen=True)
class Measured:
    """One checkpoint's report as the page shows it: the choice, its label and its step (None: unknown)."""

    choice: Choice
    report: BalanceReport
    step: int | None

    @property
    def label(self) -> str:
        name = Path(self.choice.path).name
        return name if self.step is None else f"{name} · step {self.step}"


# ---------------------------------------------------------------------------------------------- sidebar


def _trusted(path: Path) -> Path | None:
    """`path` when the app may read it: a demo file, or a path inside INSPECTOR_ROOTS (a sibling of a chosen
    file may be a symlink to anywhere)."""
    if path in set(views.demo_checkpoints().values()) or path in set(demo_runs().values()):
        return path
    try:
        return confined_path(str(path))
    except InspectorError:
        return None


def _natural(name: str) -> list:
    """epoch_4 before epoch_12."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def pick_more(c: Choice) -> list[Choice]:
    """Sidebar: other checkpoints of the same run (the chosen one's folder) to compare over time."""
    chosen = Path(c.path)
    others = sorted((p for p in chosen.parent.glob("*.pt") if p != chosen), key=lambda p: _natural(p.name))
    allowed = {p.name: t for p in others if p.is_file() and (t := _trusted(p)) is not None}
    if not allowed:
        return []
    names = st.sidebar.multiselect(
        "Also measure (same run)",
        list(allowed),
        key=f"bal_more:{chosen.parent}",
        help="Other checkpoints in the same folder, to see the balance change over training.",
    )
    return [views.choice_of(Path(c.label).with_name(n).as_posix(), allowed[n]) for n in names]


def balance_settings(trained: dict[str, int], source: object) -> EvalSettings:
    """Sidebar: the number of episodes, then the episode shape and seed (views.episode_settings)."""
    episodes = int(
        st.sidebar.number_input(
            "Episodes",
            min_value=1,
            max_value=MAX_EPISODES,
            value=DEFAULT_EPISODES,
            step=10,
            key="bal_episodes",
            help="Image episodes to measure, the ones `evaluate` scores; about 0.2 s each on a 2-core CPU. "
            "A video dataset gives one episode per clip instead.",
        )
    )
    return replace(views.episode_settings(trained, source), episodes=episodes)


def run_log(c: Choice) -> Path | None:
    """The run's log.jsonl beside the checkpoint (balance.sibling_log, as the `balance` command finds it),
    when the app may read it."""
    found = balance.sibling_log(c.path)
    return None if found is None else _trusted(found)


# ---------------------------------------------------------------------------------------------- measuring


class _Reports:
    """The last CACHED_REPORTS reports, by content key, shared by every session.

    Not st.cache_data: a cached function may not draw into the progress bar the page made before calling it
    (its replay would find no such element), and the bar is what keeps a measurement of seconds readable.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reports: OrderedDict[tuple, BalanceReport] = OrderedDict()

    def get(self, key: tuple) -> BalanceReport | None:
        with self.lock:
            if key in self.reports:
                self.reports.move_to_end(key)
            return self.reports.get(key)

    def put(self, key: tuple, report: BalanceReport) -> None:
        with self.lock:
            self.reports[key] = report
            while len(self.reports) > CACHED_REPORTS:
                self.reports.popitem(last=False)


@st.cache_resource
def _reports() -> _Reports:
    return _Reports()


# One measurement at a time on a shared server: each takes a core for seconds (term_gradients works on a copy
# of the cached model, so measurements could overlap safely; they would only slow each other down).
_MEASURING = threading.Lock()


def _file_key(path: Path | None) -> tuple | None:
    if path is None:
        return None
    stat = path.stat()
    return (str(path), stat.st_size, stat.st_mtime_ns)


@st.cache_resource(max_entries=4, show_spinner="Reading the run's log…")
def _read_log(path: str, key: tuple | None) -> RunLog:
    from inspector.runlog import read_logs

    return read_logs([path])


@st.cache_data(max_entries=64, show_spinner=False)
def checkpoint_step(ckpt_key: tuple[str, int]) -> int | None:
    """The training step the checkpoint's metadata records, None when it records none."""
    step = balance.checkpoint_meta(ckpt_key[0]).get("step")
    return step if isinstance(step, int) and not isinstance(step, bool) else None


def report_of(c: Choice, adapter: str, data: Choice, s: EvalSettings, log: Path | None) -> Measured:
    """The checkpoint's BalanceReport over the settings' episodes, with the run's log when there is one:
    from the cache when it holds this content, else measured with a progress bar (balance.measure_checkpoint,
    balance.checkpoint_report: the `balance` command's steps)."""
    key = (c.key, adapter, data.key, s, _file_key(log))
    report = _reports().get(key)
    if report is None:
        detector = views.cached_detector(c.key, adapter)
        plan = EpisodePlan(views.cached_dataset(data.key), None, s)
        bar = st.progress(0.0, text=f"Measuring {c.label} on {plan.total} episodes…")

        def episodes() -> Iterator[Episode]:
            for i in range(plan.total):
                bar.progress(i / plan.total, text=f"Measuring {c.label}: episode {i + 1} of {plan.total}")
                yield plan.episode(i)

        with _MEASURING, one_torch_thread():
            measured = balance.measure_checkpoint(detector, c.path, episodes(), plan.total)
        bar.empty()
        run = None if log is None else _read_log(str(log), _file_key(log))
        report = balance.checkpoint_report(c.path, detector, measured, run)
        _reports().put(key, report)
    return Measured(c, report, checkpoint_step(c.key))


def describe(
    m: Measured, adapter: str, data: Choice, s: EvalSettings, trained: dict[str, int], log: Path | None
) -> str:
    """One line on what was measured: checkpoint, adapter, dataset, episodes, seed, log."""
    n = m.report.episodes
    episodes = (
        f"{n} clip episodes (one per clip)"
        if views.cached_dataset(data.key).clips
        else f"{n} episodes of {views.describe_shape(s.shape, trained)}"
    )
    return (
        f"{m.choice.label} (`{adapter}`) · {data.label} · {episodes}, seed {s.seed} · log: "
        f"{log.name if log is not None else 'none beside the checkpoint'} · gradients of each weighted loss "
        f"on {balance.SHARED_WORDS[m.report.shared]}, batch norm in training mode (as a training step)"
    )


def remember(m: Measured, log: Path | None) -> bool:
    """Leaves the report in the session for the Loss curves page of the run whose log is `log`; whether
    there is such a run."""
    key = None if log is None else balance_state_key(log)
    if key is None:
        return False
    st.session_state[key] = MeasuredBalance(m.choice.label, m.report, key)
    return True


def in_time_order(measured: list[Measured]) -> list[Measured]:
    """By training step; checkpoints without one last, in the order given."""
    return sorted(measured, key=lambda m: math.inf if m.step is None else m.step)


# ---------------------------------------------------------------------------------------------- drawing


def _pct(x: float | None) -> float:
    """A share as a percentage (NaN, an empty cell, when unknown)."""
    return math.nan if x is None or not math.isfinite(x) else 100 * x


def _range(lo: float, hi: float, pct: bool = False) -> str:
    """An interval as "lo–hi" (percentages with `pct`); empty when an end is unknown."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return ""
    write = tables.formatter("percent" if pct else "weight")
    return f"{write(100 * lo if pct else lo)}–{write(100 * hi if pct else hi)}"


def render_verdicts(measured: list[Measured]) -> None:
    """Each checkpoint's one-line verdict (balance.verdict)."""
    for m in measured:
        prefix = f"**{m.label}** — " if len(measured) > 1 else ""
        st.markdown(f"{prefix}{m.report.verdict}")


def shares_figure(measured: list[Measured]) -> go.Figure:
    """Each term's share of the shared-layer gradient with its 95% bootstrap CI, one group per checkpoint."""
    terms = [t.name for t in measured[0].report.terms]
    groups = []
    for m in measured:
        by_name = {t.name: t.grad_share for t in m.report.terms}
        estimates = [by_name.get(n) for n in terms]
        groups.append(
            charts.Shares(
                m.label,
                np.array([math.nan if e is None else e.mean for e in estimates]),
                np.array([math.nan if e is None else e.lo for e in estimates]),
                np.array([math.nan if e is None else e.hi for e in estimates]),
            )
        )
    return charts.gradient_shares_figure(terms, groups)


TERMS_KINDS: dict[str, tables.Kind] = {
    "raw": "loss",
    "weight": "weight",
    "weighted": "loss",
    "‖∇ shared‖": "weight",
    "grad share (%)": "percent",
}


def terms_table(measured: list[Measured]) -> pd.DataFrame:
    """One row per checkpoint and term: raw, weight, weighted, gradient norm and share with their CIs."""
    rows = [
        {
            "checkpoint": m.label,
            "term": t.name,
            "raw": t.raw,
            "weight": t.weight,
            "weighted": t.weighted,
            "‖∇ shared‖": t.grad_norm.mean,
            "‖∇‖ 95% CI": _range(t.grad_norm.lo, t.grad_norm.hi),
            "grad share (%)": _pct(t.grad_share.mean),
            "share 95% CI (%)": _range(t.grad_share.lo, t.grad_share.hi, pct=True),
        }
        for m in measured
        for t in m.report.terms
    ]
    table = pd.DataFrame(rows)
    return table if len(measured) > 1 else table.drop(columns="checkpoint")


def render_terms(measured: list[Measured]) -> None:
    """The terms table (terms_table), each number written for what it is, every row shown."""
    tables.show(terms_table(measured), TERMS_KINDS, "bal_terms", max_rows=None)


def conflict_matrices(report: BalanceReport) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """(terms, cosine, conflict rate, episodes), each (K, K) and symmetric, from the report's pairs; NaN on
    the diagonal."""
    names = [t.name for t in report.terms]
    k = len(names)
    cos, rate, n = np.full((k, k), np.nan), np.full((k, k), np.nan), np.zeros((k, k))
    at = {name: i for i, name in enumerate(names)}
    for c in report.conflicts:
        i, j = at[c.a], at[c.b]
        cos[i, j] = cos[j, i] = c.cosine
        rate[i, j] = rate[j, i] = c.conflict_rate
        n[i, j] = n[j, i] = c.episodes
    return names, cos, rate, n


def heatmap_figure(report: BalanceReport) -> go.Figure:
    return charts.cosine_heatmap_figure(*conflict_matrices(report))


def render_conflicts(measured: list[Measured]) -> None:
    """The cosine heatmap of each checkpoint (a tab each when there are several)."""
    if len(measured) == 1:
        st.plotly_chart(heatmap_figure(measured[0].report), width="stretch", key="bal_heatmap")
        return
    for tab, m in zip(st.tabs([m.label for m in measured]), measured, strict=True):
        tab.plotly_chart(heatmap_figure(m.report), width="stretch", key=f"bal_heatmap_{m.choice.path}")


METHOD_LABELS = {
    "equal_grad_share": "equal gradient share (GradNorm's target, Chen et al. 2018)",
    "uncertainty": "uncertainty (Kendall et al. 2018)",
    "dwa": "DWA (Liu et al. 2019)",
}

SHORT_LABELS = {"equal_grad_share": "equal gradient share", "uncertainty": "uncertainty", "dwa": "DWA"}


def suggestions_table(report: BalanceReport) -> pd.DataFrame:
    """One row per set of weights (the current ones, then each method's): the weights, and the gradient
    shares they would give (BalanceReport.what_if); a method without weights has empty cells."""
    names = [t.name for t in report.terms]
    rows = []
    for label, weights in [
        ("current", report.weights),
        *((METHOD_LABELS[s.method], s.weights) for s in report.suggestions),
    ]:
        shares = report.what_if(weights) if weights is not None else {}
        row: dict[str, object] = {"weights": label}
        row.update({f"{n} ×": math.nan if weights is None else weights[n] for n in names})
        row.update({f"{n} share (%)": _pct(shares.get(n)) for n in names})
        rows.append(row)
    return pd.DataFrame(rows)


def predicted_figure(report: BalanceReport) -> go.Figure:
    """The gradient shares each method's weights would give, beside the measured ones."""
    names = [t.name for t in report.terms]
    groups = [
        charts.Shares("measured (current weights)", np.array([t.grad_share.mean for t in report.terms]))
    ]
    for s in report.suggestions:
        if s.weights is not None:
            shares = report.what_if(s.weights)
            groups.append(charts.Shares(SHORT_LABELS[s.method], np.array([shares[n] for n in names])))
    return charts.gradient_shares_figure(names, groups, title="Predicted share of the shared-layer gradient")


def render_suggestions(m: Measured) -> None:
    """The suggested weights per method, what each is computed from and its notes, and the shares they
    would give."""
    report = m.report
    total = sum(w for w in report.weights.values() if math.isfinite(w))
    st.caption(
        f"Each method's weights add up to the current sum ({total:.4g}): the loss scale the optimiser sees "
        "stays, only the mix changes. Shares are predicted from the measured norms (‖∇(w·L)‖ scales with w)."
    )
    kinds: dict[str, tables.Kind] = {}
    for t in report.terms:
        kinds |= {f"{t.name} ×": "weight", f"{t.name} share (%)": "percent"}
    tables.show(suggestions_table(report), kinds, "bal_suggestions")
    for method in METHODS:
        s = report.suggestion(method)
        if s is None:
            continue
        notes = "".join(f"; {n.removeprefix(method + ': ')}" for n in s.notes)
        st.caption(f"**{METHOD_LABELS[method]}** — from {s.basis}{notes}")
    st.plotly_chart(predicted_figure(report), width="stretch", key="bal_predicted")


def _open_loss_curves(log: Path, request: tuple[str, str]) -> None:
    """Points the Loss curves page at the run of `log` and asks it for a preset, then opens it."""
    name = log.parent.name
    if demo_runs().get(name) == log:
        st.session_state.update(run_kind="demo", run_demo=name)
    else:
        st.session_state.update(run_kind="server path", run_path=str(log))
    st.session_state[PRESET_REQUEST] = request
    try:
        st.switch_page(nav.LOSS_CURVES.script)
    except StreamlitAPIException:  # a page run on its own (e.g. one AppTest script): there is no app
        st.info("Open the Loss curves page from the sidebar.")


def render_try(log: Path | None, linked: bool) -> None:
    """The way to the Loss curves page's what-if with these weights: a button when the run's log ties the
    two pages, else a hint."""
    if not linked or log is None:
        st.info(
            "No readable log.jsonl beside this checkpoint, so the Loss curves page cannot tie this "
            "measurement to a run: type the weights above into its what-if by hand."
        )
        return
    state = balance_state_key(log)
    if state is not None and st.button(
        "Try equal gradient shares on the Loss curves page",
        key="bal_try",
        icon=":material/show_chart:",
        help="Opens the run's log on the Loss curves page with these weights in its what-if: the new total, "
        "its volatility, the shares of the loss and the predicted shares of the gradient.",
    ):
        _open_loss_curves(log, (state, "equal_grad_share"))
    st.caption(
        "There, the uncertainty and DWA presets are computed from the whole log; the ones above stop at this "
        "checkpoint's step."
    )


def render_notes(measured: list[Measured]) -> None:
    """Every report's notes (weights that disagree, rarely active terms, the log's windows) in an expander."""
    notes = [(m.label, n) for m in measured for n in m.report.notes]
    if not notes:
        return
    with st.expander(f"Notes ({len(notes)})"):
        for label, note in notes:
            st.markdown(f"- {label}: {note}" if len(measured) > 1 else f"- {note}")
