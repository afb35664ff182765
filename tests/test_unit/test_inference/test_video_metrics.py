"""Video metrics written by ``predict`` beside the predictions: names, layout, values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from napari_lightning_pose.inference.predict import predict_video
from napari_lightning_pose.inference.predict_options import InferenceOptions
from napari_lightning_pose.inference.video_metrics import fits_for_model, read_video_metric
from napari_lightning_pose.io.config import load_config
from napari_lightning_pose.io.pose_csv import coords_array, read_pose_csv

NAMES = ["red", "green"]


class BlobOracle(nn.Module):
    """Finds the red and the green blob exactly (intensity-weighted centroid of the model
    input), so predictions are the true positions to a fraction of a pixel."""

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        r, g = images[:, 0], images[:, 1]
        maps = torch.stack([torch.relu(r - g - 1.0), torch.relu(g - r - 1.0)], dim=1)
        total = maps.sum(dim=(-2, -1)).clamp_min(1e-9)
        x = (maps.sum(dim=-2) * torch.arange(maps.shape[-1])).sum(-1) / total
        y = (maps.sum(dim=-1) * torch.arange(maps.shape[-2])).sum(-1) / total
        like = torch.full(x.shape, 0.9)
        return {"heatmaps": maps, "keypoints": torch.stack([x, y], dim=-1), "likelihood": like}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, blob_tools) -> Path:
    """A blob project (96 x 80 video, 64 px model input) whose config names both PCAs."""
    root = tmp_path_factory.mktemp("metrics") / "blobs"
    return blob_tools.make_project(
        root,
        n_frames=30,
        n_video_frames=25,
        **{
            "data.columns_for_singleview_pca": [0, 1],
            "data.mirrored_column_matches": [[0], [1]],
            "losses.pca_singleview.components_to_keep": 2,
        },
    )


def _predict(project: Path, video: Path, out: Path) -> dict[str, Path]:
    options = InferenceOptions(batch_size=8, device="cpu", amp=False)
    events = list(predict_video((BlobOracle(), load_config(project)), video, out, options=options))
    assert events[-1].kind == "done"
    names = ("temporal_norm", "pca_singleview_error", "pca_multiview_error")
    return {name: out.with_name(f"{out.stem}_{name}.csv") for name in names}


def test_metric_files_beside_predictions_one_column_per_keypoint(
    project: Path, tmp_path: Path
) -> None:
    video = project.parent / "videos" / "blobs.mp4"
    out = tmp_path / "preds" / "blobs.csv"
    paths = _predict(project, video, out)
    truth = np.load(project.parent / "videos" / "blobs_positions.npy")  # (25, 2, 2) px
    for path in paths.values():
        assert path.is_file(), path
        head = path.read_text().splitlines()[0]
        assert head == "frame,red,green"  # one header row, index column "frame"
        table = read_video_metric(path)
        assert list(table.index) == list(range(25)) and list(table.columns) == NAMES

    # temporal norm: the blobs' true displacement between frames, in ORIGINAL pixels
    norm = read_video_metric(paths["temporal_norm"]).to_numpy()
    assert np.isnan(norm[0]).all()
    true_jump = np.linalg.norm(np.diff(truth, axis=0), axis=-1)
    assert true_jump.mean() > 10  # the blobs jump about, so a scaling slip would show
    np.testing.assert_allclose(norm[1:], true_jump, atol=1.2)

    # PCA errors: those of the true poses under the project's fits, again in original px
    fits = fits_for_model(load_config(project), {})
    assert set(fits) == {"pca_singleview", "pca_multiview"}
    for name, fit in fits.items():
        errors = read_video_metric(paths[f"{name}_error"]).to_numpy()
        expected = fit.errors(truth)
        assert errors.shape == expected.shape and np.isfinite(errors).all()
        assert expected.max() > 2  # random poses are off any subspace: not trivially 0
        np.testing.assert_allclose(errors, expected, atol=1.5)
    predicted = coords_array(read_pose_csv(out, ("x", "y", "likelihood")))
    assert predicted.shape == truth.shape


def test_temporal_norm_is_about_zero_on_a_still_video(
    project: Path, tmp_path: Path, blob_tools
) -> None:
    still = np.repeat(blob_tools.positions(1, 80, 96, seed=5), 12, axis=0)
    video = blob_tools.write_video(tmp_path / "still.mp4", blob_tools.frames(still, 80, 96))
    paths = _predict(project, video, tmp_path / "still.csv")
    norm = read_video_metric(paths["temporal_norm"]).to_numpy()
    assert np.isnan(norm[0]).all() and np.isfinite(norm[1:]).all()
    assert norm[1:].max() < 0.3  # H.264 leaves still frames a little different, no more


def test_keypoints_outside_a_pca_are_nan(tmp_path: Path, blob_tools) -> None:
    config = blob_tools.make_project(
        tmp_path / "blobs",
        n_frames=30,
        n_video_frames=10,
        **{"data.columns_for_singleview_pca": [1], "losses.pca_singleview.components_to_keep": 1},
    )
    video = config.parent / "videos" / "blobs.mp4"
    paths = _predict(config, video, tmp_path / "blobs.csv")
    single = read_video_metric(paths["pca_singleview_error"])
    assert single["red"].isna().all() and single["green"].notna().all()
    assert not paths["pca_multiview_error"].exists()  # no mirrored_column_matches: no file
