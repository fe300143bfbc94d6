"""CPU cost of importing a 60 s MP3, against a bare ffmpeg conversion in the same run.

    python bench/audio_convert.py [--seconds 60] [--runs 3]

Our cost is this process's CPU (pydub, hashing, WAV writing) plus the CPU of the ffmpeg child,
read from resource.getrusage(RUSAGE_CHILDREN). The baseline is
``ffmpeg -i in.mp3 -ar 8000 -ac 1 out.wav``: one output where we produce two (8 and 16 kHz)
plus trimming and loudness. Goal: under 1 s CPU for 60 s of audio. The last line holds the
figures as key=value.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.filterwarnings("ignore", message="'audioop' is deprecated", category=DeprecationWarning)

from ari_app.audio.convert import import_sound  # noqa: E402


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def make_mp3(dest: Path, seconds: float) -> None:
    """A typical user upload: 44.1 kHz stereo 128 kb/s, 1 s of silence, then a warbling tone with noise."""
    expr = "if(lt(t,1),0,0.4*sin(2*PI*(300+80*sin(2*PI*3*t))*t)+0.05*(random(0)-0.5))"
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"aevalsrc=exprs='{expr}':s=44100:d={seconds}",
        ]
        + ["-ac", "2", "-c:a", "libmp3lame", "-b:a", "128k", str(dest)],
        check=True,
        timeout=120,
    )


def measure_import(src: Path, work: Path, run: int) -> tuple[float, float]:
    """(total CPU s, wall s) for one import into a fresh directory."""
    c0, p0, w0 = _children_cpu(), time.process_time(), time.perf_counter()
    import_sound(src, "bench", work / f"run-{run}", max_seconds=600.0)
    return (time.process_time() - p0) + (_children_cpu() - c0), time.perf_counter() - w0


def measure_baseline(src: Path, work: Path, run: int) -> float:
    c0 = _children_cpu()
    out = work / f"bare-{run}.wav"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), "-ar", "8000", "-ac", "1", str(out)],
        check=True,
        timeout=120,
    )
    return _children_cpu() - c0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--runs", type=int, default=3)
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-audio-") as tmp:
        work = Path(tmp)
        src = work / "in.mp3"
        make_mp3(src, opts.seconds)
        ours, walls, bare = [], [], []
        for i in range(opts.runs):
            cpu, wall = measure_import(src, work, i)
            ours.append(cpu)
            walls.append(wall)
            bare.append(measure_baseline(src, work, i))
        c0, p0 = _children_cpu(), time.process_time()
        import_sound(src, "bench", work / "run-0", max_seconds=600.0)  # same bytes again: no work
        noop = (time.process_time() - p0) + (_children_cpu() - c0)

    cpu, base = statistics.median(ours), statistics.median(bare)
    print(f"input: {opts.seconds:g} s MP3, 44.1 kHz stereo 128 kb/s; median of {opts.runs} runs")
    print(
        f"our import (decode once, 8 + 16 kHz, trim, loudness, 2 WAVs, manifest): {cpu:.3f} s CPU, "
        f"{statistics.median(walls):.3f} s wall"
    )
    print(f"bare ffmpeg -ar 8000 -ac 1 out.wav:                                      {base:.3f} s CPU")
    print(f"re-import of the same bytes:                                             {noop:.4f} s CPU")
    print(
        f"audio_seconds={opts.seconds:g} import_cpu_s={cpu:.3f} baseline_cpu_s={base:.3f} "
        f"ratio={cpu / base:.2f} reimport_cpu_s={noop:.4f} goal_cpu_s=1.0 ok={cpu < 1.0}"
    )


if __name__ == "__main__":
    main()
