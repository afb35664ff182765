"""Two processes hammer one CollectedData.csv with every kind of write the plugin does:
frame selection, adding rows, the labeling dock's merge-save of a stale copy, and Label
these' update. No row and no edit is lost, and no write happens outside the lock or
overlaps another (scripts in both processes check that at every write)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from napari_lightning_pose.io.labels import frame_labels, read_labels

ROUNDS = 8

# One hammering process: ``argv`` = project config, its video, its tag, the report to write.
_HAMMER = """
import json, os, sys, time
from pathlib import Path
import numpy as np
from napari_lightning_pose.labeling.frames import pick_frames
from napari_lightning_pose.io import label_merge, labels as labels_io, lock
from napari_lightning_pose.labeling.project import Project

config, video, tag, report, rounds = sys.argv[1:6]
proj = Project.open(config)
csv = proj.csv_path
names = proj.keypoint_names
problems, picked, extra = [], [], []
real_write = labels_io.write_labels

def checked_write(df, path, *args, **kwargs):
    # every write of the labels: by the thread that holds their lock, and by one process only
    if Path(path).resolve() == csv.resolve():
        if not lock._held_by_me(lock.lock_path(csv).resolve()):
            problems.append(f"{tag}: wrote {path} without the lock")
        inside = csv.with_name("writing-now")
        try:
            fd = os.open(inside, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            problems.append(f"{tag}: two processes wrote at once")
            return real_write(df, path, *args, **kwargs)
        try:
            time.sleep(0.002)  # widen the window a second writer would slip into
            return real_write(df, path, *args, **kwargs)
        finally:
            os.close(fd)
            os.unlink(inside)
    return real_write(df, path, *args, **kwargs)

labels_io.write_labels = checked_write
label_merge.write_labels = checked_write

for i in range(int(rounds)):
    picked += pick_frames(proj, video, 1, method="uniform", context=0)  # frame selection
    row = f"labeled-data/extra_{tag}/img{i:03d}.png"
    proj.add_frames([row])  # new rows, as Label these / imports add them
    extra.append(row)
    # the labeling dock: a copy read a while ago, edited, merged with the file as it is now
    base = labels_io.read_labels(csv, names)
    time.sleep(0.005)
    mine = labels_io.set_frame_labels(base, row, {names[0]: (float(i), float(len(tag)))})
    with lock.hold_lock(csv, "the labeling dock", timeout=30):
        label_merge.merge_into_file(csv, base, mine, names)
    # Label these: the row as it is now, plus one confirmed point, merged in as a whole row
    with lock.hold_lock(csv, "confirming labels", timeout=30):
        xy = labels_io.frame_labels(labels_io.read_labels(csv, names), row)
        xy[1] = (i + 0.5, float(len(tag)))
        new = labels_io.set_frame_labels(labels_io.empty_labels(names), row, xy)
        labels_io.update_labels_file(csv, new, names)

Path(report).write_text(json.dumps({"problems": problems, "picked": picked, "extra": extra}))
"""


def test_two_processes_lose_no_row_and_no_edit(tmp_path: Path, blob_tools) -> None:
    config = blob_tools.make_project(
        tmp_path / "proj", n_frames=2, height=40, width=48, resize=32, n_video_frames=40
    )
    videos = tmp_path / "proj" / "videos"
    shutil.copy(videos / "blobs.mp4", videos / "blobs_b.mp4")
    script = tmp_path / "hammer.py"
    script.write_text(_HAMMER, encoding="utf-8")
    procs = {}
    for tag, video in (("a", "blobs.mp4"), ("bb", "blobs_b.mp4")):
        argv = [str(config), str(videos / video), tag, str(tmp_path / f"{tag}.json"), str(ROUNDS)]
        procs[tag] = subprocess.Popen(
            [sys.executable, str(script), *argv], stderr=subprocess.PIPE, text=True
        )
    for proc in procs.values():
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
    reports = {tag: json.loads((tmp_path / f"{tag}.json").read_text()) for tag in procs}
    assert [p for r in reports.values() for p in r["problems"]] == []

    labels = read_labels(tmp_path / "proj" / "CollectedData.csv")
    names = list(dict.fromkeys(labels.columns.get_level_values("bodyparts")))
    original = ["labeled-data/img00000.png", "labeled-data/img00001.png"]
    picked = [row for r in reports.values() for row in r["picked"]]
    extra = [row for r in reports.values() for row in r["extra"]]
    assert len(picked) == len(extra) == 2 * ROUNDS
    assert sorted(labels.index) == sorted(original + picked + extra)  # no row lost or doubled
    for tag, report in reports.items():
        for i, row in enumerate(report["extra"]):  # no edit lost
            xy = frame_labels(labels, row)
            np.testing.assert_array_equal(xy[names.index(names[0])], [i, len(tag)])
            np.testing.assert_array_equal(xy[names.index(names[1])], [i + 0.5, len(tag)])
    for row in original:  # what was there before is untouched
        assert np.isfinite(frame_labels(labels, row)).all()
