"""What an unsupervised loss weight means: its pull on a keypoint next to a label's pull.

Lightning Pose weighs every loss by ``1 / (2 exp(log_weight))`` (the supervised heatmap loss
by 1/2, ``log_weight`` 0). The number only means something next to the supervised loss, and
that depends on the heatmap loss type, ``losses.heatmap_sigma``, the heatmap size and the
original frame size: the unsupervised losses are in original pixels, the heatmap loss in
heatmap pixels. The same ``log_weight`` is 20x stronger under ``mse`` than under ``kl``, and
twice as strong at 128 px input as at 256 px.

The **strength** of an unsupervised loss removes those factors: strength 1 means one pixel
of unsupervised error (beyond the loss's epsilon) pulls on a keypoint as hard as a label
pulls on a prediction that is one heatmap sigma away from it, i.e. the slope of the
weighted supervised loss at a 1-sigma miss, in original pixels (``label_pull_per_px``):

    weight = strength * label_pull_per_px(cfg)

Both losses are means over keypoints (labeled keypoints of the batch; keypoints of the
unlabeled clip's frames), so the two pulls act on one keypoint of one frame each. At
Lightning Pose's mirror-mouse settings (``mse``, sigma 1.25, 64 x 64 heatmaps of 396 x 406
frames) a label's pull is 0.0025 per original pixel: Lightning Pose's ``log_weight`` 5
(weight 0.0034, the paper's value) is strength 1.3, its shipped 10.7 (weight 1.1e-5) is
strength 0.004.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from napari_lightning_pose.losses.names import SUPERVISED_LOG_WEIGHT


def weight_of(log_weight: float) -> float:
    """Lightning Pose's ``1 / (2 exp(log_weight))``."""
    return 1.0 / (2.0 * math.exp(log_weight))


def heatmap_slope(kind: str, sigma: float, size: int = 64) -> float:
    """Slope (per heatmap pixel) of the unweighted heatmap loss of one keypoint whose
    predicted map is the target's Gaussian shifted by one sigma.

    Where the map holds the Gaussian and its pixels sample it finely (``1 <= sigma <= size /
    8``: Lightning Pose's sigma 1.25 on any map of 16 px or more) the sums over pixels are the
    integrals, so the slope is the losses' closed form (mse: ``exp(-1/4) / (4 pi sigma^3)``,
    kl: ``1 / sigma``; within 0.5 % of ``discrete_heatmap_slope``, tested) and choosing a
    project in the Train dock needs no torch. Otherwise the discrete maps decide.
    """
    if 1.0 <= sigma <= size / 8:
        if kind == "mse":
            return math.exp(-0.25) / (4 * math.pi * sigma**3)
        if kind == "kl":
            return 1.0 / sigma
    return discrete_heatmap_slope(kind, sigma, size)


def discrete_heatmap_slope(kind: str, sigma: float, size: int = 64) -> float:
    """``heatmap_slope`` on the discrete maps the losses see (``data.heatmaps``, normalised to
    sum 1), by a central difference of the loss itself, so it follows the implementation."""
    import torch  # here, not at the top: the Train dock imports this module when it opens

    from napari_lightning_pose.data.heatmaps import gaussian_heatmaps
    from napari_lightning_pose.losses.factory import HEATMAP_LOSSES

    loss = HEATMAP_LOSSES[kind]()
    centre = (size - 1) / 2.0
    target = gaussian_heatmaps(torch.tensor([[[centre, centre]]]), (size, size), sigma)
    batch = {"heatmaps": target, "keypoints": torch.tensor([[[centre, centre]]])}

    def value(shift: float) -> float:
        kp = torch.tensor([[[centre + shift, centre]]])
        pred = gaussian_heatmaps(kp, (size, size), sigma).clamp_min(1e-12)
        return float(loss.compute({"heatmaps": pred / pred.sum((-2, -1), keepdim=True)}, batch))

    step = 1e-2 * sigma
    return (value(sigma + step) - value(sigma - step)) / (2 * step)


def original_px_per_heatmap_px(cfg: Mapping[str, Any]) -> float:
    """Original frame pixels per heatmap pixel (geometric mean of x and y).

    Uses ``data.image_orig_dims``; when the config does not give it, the resized frame is
    taken as the original (scale 1 between them).
    """
    data = cfg["data"]
    stride = 2 ** int(data["downsample_factor"])
    resize = data["image_resize_dims"]
    orig = data.get("image_orig_dims") or {}
    h = orig.get("height") or resize["height"]
    w = orig.get("width") or resize["width"]
    return stride * math.sqrt(h / resize["height"] * w / resize["width"])


def label_pull_per_px(cfg: Mapping[str, Any]) -> float:
    """Slope of the weighted supervised loss at a 1-sigma miss, per original pixel."""
    data = cfg["data"]
    hm = min(data["image_resize_dims"].values()) // 2 ** int(data["downsample_factor"])
    slope = heatmap_slope(
        cfg["model"]["heatmap_loss_type"], float(cfg["losses"]["heatmap_sigma"]), max(hm, 16)
    )
    return weight_of(SUPERVISED_LOG_WEIGHT) * slope / original_px_per_heatmap_px(cfg)


def strength_of(log_weight: float, cfg: Mapping[str, Any]) -> float:
    """The strength (see module docstring) of an unsupervised loss at ``log_weight``."""
    return weight_of(log_weight) / label_pull_per_px(cfg)


def log_weight_for(strength: float, cfg: Mapping[str, Any]) -> float:
    """The ``log_weight`` that gives an unsupervised loss ``strength`` under ``cfg``."""
    if strength <= 0:
        raise ValueError(f"strength must be > 0, got {strength}")
    return -math.log(2.0 * strength * label_pull_per_px(cfg))


#: Our defaults for the unsupervised losses' strengths (the Train dock, the demo, ``init``,
#: the sample config), chosen by ``benchmarks/paper_claims.py`` (README "Loss balance, context
#: cost and the paper's claim"): at 0.25 a semi-supervised model was as accurate as supervised
#: on validation frames with 5.6x fewer jumps; at 1 it was 0.6-0.9 px less accurate.
DEFAULT_STRENGTHS = {"temporal": 0.25, "pca_singleview": 0.25, "pca_multiview": 0.25}
