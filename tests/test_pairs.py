from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from agent.errors import AntiphonError
from agent.pairs import load_pair, read_heldout, renderings_of, scan_pairs, work_of


def test_scan_finds_pieces_and_stems(tone_pairs: Path) -> None:
    pieces = scan_pairs(tone_pairs, ("melody", "bass"))
    assert [p.name for p in pieces] == ["piece0", "piece1", "piece2"]
    assert pieces[0].stems["melody"].name == "melody.wav"
    assert pieces[1].stems["bass"].name == "bass.flac"
    assert read_heldout(tone_pairs) == {"piece2"}


def test_missing_stem_names_piece_and_stem(tone_pairs: Path) -> None:
    (tone_pairs / "piece1" / "bass.flac").unlink()
    with pytest.raises(AntiphonError, match=r"piece 'piece1' .* has no 'bass' stem \(found: melody\)"):
        scan_pairs(tone_pairs, ("melody", "bass"))


def test_unknown_stem_name(tone_pairs: Path) -> None:
    with pytest.raises(AntiphonError, match="has no 'soprano' stem"):
        scan_pairs(tone_pairs, ("soprano", "bass"))


def test_empty_and_missing_folders(tmp_path: Path) -> None:
    with pytest.raises(AntiphonError, match="does not exist"):
        scan_pairs(tmp_path / "none", ("a", "b"))
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(AntiphonError, match="is empty"):
        scan_pairs(tmp_path / "empty", ("a", "b"))


def test_two_files_for_one_stem(tone_pairs: Path) -> None:
    sf.write(tone_pairs / "piece1" / "bass.wav", np.zeros(100, dtype=np.float32), 16_000)
    with pytest.raises(AntiphonError, match="two files for stem 'bass'"):
        scan_pairs(tone_pairs, ("melody", "bass"))


def test_unreadable_stem(tone_pairs: Path) -> None:
    (tone_pairs / "piece1" / "bass.flac").write_bytes(b"not audio at all")
    piece = scan_pairs(tone_pairs, ("melody", "bass"))[1]
    with pytest.raises(AntiphonError, match="bass.flac: cannot read audio"):
        load_pair(piece, "melody", "bass", 16_000)


def test_lengths_beyond_tolerance(tone_pairs: Path) -> None:
    sf.write(tone_pairs / "piece1" / "bass.flac", np.zeros(22_050 * 3, dtype=np.float32), 22_050)
    piece = scan_pairs(tone_pairs, ("melody", "bass"))[1]
    with pytest.raises(AntiphonError, match=r"piece 'piece1': stems 'melody' \(12.00 s\) and 'bass' \(3.00 s\) differ"):
        load_pair(piece, "melody", "bass", 16_000)


def test_lengths_within_tolerance_are_trimmed(tone_pairs: Path) -> None:
    audio, rate = sf.read(tone_pairs / "piece1" / "bass.flac", dtype="float32")
    sf.write(tone_pairs / "piece1" / "bass.flac", audio[: -rate // 10], rate)
    piece = scan_pairs(tone_pairs, ("melody", "bass"))[1]
    pair = load_pair(piece, "melody", "bass", 16_000)
    assert len(pair.source) == len(pair.target)
    assert abs(len(pair.target) - 16_000 * 11.9) <= 2


def test_bad_split_file(tone_pairs: Path) -> None:
    (tone_pairs / "split.json").write_text('{"heldout": "piece2"}')
    with pytest.raises(AntiphonError, match="split.json: 'heldout' must be a list"):
        read_heldout(tone_pairs)
    (tone_pairs / "split.json").write_text("{oops")
    with pytest.raises(AntiphonError, match="split.json: not valid JSON"):
        read_heldout(tone_pairs)


def test_renderings_of_one_work_share_its_name() -> None:
    assert work_of("014-bwv184.5@v2") == "014-bwv184.5"
    assert work_of("014-bwv184.5") == "014-bwv184.5"
    assert work_of("song@a@b") == "song"
    among = ["a", "a@v1", "ab", "b@v2", "b", "c"]
    assert renderings_of(["a@v1", "b"], among) == [0, 1, 3, 4]  # "ab" is another work
    assert renderings_of([], among) == []
