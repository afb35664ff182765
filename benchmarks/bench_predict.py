"""Video inference throughput against the decode-only ceiling, with and without speed-ups.

For the mirror-mouse clip (default: the bundled ``test_vid.mp4``, 396 x 406) this measures:

- ``decode only``: ``VideoReader.iter_frames`` alone, the ceiling for any prediction;
- ``decode + preprocess``: plus batching, resize to 256 x 256 and normalisation
  (``data.transforms.to_model_input``), still no network;
- ``predict_video`` end to end (decode in a thread, network, CSV writing) for each backbone
  and variant: ``float32`` (NCHW), ``amp`` (bf16 autocast; fp16 on GPUs without bf16),
  ``channels_last`` (NHWC, float32), ``amp + channels_last``, ``compile``
  (``torch.compile``; its first run, which compiles, is reported separately);
- ``network only``: the forward pass on ready batches under ``torch.no_grad`` vs
  ``torch.inference_mode``, to show what that choice is worth.

``predict_video``'s default is float32 on a GPU; on a CPU ``channels_last``, with ``amp``
too where the CPU has native bf16 (the table's header says which applies here). Backbone
weights are random (speed does not depend on them; nothing downloads). The ratio column is
inference time over decode-only time (1.0 = as fast as decoding).

Run from the repository root::

    python benchmarks/bench_predict.py --frames 160                  # quick CPU check
    python benchmarks/bench_predict.py --device cuda --compile       # GPU, whole clip
    python benchmarks/bench_predict.py --video ../shared/data/mirror-mouse-example/videos/\
test_vid.mp4
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch

from napari_lightning_pose import SAMPLE_DIR as SAMPLE
from napari_lightning_pose.data.transforms import to_model_input
from napari_lightning_pose.inference.predict import predict_video
from napari_lightning_pose.inference.predict_options import InferenceOptions
from napari_lightning_pose.io.config import load_config
from napari_lightning_pose.io.video import VideoReader
from napari_lightning_pose.models.factory import build_model

REPO = Path(__file__).resolve().parents[1]


def trim_video(src: Path, dst: Path, frames: int) -> Path:
    """Copy the first ``frames`` packets of ``src`` to ``dst`` without re-encoding."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream_in = inp.streams.video[0]
        stream_out = out.add_stream_from_template(stream_in)
        count = 0
        for packet in inp.demux(stream_in):
            if packet.dts is None:
                continue
            packet.stream = stream_out
            out.mux(packet)
            count += 1
            if count >= frames:
                break
    return dst


def time_decode(video: Path, resize_hw: tuple[int, int] | None, batch: int) -> tuple[float, int]:
    """Seconds to decode (and optionally preprocess) the whole video, and its frame count."""
    start = time.perf_counter()
    n = 0
    with VideoReader(video) as reader:
        frames = []
        for _, frame in reader.iter_frames():
            n += 1
            if resize_hw is None:
                continue
            frames.append(frame)
            if len(frames) == batch:
                to_model_input(np.stack(frames), resize_hw)
                frames = []
        if frames and resize_hw is not None:
            to_model_input(np.stack(frames), resize_hw)
    return time.perf_counter() - start, n


def time_predict(model, cfg, video: Path, options: InferenceOptions) -> float:
    """Seconds for ``predict_video`` over the whole video (CSV written to a temp folder)."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        for _ in predict_video((model, cfg), video, Path(tmp) / "p.csv", options=options):
            pass
        if options.device and str(options.device).startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - start


def time_network(model, batch: torch.Tensor, repeats: int, inference_mode: bool) -> float:
    """Median seconds per forward pass on a ready batch."""
    ctx = torch.inference_mode if inference_mode else torch.no_grad
    times = []
    with ctx():
        for i in range(repeats + 1):
            start = time.perf_counter()
            model(batch)
            if batch.is_cuda:
                torch.cuda.synchronize()
            if i:  # the first pass is warm-up
                times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=SAMPLE / "videos" / "test_vid.mp4")
    parser.add_argument("--frames", type=int, default=0, help="use only the first N frames")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--backbones", nargs="+", default=["resnet18", "resnet50"])
    parser.add_argument("--compile", action="store_true", help="also try torch.compile")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=5, help="network-only repeats")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cuda = device.type == "cuda"

    with tempfile.TemporaryDirectory() as tmp:
        video = args.video
        if args.frames:
            video = trim_video(video, Path(tmp) / f"first{args.frames}.mp4", args.frames)
        resize_hw = (args.size, args.size)
        # decoding warms the file cache first; then the measured passes
        time_decode(video, None, args.batch)
        decode_s, n = time_decode(video, None, args.batch)
        prep_s, _ = time_decode(video, resize_hw, args.batch)

        rows = [("decode only", "-", decode_s), ("decode + preprocess", "-", prep_s)]
        net_rows = []
        cfg = load_config(SAMPLE / "config.yaml")
        cfg["data"]["image_resize_dims"] = {"height": args.size, "width": args.size}
        for backbone in args.backbones:
            cfg["model"].update(backbone=backbone, backbone_weights=None)
            torch.manual_seed(0)
            model = build_model(cfg).eval().to(device)
            base = {"batch_size": args.batch, "device": device}
            # order matters: channels_last converts the model's weights in place
            variants = {
                "float32": InferenceOptions(**base, amp=False, channels_last=False),
                "amp": InferenceOptions(**base, amp=True, channels_last=False),
                "channels_last": InferenceOptions(**base, amp=False, channels_last=True),
                "amp + channels_last": InferenceOptions(**base, amp=True, channels_last=True),
            }
            time_predict(model, cfg, video, variants["float32"])  # warm-up (cuDNN, caches)
            for name, options in variants.items():
                rows.append(
                    (f"predict_video {name}", backbone, time_predict(model, cfg, video, options))
                )
            if args.compile:
                options = InferenceOptions(**base, compile=True)
                first = time_predict(model, cfg, video, options)
                again = time_predict(model, cfg, video, options)
                rows.append(("predict_video compile (1st run)", backbone, first))
                rows.append(("predict_video compile", backbone, again))
            batch = torch.randn(args.batch, 3, args.size, args.size, device=device)
            for mode in (False, True):
                s = time_network(model, batch, args.repeats, inference_mode=mode)
                label = "inference_mode" if mode else "no_grad"
                net_rows.append((f"network only, {label}", backbone, args.batch / s))

    name = (
        torch.cuda.get_device_name(device) if cuda else f"CPU, {torch.get_num_threads()} threads"
    )
    default = "amp (bf16)" if InferenceOptions().amp_dtype(device) else "float32"
    if InferenceOptions().use_channels_last(device):
        default += " + channels_last"
    print(
        f"\n{video.name if not args.frames else args.video.name + f' (first {n} frames)'}: "
        f"{n} frames, {name}, batch {args.batch}, input {args.size}x{args.size}; "
        f"predict_video's default here: {default}\n"
    )
    print("| stage | backbone | frames / s | x decode-only time |")
    print("|---|---|---|---|")
    for stage, backbone, seconds in rows:
        print(f"| {stage} | {backbone} | {n / seconds:.1f} | {seconds / decode_s:.2f} |")
    for stage, backbone, fps in net_rows:
        print(f"| {stage} | {backbone} | {fps:.1f} | - |")


if __name__ == "__main__":
    main()
