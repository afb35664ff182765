"""Frames by appearance: small grey thumbnails, and k-means over them.

Frame selection (``labeling.frames``: diverse frames to label) and active learning
(``qc.suggest``: the least certain frames, made diverse) both group frames by how they look:
each frame becomes a :func:`thumbnail`, the thumbnails are reduced by a PCA (to at most 32
dimensions) and k-means splits them into ``n`` clusters (:func:`cluster_by_appearance`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def thumbnail(frame: np.ndarray, size: tuple[int, int] = (32, 32)) -> np.ndarray:
    """A small greyscale copy of ``frame`` by block averaging.

    Parameters
    ----------
    frame
        Shape (H, W) or (H, W, C).
    size
        (height, width) of the thumbnail; clipped to the frame size.

    Returns
    -------
    numpy.ndarray
        Shape ``size`` (clipped), float32 in the frame's value range.
    """
    frame = frame if frame.ndim == 3 else frame[..., None]
    th, tw = min(size[0], frame.shape[0]), min(size[1], frame.shape[1])
    bh, bw = frame.shape[0] // th, frame.shape[1] // tw
    blocks = frame[: th * bh, : tw * bw].reshape(th, bh, tw, bw, frame.shape[2])
    # integer sums are ~10x faster than a float mean over a full-size frame
    total = blocks.sum(axis=(1, 3, 4), dtype=np.uint64 if frame.dtype.itemsize > 1 else np.uint32)
    return total.astype(np.float32) / np.float32(bh * bw * frame.shape[2])


@dataclass(frozen=True)
class AppearanceClusters:
    """The k-means clusters of ``m`` items.

    Attributes
    ----------
    labels : numpy.ndarray
        (m,) cluster of each item, ``0 .. n-1``.
    distance : numpy.ndarray
        (m,) distance of each item to its cluster's centre (in the reduced space).
    """

    labels: np.ndarray
    distance: np.ndarray

    def nearest_to_centres(self) -> np.ndarray:
        """Index of the item nearest each cluster's centre, by cluster (empty ones skipped)."""
        picked = []
        for c in range(int(self.labels.max(initial=-1)) + 1):
            members = np.flatnonzero(self.labels == c)
            if len(members):
                picked.append(members[np.argmin(self.distance[members])])
        return np.asarray(picked, dtype=int)


def cluster_by_appearance(features: np.ndarray, n: int, seed: int = 0) -> AppearanceClusters:
    """Cluster ``m`` items by appearance into ``n`` groups: PCA to <= 32 dims, then k-means.

    Parameters
    ----------
    features
        (m, ...) one row per item, e.g. thumbnails (m, h, w); flattened to (m, d).
    n
        Clusters wanted (``n <= m``).
    seed
        Seed of the PCA and of k-means; the same seed and features give the same clusters.
    """
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from threadpoolctl import threadpool_limits

    x = np.asarray(features, dtype=np.float32).reshape(len(features), -1)
    x = x - x.mean(axis=0)
    n_components = min(32, x.shape[0] - 1, x.shape[1])
    # one thread: the problem is small (<= a few thousand x 32) and threads only contend
    with threadpool_limits(limits=1):
        if n_components >= 2:
            x = PCA(n_components=n_components, random_state=seed).fit_transform(x)
        km = KMeans(n_clusters=n, n_init=3, random_state=seed).fit(x)
    distance = np.linalg.norm(x - km.cluster_centers_[km.labels_], axis=1)
    return AppearanceClusters(km.labels_, distance)
