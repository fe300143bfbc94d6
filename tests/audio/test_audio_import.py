"""Importing a real MP3: what lands in the sounds directory, and what is refused."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from audiokit import MakeMp3, peak_dbfs, read_wav, rms_dbfs

from ari_app.audio.convert import import_sound
from ari_app.audio.errors import BadSoundName, CorruptAudio, EmptyAudio, NotAudio, TooLong
from ari_app.audio.manifest import load_manifest


def test_import_writes_8khz_wav_and_16khz_wav16_mono_16bit(tone_mp3: MakeMp3, tmp_path: Path) -> None:
    entry = import_sound(tone_mp3(2.0), "connecting", tmp_path)

    p8, f8 = read_wav(tmp_path / "connecting.wav")
    p16, f16 = read_wav(tmp_path / "connecting.wav16")
    assert (p8.nchannels, p8.sampwidth, p8.framerate) == (1, 2, 8000)
    assert (p16.nchannels, p16.sampwidth, p16.framerate) == (1, 2, 16000)
    assert p8.nframes / 8000 == pytest.approx(p16.nframes / 16000, abs=0.01)
    assert entry.duration == pytest.approx(p16.nframes / 16000, abs=0.01)
    assert entry.formats == ("wav", "wav16")
    assert 1.9 <= entry.duration <= 2.2


def test_manifest_records_name_checksum_duration_formats_source(tone_mp3: MakeMp3, tmp_path: Path) -> None:
    src = tone_mp3(1.0)
    entry = import_sound(src, "goodbye", tmp_path)

    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk["sounds"]["goodbye"]["formats"] == ["wav", "wav16"]
    assert on_disk["sounds"]["goodbye"]["source"] == src.name
    assert load_manifest(tmp_path) == {"goodbye": entry}
    assert entry.checksum.startswith("sha256:") and len(entry.checksum) == 7 + 64


def test_two_seconds_of_leading_silence_are_trimmed(tone_mp3: MakeMp3, tmp_path: Path) -> None:
    src = tone_mp3(3.0, silent_lead=2.0)
    entry = import_sound(src, "voicemail-drop", tmp_path)

    # 3 s in, ~1 s of tone out (a few tens of ms kept around the sound).
    assert 0.95 <= entry.duration <= 1.25
    params, frames = read_wav(tmp_path / "voicemail-drop.wav")
    assert rms_dbfs(frames[: 2 * 800]) > -30  # the first 100 ms already carry the tone


def test_quiet_tone_is_raised_to_the_target_loudness_without_clipping(
    tone_mp3: MakeMp3, tmp_path: Path
) -> None:
    import_sound(tone_mp3(2.0, volume=0.02), "press-1", tmp_path)  # about -37 dBFS in
    for ext in ("wav", "wav16"):
        _, frames = read_wav(tmp_path / f"press-1.{ext}")
        assert -20.0 <= rms_dbfs(frames) <= -16.0
        assert peak_dbfs(frames) <= -0.9


def test_speech_loudness_in_range_and_never_clips(speech_mp3: Path, tmp_path: Path) -> None:
    import_sound(speech_mp3, "admin-whisper", tmp_path)
    for ext in ("wav", "wav16"):
        _, frames = read_wav(tmp_path / f"admin-whisper.{ext}")
        assert -21.0 <= rms_dbfs(frames) <= -16.0
        assert peak_dbfs(frames) <= -0.9


def test_reimporting_the_same_bytes_does_no_work(tone_mp3: MakeMp3, tmp_path: Path) -> None:
    src = tone_mp3(1.5)
    first = import_sound(src, "connecting", tmp_path)
    files = [tmp_path / n for n in ("connecting.wav", "connecting.wav16", "manifest.json")]
    before = [p.stat().st_mtime_ns for p in files]
    lines: list[str] = []

    again = import_sound(src, "connecting", tmp_path, progress=lines.append)

    assert again == first
    assert [p.stat().st_mtime_ns for p in files] == before
    assert any("unchanged" in line for line in lines)


def test_importing_other_bytes_under_the_same_name_replaces_the_sound(
    tone_mp3: MakeMp3, tmp_path: Path
) -> None:
    import_sound(tone_mp3(1.0), "goodbye", tmp_path)
    second = import_sound(tone_mp3(2.0), "goodbye", tmp_path)
    assert load_manifest(tmp_path)["goodbye"] == second
    assert read_wav(tmp_path / "goodbye.wav")[0].nframes / 8000 == pytest.approx(second.duration, abs=0.01)


def test_progress_reports_decoding(tone_mp3: MakeMp3, tmp_path: Path) -> None:
    lines: list[str] = []
    import_sound(tone_mp3(30.0), "long-one", tmp_path, progress=lines.append)
    assert any("decoded" in line for line in lines)
    assert "wrote long-one.wav, long-one.wav16" in lines[-1]


# --- refusals: each with a clear message and nothing written ---------------------------------------


def _assert_nothing_written(sounds_dir: Path) -> None:
    assert not list(sounds_dir.glob("*.wav*"))
    assert load_manifest(sounds_dir) == {}


def test_a_text_file_named_mp3_is_not_audio(tmp_path: Path) -> None:
    src = tmp_path / "notes.mp3"
    src.write_text("This is a shopping list, not a song.\n" * 20)
    with pytest.raises(NotAudio, match="notes.mp3 is not an audio file"):
        import_sound(src, "voicemail-drop", tmp_path / "sounds")
    _assert_nothing_written(tmp_path / "sounds")


def test_an_image_named_mp3_is_not_audio(tmp_path: Path) -> None:
    import subprocess

    png = tmp_path / "logo.png"
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=c=red:s=16x16:d=1",
            "-frames:v",
            "1",
            str(png),
        ],
        check=True,
        timeout=30,
    )
    src = png.rename(tmp_path / "logo.mp3")
    with pytest.raises(NotAudio):
        import_sound(src, "voicemail-drop", tmp_path / "sounds")


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "empty.mp3"
    src.write_bytes(b"")
    with pytest.raises(EmptyAudio, match="empty"):
        import_sound(src, "voicemail-drop", tmp_path / "sounds")
    _assert_nothing_written(tmp_path / "sounds")


def test_a_silent_file_is_refused(tone_mp3: MakeMp3, tmp_path: Path) -> None:
    with pytest.raises(EmptyAudio, match="only silence"):
        import_sound(tone_mp3(2.0, volume=0.0), "voicemail-drop", tmp_path / "sounds")


def test_a_truncated_mp3_is_corrupt(tone_mp3: MakeMp3, tmp_path: Path) -> None:
    whole = tone_mp3(4.0).read_bytes()
    src = tmp_path / "cut.mp3"
    src.write_bytes(whole[: len(whole) // 3])
    with pytest.raises(CorruptAudio, match="truncated"):
        import_sound(src, "voicemail-drop", tmp_path / "sounds")
    _assert_nothing_written(tmp_path / "sounds")


def test_an_mp3_with_damaged_frames_is_corrupt(speech_mp3: Path, tmp_path: Path) -> None:
    data = bytearray(speech_mp3.read_bytes())
    rnd = random.Random(7)
    for i in range(1000, len(data) - 1000, 97):
        data[i] = rnd.randrange(256)
    src = tmp_path / "damaged.mp3"
    src.write_bytes(bytes(data))
    with pytest.raises(CorruptAudio, match="damaged"):
        import_sound(src, "voicemail-drop", tmp_path / "sounds")


def test_a_file_longer_than_the_limit_is_refused_and_the_message_says_the_limit(
    tone_mp3: MakeMp3, tmp_path: Path
) -> None:
    with pytest.raises(TooLong, match=r"3\.0 s long; the limit is 2 s") as info:
        import_sound(tone_mp3(3.0), "voicemail-drop", tmp_path / "sounds", max_seconds=2.0)
    assert info.value.details["limit"] == 2.0
    _assert_nothing_written(tmp_path / "sounds")


@pytest.mark.parametrize("name", ["", "Voicemail", "-drop", "drop.wav", "../etc", "a" * 65, "drop me"])
def test_bad_names_are_refused(name: str, tone_mp3: MakeMp3, tmp_path: Path) -> None:
    with pytest.raises(BadSoundName, match="bad sound name"):
        import_sound(tone_mp3(1.0), name, tmp_path)


def test_a_damaged_manifest_is_reported_not_silently_replaced(tone_mp3: MakeMp3, tmp_path: Path) -> None:
    from ari_app.errors import ConfigError

    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ConfigError, match="manifest.json is damaged"):
        import_sound(tone_mp3(1.0), "goodbye", tmp_path)
    assert (tmp_path / "manifest.json").read_text() == "{not json"
