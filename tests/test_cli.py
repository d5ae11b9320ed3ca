"""The `antiphon` console script, run as a user runs it."""

import subprocess
import sys
from pathlib import Path

import pytest

from agent.cli import build_parser


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent", *args], capture_output=True, text=True, timeout=300)


def test_every_subcommand_has_help() -> None:
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # noqa: SLF001 - argparse has no public list
    for name in commands:
        result = run(name, "--help")
        assert result.returncode == 0, result.stderr
        assert "usage: antiphon" in result.stdout


def test_missing_pairs_folder_is_one_line_error(tmp_path: Path) -> None:
    result = run("build-corpus", "--pairs", str(tmp_path / "none"), "--source", "a", "--target", "b", "--out", str(tmp_path / "c"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [f"error: pairs folder {tmp_path / 'none'} does not exist"]
    assert not (tmp_path / "c").exists()


def test_bad_hop_is_refused(tone_pairs: Path, tmp_path: Path) -> None:
    result = run("build-corpus", "--pairs", str(tone_pairs), "--source", "melody", "--target", "bass", "--out", str(tmp_path / "c"), "--hop-s", "2")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: hop_s must be between 0.1 and 0.5 s, got 2.0"


def test_build_then_info(tone_pairs: Path, tmp_path: Path) -> None:
    out = tmp_path / "c"
    result = run("-q", "build-corpus", "--pairs", str(tone_pairs), "--source", "melody", "--target", "bass", "--out", str(out), "--codebook-size", "16")
    assert result.returncode == 0, result.stderr
    info = run("corpus-info", str(out), "--plot", str(tmp_path / "info.png"))
    assert info.returncode == 0, info.stderr
    assert "melody (performer) -> bass (answer)" in info.stdout
    assert (tmp_path / "info.png").stat().st_size > 10_000
    bad = run("corpus-info", str(out), "--piece", "9")
    assert bad.returncode == 2 and "--piece must be between 0 and 2" in bad.stderr


# every command that writes somewhere, with arguments that would fail later (missing inputs) if the
# output place were not checked first; the option that names the output place
WRITERS = [
    ("make-demo-pairs", ["--pieces", "1"], "--out"),
    ("make-pop909-pairs", ["--pop909", "{missing}"], "--out"),
    ("build-corpus", ["--pairs", "{missing}", "--source", "a", "--target", "b"], "--out"),
    ("build-corpus", ["--pairs", "{missing}", "--source", "a", "--target", "b", "--force"], "--out"),
    ("pretrain-perception", ["--pairs", "{missing}"], "--out"),
    ("train", ["--corpus", "{missing}"], "--out"),
    ("evaluate", ["--model", "{missing}", "--pairs", "{missing}", "--source", "a", "--target", "b"], "--out"),
    ("rehearse", ["--input", "{missing}", "--model", "{missing}"], "--out"),
    ("osc-patches", [], "--out"),
    ("compare-perception", ["--pairs", "{missing}", "--no-card"], "--work"),
    ("serve", ["--model", "{missing}", "--no-osc"], "--trace-dir"),
    ("serve", ["--model", "{missing}", "--allow-record", "--osc-port", "0"], "--record-dir"),
]


def run_main(args: list[str], caplog) -> tuple[int, list[str]]:  # noqa: ANN001
    """``antiphon ARGS`` in this process: its status and the error lines it logged."""
    from agent.cli import main

    caplog.clear()
    status = main(args)
    return status, [r.getMessage() for r in caplog.records if r.getMessage().startswith("error: ")]


@pytest.mark.parametrize("place", ["existing-file", "file-as-parent"])
@pytest.mark.parametrize(("command", "args", "option"), WRITERS, ids=[f"{c}{'-force' if '--force' in a else ''}:{o}" for c, a, o in WRITERS])
def test_the_output_place_is_checked_before_any_work(command: str, args: list[str], option: str, place: str, tmp_path: Path, caplog) -> None:  # noqa: ANN001
    taken = tmp_path / "taken"
    taken.write_text("someone's notes")
    out = taken if place == "existing-file" else taken / "sub"
    status, errors = run_main([command, *[a.format(missing=tmp_path / "missing") for a in args], option, str(out)], caplog)
    expected = f"{option} {out} exists and is not a folder" if place == "existing-file" else f"{option} {out}: {taken} is not a folder"
    assert (status, errors) == (2, [f"error: {expected}"])
    assert taken.read_text() == "someone's notes"


def test_a_plot_is_checked_before_any_work(tmp_path: Path, caplog) -> None:  # noqa: ANN001
    status, errors = run_main(["corpus-info", str(tmp_path / "missing"), "--plot", str(tmp_path)], caplog)
    assert (status, errors) == (2, [f"error: --plot {tmp_path} is a folder, not a file"])


def test_rehearse_refuses_an_existing_file_as_out_at_once_in_one_line(trained: Path, tone_corpus: Path, session_tone_pairs: Path, tmp_path: Path) -> None:
    taken = tmp_path / "taken.wav"
    taken.write_bytes(b"not yours")
    result = run("rehearse", "--input", str(session_tone_pairs / "piece1" / "melody.flac"), "--model", str(trained),
                 "--corpus", str(tone_corpus), "--out", str(taken))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: --out {taken} exists and is not a folder"]
    assert taken.read_bytes() == b"not yours"


HOSTILE_CONFIGS = {  # the files: tracebacks in rehearse and evaluate
    "layer-zero": (lambda m: m["corpus"]["perception"].update(layer="zero"), "'corpus.perception.layer' must be an integer"),
    "no-perception": (lambda m: m["corpus"].pop("perception"), "'corpus.perception' must be an object"),
    "width-4000000": (lambda m: m["model"].update(width=4_000_000), "width (4000000) must be a multiple of num_heads"),
}


@pytest.mark.parametrize("name", list(HOSTILE_CONFIGS))
@pytest.mark.parametrize("command", ["rehearse", "evaluate"])
def test_rehearse_and_evaluate_refuse_a_hostile_model_config_in_one_line(command: str, name: str, trained: Path, tone_corpus: Path,
                                                                           session_tone_pairs: Path, tmp_path: Path, caplog) -> None:  # noqa: ANN001
    import json
    import shutil

    model = tmp_path / "model"
    shutil.copytree(trained, model)
    meta = json.loads((model / "config.json").read_text())
    edit, reason = HOSTILE_CONFIGS[name]
    edit(meta)
    (model / "config.json").write_text(json.dumps(meta))
    args = {
        "rehearse": ["--input", str(session_tone_pairs / "piece1" / "melody.flac")],
        "evaluate": ["--pairs", str(session_tone_pairs), "--source", "melody", "--target", "bass"],
    }[command]
    status, errors = run_main([command, "--model", str(model), "--corpus", str(tone_corpus), *args, "--out", str(tmp_path / "out")], caplog)
    assert status == 2 and len(errors) == 1, errors
    assert errors[0].startswith(f"error: {model / 'config.json'}: ") and reason in errors[0], errors
    assert not (tmp_path / "out").exists()


def test_rehearse_refuses_a_hostile_model_config_in_one_line_as_a_user_runs_it(trained: Path, session_tone_pairs: Path, tmp_path: Path) -> None:
    import json
    import shutil

    model = tmp_path / "model"
    shutil.copytree(trained, model)
    meta = json.loads((model / "config.json").read_text())
    meta["corpus"]["perception"]["layer"] = "zero"
    (model / "config.json").write_text(json.dumps(meta))
    result = run("rehearse", "--input", str(session_tone_pairs / "piece1" / "melody.flac"), "--model", str(model), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {model / 'config.json'}: 'corpus.perception.layer' must be an integer in -64..64, got 'zero'"]
