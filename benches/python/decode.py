"""The decode benchmark's peers: the clips of CLIPS_JSON (video, start) as
16 frames resized to 112x112, by every decoder the venv has (TorchCodec,
PyAV, decord), with THREADS worker threads each. Prints one JSON object:
clips per second by decoder, or why a decoder was left out.

usage: decode.py CLIPS_JSON THREADS
"""

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import torch
import torch.nn.functional as F

spec = json.load(open(sys.argv[1]))
threads = int(sys.argv[2])
torch.set_num_threads(1)
videos, clips = spec["videos"], spec["clips"]
frames, size = spec["frames"], spec["size"]


def resized(x):
    # T x H x W x C uint8 -> C x T x size x size float in [0, 1]
    x = x.permute(0, 3, 1, 2).float().div_(255)
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x.permute(1, 0, 2, 3)


def torchcodec_clip(job):
    from torchcodec.decoders import VideoDecoder

    v, start = job
    d = VideoDecoder(videos[v], seek_mode="approximate", num_ffmpeg_threads=1)
    batch = d.get_frames_in_range(start, start + frames)
    return resized(batch.data.permute(0, 2, 3, 1))


def pyav_clip(job):
    import av

    v, start = job
    with av.open(videos[v]) as c:
        s = c.streams.video[0]
        s.thread_type = "NONE"
        rate = float(s.average_rate)
        c.seek(int((start - 0.5) / rate / s.time_base) if start else 0, stream=s, backward=True)
        out = []
        for f in c.decode(s):
            i = round(float(f.pts * s.time_base) * rate)
            if i >= start:
                out.append(torch.from_numpy(f.to_ndarray(format="rgb24")))
            if len(out) == frames:
                break
    return resized(torch.stack(out))


def decord_clip(job):
    import decord

    v, start = job
    r = decord.VideoReader(videos[v], num_threads=1)
    x = r.get_batch(list(range(start, start + frames))).asnumpy()
    return resized(torch.from_numpy(x))


result = {}
for name, fn, module in [
    ("torchcodec", torchcodec_clip, "torchcodec.decoders"),
    ("pyav", pyav_clip, "av"),
    ("decord", decord_clip, "decord"),
]:
    try:
        __import__(module)
        fn(clips[0])
    except Exception as e:  # not installed, or not working with this torch/FFmpeg
        result[name + "_skipped"] = f"{type(e).__name__}: {e}"[:200]
        continue
    t = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for x in pool.map(fn, clips):
            assert x.shape == (3, frames, size, size)
    result[name] = len(clips) / (time.perf_counter() - t)
print(json.dumps(result))
