"""Loss gains of a results.txt run, from its hyp.yaml or opt.yaml, and what they say about the trainer.

yolov5/train.py (4102fcc9a, 2020-07-20, on) and yolov7/train.py save both files beside results.txt:

    with open(save_dir / 'hyp.yaml', 'w') as f: yaml.dump(hyp, f, sort_keys=False)
    with open(save_dir / 'opt.yaml', 'w') as f: yaml.dump(vars(opt), f, sort_keys=False)

opt.yaml's `hyp` is the path given with `--hyp` (data/hyp.scratch.yaml, …) in every version that wrote
results.txt, and the hyp mapping itself in yolov5 from a75a1105a (2022-08-03: `opt.hyp = hyp.copy()` before
the dump). A path is only matched by name against the uploaded companions: it is never opened, since it
names a file of the training machine (and may point anywhere).

The losses in results.txt are already multiplied by these gains (the reader records them, it applies none):

    yolov5/utils/utils.py compute_loss (1e84a23f3): lbox *= h['giou']; lobj *= h['obj']; lcls *= h['cls']
        return loss * bs, torch.cat((lbox, lobj, lcls, loss)).detach()
    yolov5/utils/loss.py ComputeLoss (efe60b568): lbox *= self.hyp['box']; … the same return
    yolov7/utils/loss.py ComputeLoss, ComputeLossOTA, ComputeLossAuxOTA: the same three products
    yolov3/utils/utils.py compute_loss (ec942bd2): lbox *= h['giou']; lobj *= h['obj']; lcls *= h['cls']

and test.py sums `compute_loss(...)[1][:3]` for the val columns, so those are weighted alike. The box gain
was keyed `giou` until yolov5 0ada058f6 (2020-10-11, "Generalized regression criterion renaming").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from inspector.runlog import companions as companion_files
from inspector.runlog.companions import gain_problem

# Which hyp keys hold the gain of a loss column (by the part after "train/" or "val/"), first match wins.
# yolov3 2019-04 … 2019-07 keyed the objectness gain "conf" and trained xy/wh with "xy"/"wh" gains.
GAIN_KEYS: dict[str, tuple[str, ...]] = {
    "box_loss": ("box", "giou"),
    "giou_loss": ("giou", "box"),
    "obj_loss": ("obj", "conf"),
    "cls_loss": ("cls",),
    "xy_loss": ("xy",),
    "wh_loss": ("wh",),
}
_HYP_KEYS = frozenset(key for keys in GAIN_KEYS.values() for key in keys)
# A mapping with this many gain keys is a hyp file (a data.yaml or an Ultralytics args.yaml has fewer).
MIN_HYP_KEYS = 2
# yolov7's hyp files all carry `paste_in` (utils/datasets.py reads hyp['paste_in'] unconditionally) and the
# later ones `loss_ota` (train.py, 711a16b); no yolov5 or yolov3 hyp file ever had either.
YOLOV7_HYP_KEYS = ("paste_in", "loss_ota")
# yolov7's --hyp files: data/hyp.scratch.{p5,p6,tiny,custom}.yaml; yolov5's were hyp.scratch.yaml,
# hyp.finetune.yaml and hyp.scratch-p6.yaml while it wrote results.txt.
_YOLOV7_HYP_FILE = re.compile(r"hyp\.scratch\.(p5|p6|tiny|custom)\.ya?ml$")
SIBLINGS = ("hyp.yaml", "opt.yaml")

Trainer = Literal["yolov7", "yolov5", "yolov3", "not yolov7"]


@dataclass(frozen=True)
class RunConfig:
    """The run's hyp mapping and opt mapping, the files they came from, and what was said about candidates."""

    hyp: dict | None
    hyp_file: Path | None  # hyp.yaml, or opt.yaml when its `hyp` held the mapping
    opt: dict | None
    warnings: tuple[str, ...]


def _is_hyp(data: dict) -> bool:
    return len(_HYP_KEYS & set(map(str, data))) >= MIN_HYP_KEYS


def _is_opt(data: dict) -> bool:
    return "hyp" in data and bool({"epochs", "weights", "batch_size"} & set(map(str, data)))


def find_config(path: Path, companions: Sequence[Path]) -> RunConfig:
    """The hyp and opt mappings of the run logged at `path`: uploaded companions first, then its siblings."""
    candidates = [c for c in companions if c.suffix.lower() in (".yaml", ".yml")]
    for name in SIBLINGS:
        sibling = path.parent / name
        if sibling.is_file() and sibling not in candidates:  # is_file: a FIFO or a folder is no config
            candidates.append(sibling)
    hyp: tuple[dict, Path] | None = None
    opt: tuple[dict, Path] | None = None
    warnings: list[str] = []
    unsuitable: list[str] = []
    for candidate in candidates:
        loaded = companion_files.load(candidate)
        if loaded.data is None:
            warnings.append(f"{candidate.name} was rejected: {loaded.problem}; it was ignored.")
        elif _is_hyp(loaded.data):
            hyp = hyp or (loaded.data, candidate)
        elif _is_opt(loaded.data):
            opt = opt or (loaded.data, candidate)
        else:
            unsuitable.append(candidate.name)
    if hyp is None and opt is not None:
        inline = opt[0]["hyp"]
        if isinstance(inline, dict):
            hyp = (inline, opt[1])
        else:
            warnings.append(
                f"{opt[1].name} names its hyp file {str(inline)!r}, which was not given with the "
                "log: upload it to read the loss gains."
            )
    if hyp is None and unsuitable:
        warnings.append(f"{', '.join(unsuitable)} hold(s) no loss gains (no hyp.yaml or opt.yaml mapping).")
    return RunConfig(
        None if hyp is None else hyp[0],
        None if hyp is None else hyp[1],
        None if opt is None else opt[0],
        tuple(warnings),
    )


def gain_keys(series: str) -> tuple[str, ...]:
    """The hyp keys that may hold the gain of `series` (train/ or val/ loss columns), else ()."""
    prefix, _, kind = series.partition("/")
    return GAIN_KEYS.get(kind, ()) if prefix in ("train", "val") else ()


def loss_weights(series: Iterable[str], hyp: dict, file_name: str) -> tuple[dict[str, float], list[str]]:
    """({series: gain} for every loss column whose gain `hyp` states usably, warnings about the others)."""
    weights: dict[str, float] = {}
    missing: dict[str, list[str]] = {}
    ignored: dict[str, list[str]] = {}
    for name in series:
        keys = gain_keys(name)
        if not keys:
            continue
        key = next((k for k in keys if k in hyp), None)
        if key is None:
            missing.setdefault("/".join(keys), []).append(name)
            continue
        problem = gain_problem(hyp[key])
        if problem is None:
            weights[name] = float(hyp[key])
        else:
            ignored.setdefault(f"{key} {hyp[key]!r} {problem}", []).append(name)
    warnings = [
        f"{file_name}: {reason}, so no gain is recorded for {', '.join(names)}."
        for reason, names in ignored.items()
    ]
    warnings += [
        f"{file_name} has no {keys} gain, so none is recorded for {', '.join(names)}."
        for keys, names in missing.items()
    ]
    return weights, warnings


def _mentions(opt: dict | None, word: str) -> bool:
    return opt is not None and any(word in str(opt.get(key, "")).lower() for key in ("weights", "cfg"))


def trainer(config: RunConfig) -> Trainer | None:
    """Which repository the companions say wrote the run, "not yolov7" when only that is known, else None."""
    hyp, opt = config.hyp, config.opt
    named_hyp = str(opt.get("hyp", "")) if opt is not None and not isinstance(opt.get("hyp"), dict) else ""
    if (
        (hyp is not None and any(k in hyp for k in YOLOV7_HYP_KEYS))
        or _YOLOV7_HYP_FILE.search(named_hyp)
        or (opt is not None and "v5_metric" in opt)
        or _mentions(opt, "yolov7")
        or _mentions(opt, "yolo7")
    ):
        return "yolov7"
    for word in ("yolov5", "yolov3"):
        if _mentions(opt, word):
            return word
    return "not yolov7" if hyp is not None else None
