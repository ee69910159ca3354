"""Detectors behind one protocol: the built-in `reference` adapter, the registry, and running a detector.

An adapter turns a checkpoint into a `Detector` (inspector/results.py) whose `predict(episode, …)` returns an
`EpisodeResult`: boxes in the ORIGINAL image's pixels (absolute xyxy), and — where the adapter knows them —
anchors, the assignment of anchors to targets, Wise-IoU terms, losses and gradient norms. A field an adapter
cannot provide stays None and is named in `EpisodeResult.unavailable`; nothing is invented.

Adapters are named like timm's models: `load_detector(path, "reference")` for a built-in one, or
`load_detector(path, "my_pkg.my_module:make_detector")` for a user's factory, imported with importlib and
called as factory(checkpoint_path) -> Detector.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import os
from collections.abc import Callable, Collection, Sequence
from typing import Any, cast

import numpy as np
import torch

from inspector.boxes import Letterbox
from inspector.checkpoint import build_reference_model, load_checkpoint
from inspector.data.records import Episode
from inspector.errors import InspectorError
from inspector.model.assigner import Assignment, overlooked_anchors
from inspector.model.detector import DetectorOutput, FewShotDetector
from inspector.model.loss import LossBreakdown, compute_losses
from inspector.model.predict import EpisodeTensors, RawEpisodeOutput, postprocess, run_episode
from inspector.model.wiou import WIoUState
from inspector.registry import Registry

# The records live in inspector/results.py. They stay importable from here because README's adapter section
# sends users to this module: a user adapter doing `from inspector.adapters import EpisodeResult, QueryResult`
# keeps working.
from inspector.results import (
    Assigned,
    ClipResult,
    Detector,
    EpisodeLosses,
    EpisodeResult,  # noqa: F401
    Overlooked,
    QueryResult,
    SharedParameters,
    TermGradients,
)

DEFAULT_ADAPTER = "reference"


# ---------------------------------------------------------------------------------------------- reference


def _unletterbox_points(points: torch.Tensor, lb: Letterbox) -> np.ndarray:
    """(…, 2) canvas pixels → original pixels, unclipped: anchors in the padding stay outside the image."""
    shift = points.new_tensor([lb.pad_x, lb.pad_y])
    return ((points - shift) / lb.scale).float().cpu().numpy()


def _unletterbox_boxes(boxes: torch.Tensor, lb: Letterbox) -> np.ndarray:
    """(…, 4) canvas xyxy → original pixels, unclipped (boxes.from_letterbox clips, which would change
    IoU)."""
    shift = boxes.new_tensor([lb.pad_x, lb.pad_y, lb.pad_x, lb.pad_y])
    return ((boxes - shift) / lb.scale).float().cpu().numpy()


def _losses_record(b: LossBreakdown) -> EpisodeLosses:
    return EpisodeLosses(
        raw={k: float(v.detach()) for k, v in b.raw.items()},
        weighted={k: float(v.detach()) for k, v in b.weighted.items()},
        total=float(b.total.detach()),
        positives=b.positives,
        mean_iou=b.mean_iou,
    )


def _flat(episode: Episode) -> Episode:
    """The episode with every clip frame appended to the queries: one forward pass serves both (the
    prototypes depend on the support only, and the model is in eval mode)."""
    frames = tuple(f for c in episode.clips for f in c.frames)
    return dataclasses.replace(episode, queries=episode.queries + frames, clips=())


class ReferenceDetector:
    """The reference few-shot detector (inspector/model) behind the Detector protocol."""

    name = "reference"

    def __init__(self, checkpoint_path: str | os.PathLike):
        checkpoint = load_checkpoint(checkpoint_path)
        self.path = str(checkpoint_path)
        self.model = build_reference_model(checkpoint)
        self.warnings = checkpoint.warnings
        self.class_names = tuple(checkpoint.class_names)
        self.meta = {k: v for k, v in checkpoint.meta.items() if isinstance(v, (int, float, str))}
        self.wiou_mean = self._wiou_mean(checkpoint.meta)

    @classmethod
    def from_model(
        cls, model: FewShotDetector, class_names: Sequence[str], wiou_mean: float = 1.0
    ) -> ReferenceDetector:
        """Returns the detector around a model in memory, as it is (training validation scores the model it
        trains through the same `predict` as a loaded checkpoint; the caller puts it in eval mode)."""
        detector = cls.__new__(cls)
        detector.path, detector.model, detector.warnings = "", model, ()
        detector.class_names, detector.meta, detector.wiou_mean = tuple(class_names), {}, float(wiou_mean)
        return detector

    @staticmethod
    def _wiou_mean(meta: dict[str, Any]) -> float:
        """Wise-IoU's running mean of L_IoU saved with the checkpoint (β = L_IoU / mean); 1.0, its
        starting value, when the checkpoint does not carry it."""
        state = meta.get("wiou_state") or meta.get("wiou") or {}
        value = state.get("mean") if isinstance(state, dict) else meta.get("wiou_mean")
        return float(value) if isinstance(value, (int, float)) and value > 0 else 1.0

    def _forward(
        self, episode: Episode, model: FewShotDetector | None = None
    ) -> tuple[RawEpisodeOutput, LossBreakdown]:
        model = self.model if model is None else model
        raw = run_episode(model, episode)
        t = raw.tensors
        state = WIoUState(mean=self.wiou_mean, momentum=model.config.wiou_momentum)
        breakdown = compute_losses(
            raw.output, t.query_boxes, t.query_labels, wiou_state=state, training=False
        )
        return raw, breakdown

    @torch.no_grad()
    def predict(
        self,
        episode: Episode,
        score_threshold: float | None = None,
        nms_iou: float | None = None,
        overlooked: bool = True,
    ) -> EpisodeResult:
        """Returns the EpisodeResult of one forward pass over the queries and every clip frame; without each
        query's overlooked anchors when `overlooked` is False (scoring never reads them: 7% of an episode)."""
        flat = _flat(episode)
        if not flat.queries:
            return EpisodeResult(episode.index, episode.class_names, (), unavailable=("queries",))
        raw, breakdown = self._forward(flat)
        out, t, a = raw.output, raw.tensors, breakdown.assignment
        detections = postprocess(out, t.query_letterbox, score_threshold, nms_iou)
        counts = a.fg_mask.sum(1).tolist()  # positives per query, to split the (P,) Wise-IoU terms
        betas = breakdown.wiou_beta.split(counts)
        rs = breakdown.wiou_r.split(counts)
        strides = out.strides.float().cpu().numpy()
        results = []
        for q, (sample, det, lb) in enumerate(zip(flat.queries, detections, t.query_letterbox, strict=False)):
            anchor = a.fg_mask[q].nonzero(as_tuple=True)[0]  # (P,)
            assigned = Assigned(
                anchor=anchor.cpu().numpy().astype(np.int64),
                target=a.target_index[q, anchor].cpu().numpy().astype(np.int64),
                align_metric=a.align_metric[q, anchor].float().cpu().numpy(),
                iou=a.iou[q, anchor].float().cpu().numpy(),
                pred_boxes=_unletterbox_boxes(out.pred_boxes[q, anchor], lb),
            )
            results.append(
                QueryResult(
                    image_id=sample.image_id,
                    image_size=sample.size,
                    pred_boxes=det.boxes,
                    scores=det.scores,
                    labels=det.labels,
                    target_boxes=np.asarray(sample.boxes, np.float32).reshape(-1, 4),
                    target_labels=np.asarray(sample.labels, np.int64),
                    anchors=_unletterbox_points(out.anchors, lb),
                    strides=strides,
                    assigned=assigned,
                    wiou_beta=betas[q].float().cpu().numpy(),
                    wiou_r=rs[q].float().cpu().numpy(),
                    overlooked=self._overlooked(out, a, t, q) if overlooked else None,
                )
            )
        n = len(episode.queries)
        clips, start = [], n
        for clip in episode.clips:
            way = int(next((lab[0] for lab in (f.labels for f in clip.frames) if len(lab)), -1))
            clips.append(ClipResult(clip.clip_id, way, tuple(results[start : start + len(clip.frames)])))
            start += len(clip.frames)
        return EpisodeResult(
            episode.index,
            episode.class_names,
            tuple(results[:n]),
            tuple(clips),
            losses=_losses_record(breakdown),
        )

    def _overlooked(self, out: DetectorOutput, a: Assignment, t: EpisodeTensors, q: int) -> Overlooked:
        """Query q's high-IoU anchors the assigner left negative (model.assigner.overlooked_anchors)."""
        c = self.model.config
        found = overlooked_anchors(
            a.fg_mask[q],
            a.target_index[q],
            out.cls_logits[q].sigmoid(),
            out.pred_boxes[q],
            out.anchors,
            t.query_labels[q],
            t.query_boxes[q],
            c.alpha,
            c.beta,
        )
        anchor, target, iou, score, metric = (x.detach().cpu().numpy() for x in found)
        return Overlooked(
            anchor.astype(np.int64),
            target.astype(np.int64),
            iou.astype(np.float32),
            score.astype(np.float32),
            metric.astype(np.float32),
        )

    @torch.no_grad()
    def losses(self, episode: Episode) -> EpisodeLosses | None:
        """Returns the episode's losses (queries and clip frames), or None when it has no query."""
        flat = _flat(episode)
        return _losses_record(self._forward(flat)[1]) if flat.queries else None

    def gradient_norms(self, episode: Episode, batch_norm: str = "train") -> dict[str, float] | None:
        """Returns {weighted loss: L2 norm of its gradient on the backbone's parameters}, as training
        computes it.

        The backbone is shared by every loss, so these norms say which loss actually steers the features
        (a large weight on a loss with tiny gradients does little). With `batch_norm="train"` (the default)
        batch norm normalises with the episode's own statistics, as every training step does: measured on a
        demo episode, eval-mode statistics gave bbox 7.53 where training sees 10.06. It runs on a copy of the
        model, so inspecting never changes it (nor what another session predicts with it meanwhile). `"eval"`
        uses the running statistics (what inference sees); callers label which one they show.
        """
        measured = self._term_gradients(episode, batch_norm, "all")
        if measured is None:
            return None
        return {name: float(g.double().norm()) for name, g in measured[0].items()}

    def term_gradients(
        self, episode: Episode, batch_norm: str = "train", shared: SharedParameters = "last"
    ) -> TermGradients | None:
        """Returns each weighted loss's gradient on the shared parameters, flattened to one (P,) float32
        vector in parameter order, with the losses of that same forward pass; None when the episode has no
        query.

        shared="last": the backbone's output layers (`Backbone.output_layers`, the FPN convs every head
        reads; measured 2.2× cheaper than all, and on the demo's runs every term's share within 5 points of
        it); "all": every backbone and neck parameter, the vectors whose L2 norms `gradient_norms` gives.
        `batch_norm` as there: the losses are the ones that batch-norm mode gives (train: what a training
        step computes).
        """
        measured = self._term_gradients(episode, batch_norm, shared)
        if measured is None:
            return None
        grads, breakdown = measured
        vectors = {name: g.detach().float().cpu().numpy() for name, g in grads.items()}
        return TermGradients(vectors, _losses_record(breakdown))

    def _term_gradients(
        self, episode: Episode, batch_norm: str, shared: SharedParameters
    ) -> tuple[dict[str, torch.Tensor], LossBreakdown] | None:
        """({weighted loss: (P,) gradient on the backbone's trainable parameters, concatenated}, the losses of
        that forward); a loss that does not reach the backbone (or is a constant) gets zeros. See
        gradient_norms for `batch_norm`."""
        if batch_norm not in ("train", "eval"):
            raise ValueError(f"batch_norm is 'train' or 'eval', not {batch_norm!r}")
        flat = _flat(episode)
        if not flat.queries:
            return None
        # A copy: train mode updates batch norm's running statistics, and the app shares one loaded model
        # between sessions that may predict with it meanwhile (a ~600k-parameter copy costs milliseconds).
        model = copy.deepcopy(self.model).train(batch_norm == "train")
        layers = model.backbone if shared == "all" else model.backbone.output_layers()
        params = [p for p in layers.parameters() if p.requires_grad]
        with torch.enable_grad():
            breakdown = self._forward(flat, model)[1]
            out = {}
            for name, loss in breakdown.weighted.items():
                grads: Sequence[torch.Tensor | None] = [None] * len(params)
                if loss.requires_grad:  # not e.g. CPE with no proposal above its IoU gate: a constant
                    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
                parts = [
                    (torch.zeros_like(p) if g is None else g).reshape(-1)
                    for p, g in zip(params, grads, strict=True)
                ]
                out[name] = torch.cat(parts) if parts else torch.zeros(0)  # (P,)
        return out, breakdown


# ---------------------------------------------------------------------------------------------- registry

Factory = Callable[[str], Detector]  # factory(checkpoint_path) -> Detector


ADAPTERS: Registry[Factory] = Registry("adapter")
ADAPTERS.add("reference", ReferenceDetector)
BUILT_IN_ADAPTERS = frozenset(ADAPTERS.names())  # what a fresh interpreter knows by name


def register_adapter(name: str, factory: Factory) -> None:
    """Makes `factory(checkpoint_path) -> Detector` loadable as load_detector(path, name)."""
    ADAPTERS.add(name, factory)


def _import_factory(spec: str) -> Factory:
    module_name, _, attr = spec.partition(":")
    if not module_name.strip() or not attr.strip():
        raise InspectorError(f"adapter {spec!r} is not 'package.module:factory'")
    try:
        module = importlib.import_module(module_name.strip())
    except Exception as exc:  # noqa: BLE001 — any failure while importing user code is the user's to fix
        raise InspectorError(
            f"cannot import the adapter module {module_name!r} ({type(exc).__name__}: {exc})"
        ) from None
    factory: Any = module
    for part in attr.strip().split("."):
        if not hasattr(factory, part):
            raise InspectorError(f"the adapter module {module_name!r} has no attribute {attr!r}")
        factory = getattr(factory, part)
    if not callable(factory):
        raise InspectorError(
            f"adapter {spec!r} is not callable (expected factory(checkpoint_path) -> Detector)"
        )
    return factory


def resolve_adapter(spec: str, allowed: Collection[str] | None = None) -> Factory:
    """Returns the factory a spec names: a registered name or 'package.module:factory'.

    `allowed` (the app passes INSPECTOR_ADAPTERS) limits which user specs may be imported: importing a
    module named in a web form would let a visitor run any importable callable on the server.
    """
    spec = (spec or DEFAULT_ADAPTER).strip()
    if spec in ADAPTERS:
        return ADAPTERS.get(spec)
    if ":" not in spec:
        raise InspectorError(
            f"unknown adapter {spec!r}; built in: {', '.join(ADAPTERS.names())}, "
            "or name your own as 'package.module:factory'"
        )
    if allowed is not None and spec not in allowed:
        raise InspectorError(
            f"adapter {spec!r} is not allowed on this server; the operator lists allowed "
            "adapters in INSPECTOR_ADAPTERS (comma-separated)"
        )
    return _import_factory(spec)


def allowed_adapters() -> tuple[str, ...]:
    """The user adapter specs this server allows (INSPECTOR_ADAPTERS, comma-separated)."""
    return tuple(s.strip() for s in os.environ.get("INSPECTOR_ADAPTERS", "").split(",") if s.strip())


def load_detector(
    checkpoint_path: str | os.PathLike, adapter: str = DEFAULT_ADAPTER, allowed: Collection[str] | None = None
) -> Detector:
    """Returns the Detector that adapter `adapter` makes of the checkpoint; InspectorError when it cannot."""
    factory = resolve_adapter(adapter, allowed)
    try:
        detector = factory(os.fspath(checkpoint_path))
    except InspectorError:
        raise
    except Exception as exc:  # noqa: BLE001 — a failing user factory is reported, not a crash
        raise InspectorError(
            f"adapter {adapter!r} failed to load it ({type(exc).__name__}: {exc})", path=checkpoint_path
        ) from None
    if not getattr(detector, "name", None):
        try:  # `name` is optional for an adapter (README): the spec it was loaded by names it
            detector.name = adapter
        except (AttributeError, TypeError):
            pass
    if not isinstance(detector, Detector):
        raise InspectorError(
            f"adapter {adapter!r} returned {type(detector).__name__}, not a Detector "
            "(needs class_names and predict(episode, score_threshold, nms_iou))"
        )
    return detector


# ---------------------------------------------------------------------------------------------- running


def _check_query(q: Any, adapter: str) -> None:
    if not isinstance(q, QueryResult):
        raise InspectorError(
            f"adapter {adapter!r} returned {type(q).__name__} for a query, not a QueryResult"
        )
    n = len(q.scores)
    if np.shape(q.pred_boxes) != (n, 4) or len(q.labels) != n:
        raise InspectorError(
            f"adapter {adapter!r}: query {q.image_id!r} has pred_boxes of shape "
            f"{np.shape(q.pred_boxes)} for {n} scores and {len(q.labels)} labels"
        )


def inspect_episode(
    detector: Detector,
    episode: Episode,
    score_threshold: float | None = None,
    nms_iou: float | None = None,
    gradients: bool = True,
    overlooked: bool = True,
) -> EpisodeResult:
    """Returns the detector's EpisodeResult with losses and gradient norms filled in where it offers them,
    and `unavailable` naming every field it could not provide. overlooked=False spares the reference
    detector its overlooked anchors (QueryResult.overlooked stays None), for callers that never read them."""
    if not overlooked and type(detector).predict is ReferenceDetector.predict:  # not a subclass's own
        result = cast(ReferenceDetector, detector).predict(
            episode, score_threshold, nms_iou, overlooked=False
        )
    else:
        result = detector.predict(episode, score_threshold, nms_iou)
    if not isinstance(result, EpisodeResult):
        raise InspectorError(
            f"adapter {detector.name!r} returned {type(result).__name__}, not an EpisodeResult"
        )
    for q in result.all_queries():
        _check_query(q, detector.name)
    losses, norms = result.losses, result.gradient_norms
    if losses is None and callable(getattr(detector, "losses", None)):
        # `losses` is an optional extra that Detector (a Protocol) does not declare; checked callable above
        losses = cast(Any, detector).losses(episode)
    if gradients and norms is None and callable(getattr(detector, "gradient_norms", None)):
        norms = cast(Any, detector).gradient_norms(episode)  # optional extra, as `losses` above
    queries = result.all_queries()
    missing = [
        name
        for name, absent in (
            ("clip results", len(result.clips) < len(episode.clips)),
            ("anchors", any(q.anchors is None for q in queries)),
            ("assignment", any(q.assigned is None for q in queries)),
            ("Wise-IoU β and r", any(q.wiou_beta is None for q in queries)),
            ("losses", losses is None),
            ("gradient norms", gradients and norms is None),
        )
        if absent
    ]
    unavailable = tuple(dict.fromkeys([*result.unavailable, *missing]))
    loaded = getattr(detector, "warnings", ())
    loaded = tuple(str(w) for w in loaded) if isinstance(loaded, (tuple, list)) else ()
    warnings = tuple(dict.fromkeys([*loaded, *result.warnings]))
    return dataclasses.replace(
        result, losses=losses, gradient_norms=norms, unavailable=unavailable, warnings=warnings
    )
