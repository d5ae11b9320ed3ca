"""The loop generator's figures (issue 16): tempo accuracy by guidance, Fréchet distances, seam, speed.

    python bench/loop_generator.py [--model models/loop-diffusion] [--loops corpora/loops] [--per-tempo 20]
                                   [--steps 32] [--splits 30] [--update-card]

- Tempo: ``--per-tempo`` loops of 2 bars at 100, 120 and 135 bpm for each guidance w in 0 (the
  unconditional model), 1 (conditional, no guidance) and 3, from seeds no training used; each loop's
  tempo as librosa's beat tracker hears it (agent/loops/tempo.py: within 4 %, octave errors wrong).
  Target: >= 80 % right at w = 3.
- Fréchet distance in the autoencoder's embedding (mean and spread of each latent channel,
  projected on the ``--dims`` principal axes of 300 training loops' embeddings, so that a set of
  about 50 loops has a full-rank covariance), against one half of the held-out loops, averaged over
  ``--splits`` random halvings (one halving alone moves the figure by a factor of 2 to 4: a few
  loops far out, chords above all, weigh on a set of 50): the other half (the floor), w = 3 loops
  at the other half's tempi (the reference's tempo distribution; new seeds each halving), the w = 3
  and w = 1 loops of the tempo table, the decoder fed noise (standard normal latents in the
  diffusion model's standardised space, mapped back) and the autoencoder's reconstructions of the
  other half (what the latents can hold at best), all of one size so that they carry the same
  small-sample bias. A model that hears the loops' kind draws each generated loop's kind by the
  training shares (no kind is asked); the kinds drawn are listed, and the spread of the generated
  loops (the sum of the variances) is set beside the held-out loops', per kind: a generator can
  come near the reference's mean with too little variety, which the distance alone hides.
  Targets: generated < noise, and generated <= 2x the halves' distance.
- Seam (agent/loops/loop_metrics.py) of the w = 3 loops against the held-out rendered loops: the
  wrap's click ratio (> 1: the wrap stands out more than any onset inside the loop) and the level
  jump across the wrap beside the one across the middle bar line.
- Speed: 8 loops of 2 bars at 124 bpm asked of the OSC server's background worker
  (agent/loops/loop_service.py), timed from the request to the report, the model already loaded
  (the first request's load time is printed too). Target: <= 30 s on this machine.

Prints the tables; writes out/bench/loop_generator.json; with --update-card the figures go into the
model's card.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from agent import paths
from agent.audio_io import read_mono
from agent.loops.diffusion_checkpoint import load_diffusion
from agent.loops.diffusion_train import CARD_FIGURES_END, CARD_FIGURES_START
from agent.loops.generate import generate_loops, loop_kinds
from agent.loops.loop_metrics import frechet_distance, seam
from agent.loops.loop_request import LoopRequest
from agent.loops.loop_service import LoopService
from agent.loops.loop_set import loop_kind, split_loop_folder
from agent.loops.tempo import loop_tempo, tempo_is_right

TEMPI = (100.0, 120.0, 135.0)
FRECHET_ROWS = ("generated_w3", "generated_w1", "generated_w3_heldout_tempi", "decoder_fed_noise", "autoencoder_reconstructions", "heldout_half")
GUIDANCES = (0.0, 1.0, 3.0)
SEED_BASE = 1_000  # generation seeds 1000+; no seed of the noise is shared with training (which draws its own)


def timed_service_request(model: Path, request: LoopRequest, out: Path) -> float:
    """Seconds from a request to the worker's report (the service runs it in its background thread);
    the second of two requests, so that the model is loaded."""
    service = LoopService(model, out)
    times = []
    try:
        for _ in range(2):
            done = threading.Event()
            failed: list[str] = []
            t0 = time.perf_counter()
            service.submit(request, lambda folder, n: done.set(), lambda reason: (failed.append(reason), done.set()))
            if not done.wait(600) or failed:
                raise SystemExit(f"loop worker: {failed[0] if failed else 'no report in 600 s'}")
            times.append(time.perf_counter() - t0)
    finally:
        service.close()
    logging.info("first request (model load included): %.1f s", times[0])
    return times[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(paths.DEFAULT_LOOP_DIFFUSION_DIR))
    parser.add_argument("--loops", default=str(paths.CORPORA_DIR / "loops"), help="loop folder whose held-out loops are the reference")
    parser.add_argument("--per-tempo", type=int, default=20, help="loops per tempo and guidance")
    parser.add_argument("--dims", type=int, default=16, help="embedding dimensions kept (principal axes of the training loops' embeddings)")
    parser.add_argument("--splits", type=int, default=30, help="random halvings of the held-out loops the Fréchet distances are averaged over")
    parser.add_argument("--steps", type=int, default=LoopRequest.steps, help="sampler steps")
    parser.add_argument("--update-card", action="store_true")
    parser.add_argument("--json", default=str(paths.OUT_DIR / "bench" / "loop_generator.json"))
    args = parser.parse_args()
    if args.splits < 2 or args.per_tempo < 2:
        raise SystemExit(f"--splits ({args.splits}) and --per-tempo ({args.per_tempo}) must be at least 2")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(2)
    bundle = load_diffusion(Path(args.model))
    ae = bundle.autoencoder
    rate = ae.config.sample_rate_hz
    training_items, heldout_items = split_loop_folder(Path(args.loops))
    if len(heldout_items) < 8:
        raise SystemExit(f"{args.loops}: {len(heldout_items)} held-out loops; the Fréchet distances need at least 8 (render more with make-loops)")
    heldout = [read_mono(p, rate)[0] for p, _ in heldout_items]
    fit_bpms = {round(b, 1) for _, b in training_items}
    exact = [t for t in TEMPI if round(t, 1) in fit_bpms]

    tempo_rows: dict[str, dict[str, float]] = {}
    kept: dict[float, list[np.ndarray]] = {}
    drawn: list[str | None] = []  # the kinds of the guided loops of the tempo table (their requests name none)
    for w in GUIDANCES:
        row: dict[str, float] = {}
        for bpm in TEMPI:
            request = LoopRequest(bpm=bpm, bars=2, count=args.per_tempo, guidance=w, steps=args.steps, seed=SEED_BASE + int(bpm))
            loops = generate_loops(bundle, request)
            if w == GUIDANCES[-1]:
                drawn += loop_kinds(bundle, request)
            right = [tempo_is_right(loop_tempo(x, rate), bpm) for x in loops]
            row[f"{bpm:g}"] = float(np.mean(right))
            kept.setdefault(w, []).extend(loops)
        row["all"] = float(np.mean([row[f"{b:g}"] for b in TEMPI]))
        tempo_rows[f"w={w:g}"] = row
        logging.info("w = %g: %s", w, ", ".join(f"{k} {v:.0%}" for k, v in row.items()))
    guided = kept[GUIDANCES[-1]]
    heldout_right = float(np.mean([tempo_is_right(loop_tempo(x, rate), b) for x, (_, b) in zip(heldout, heldout_items)]))

    # the embedding: mean and spread of each latent channel, projected on the principal axes of the
    # training loops' embeddings (fewer dimensions than loops per set, so every covariance has full rank)
    pick = np.random.default_rng(0).permutation(len(training_items))[:300]
    basis_set = np.array([ae.loop_embedding(read_mono(training_items[i][0], rate)[0], rate) for i in pick])
    centre = basis_set.mean(0)
    axes = np.linalg.svd(basis_set - centre, full_matrices=False)[2][: args.dims]

    def embed(loops: list[np.ndarray]) -> np.ndarray:
        return (np.array([ae.loop_embedding(x, rate) for x in loops]) - centre) @ axes.T

    held = embed(heldout)
    held_kinds = [loop_kind(p) for p, _ in heldout_items]
    # every set of one size (the tempo table's loops are 3 x --per-tempo; at most 1000, so that no two halvings share a seed)
    half = min(len(held) // 2, 3 * args.per_tempo, 1000)
    rng = np.random.default_rng(0)
    table_w3, table_w1 = embed(guided), embed(kept[1.0])
    frames = guided[0].shape[0] // ae.config.hop_samples
    with torch.inference_mode():  # the decoder fed noise: standard normal latents in the diffusion model's standardised space, mapped back
        noise_latents = bundle.model.to_latents(torch.from_numpy(rng.standard_normal((len(held), bundle.config.latent_channels, frames)).astype(np.float32)))
        noise = embed([ae.model.decode(z[None])[0].numpy() for z in noise_latents])
    reconstructed = embed([ae.model.reconstruct_loop(x) for x in heldout])
    rows: dict[str, list[float]] = {key: [] for key in FRECHET_ROWS}
    matched_sets, matched_kinds = [], []
    for split in tqdm(range(args.splits), desc="Fréchet distances over random halves", unit="split", disable=None):
        order = rng.permutation(len(held))
        one, two = order[:half], order[half : 2 * half]
        reference = held[two]
        # w = 3 at the tempi of the other half's loops (one loop each, its own seed): the reference's tempo distribution
        requests = [LoopRequest(bpm=heldout_items[i][1], bars=2, count=1, guidance=GUIDANCES[-1], steps=args.steps, seed=SEED_BASE + 5000 + 1000 * split + j)
                    for j, i in enumerate(one)]
        matched = embed([generate_loops(bundle, q)[0] for q in requests])
        matched_sets.append(matched)
        matched_kinds += [loop_kinds(bundle, q)[0] for q in requests]
        for key, points in (("heldout_half", held[one]), ("generated_w3_heldout_tempi", matched),
                            ("generated_w3", table_w3[rng.permutation(len(table_w3))[:half]]), ("generated_w1", table_w1[rng.permutation(len(table_w1))[:half]]),
                            ("decoder_fed_noise", noise[rng.permutation(len(noise))[:half]]), ("autoencoder_reconstructions", reconstructed[one])):
            rows[key].append(frechet_distance(points, reference))
    fd: dict[str, Any] = {key: {"mean": float(np.mean(v)), "std": float(np.std(v))} for key, v in rows.items()}
    fd.update(splits=args.splits, set_size=half, dims=int(len(axes)))
    floor = max(fd["heldout_half"]["mean"], 1e-9)
    fd["ratio_generated_to_halves"] = fd["generated_w3"]["mean"] / floor
    fd["ratio_generated_heldout_tempi_to_halves"] = fd["generated_w3_heldout_tempi"]["mean"] / floor

    def spread(points: np.ndarray) -> float:  # the sum of the variances along every axis
        return float(np.trace(np.cov(points, rowvar=False))) if len(points) > 2 else float("nan")

    pooled = np.concatenate(matched_sets)
    diversity = {"all": {"generated": spread(pooled), "heldout": spread(held)}}
    for kind in sorted({k for k in held_kinds if k is not None} & {k for k in matched_kinds if k is not None}):
        diversity[kind] = {"generated": spread(pooled[np.array([k == kind for k in matched_kinds])]),
                           "heldout": spread(held[np.array([k == kind for k in held_kinds])])}
    fd["spread"] = diversity

    def seams(loops: list[np.ndarray]) -> dict[str, float]:
        s = [seam(x, rate) for x in loops]
        return {"click_ratio_median": float(np.median([x.click_ratio for x in s])), "click_ratio_max": float(np.max([x.click_ratio for x in s])),
                "share_click_ratio_over_1": float(np.mean([x.click_ratio > 1 for x in s])),
                "level_jump_wrap_db_mean_abs": float(np.mean([abs(x.level_jump_db) for x in s])),
                "level_jump_mid_db_mean_abs": float(np.mean([abs(x.level_jump_mid_db) for x in s]))}

    seam_rows = {"generated_w3": seams(guided), "heldout_rendered": seams(heldout)}
    kinds_drawn = {k: drawn.count(k) for k in bundle.kinds}

    with tempfile.TemporaryDirectory(prefix="antiphon-loops-bench-") as tmp:
        speed_s = timed_service_request(Path(args.model), LoopRequest(bpm=124.0, bars=2, count=8, steps=args.steps), Path(tmp))

    results = {"model": str(args.model), "steps": args.steps, "per_tempo": args.per_tempo, "tempo_right": tempo_rows,
               "heldout_rendered_tempo_right": heldout_right, "heldout_bpm_range": [min(b for _, b in heldout_items), max(b for _, b in heldout_items)], "tempi_also_in_training_exactly": exact, "frechet": fd, "seam": seam_rows, "kinds_drawn_w3": kinds_drawn,
               "eight_two_bar_loops_s": speed_s, "threads": torch.get_num_threads()}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    text = markdown(results)
    print(text)
    if args.update_card:
        card = Path(args.model) / "README.md"
        old = card.read_text(encoding="utf-8")
        if CARD_FIGURES_START not in old or CARD_FIGURES_END not in old:
            raise SystemExit(f"{card}: no figures section to update")
        new = old[: old.index(CARD_FIGURES_START) + len(CARD_FIGURES_START)] + "\n" + text + "\n" + old[old.index(CARD_FIGURES_END) :]
        card.write_text(new, encoding="utf-8")
        logging.info("figures written into %s", card)


def markdown(r: dict) -> str:
    t = r["tempo_right"]
    lines = [f"From `python bench/loop_generator.py` ({r['per_tempo']} loops of 2 bars per tempo and guidance, {r['steps']} sampler steps, "
             "seeds no training used).", "",
             "Tempo heard right (librosa's beat tracker on the loop heard four times; within 4 %, octave errors wrong):", "",
             "| guidance | " + " | ".join(f"{b:g} bpm" for b in TEMPI) + " | all |", "| --- |" + " ---: |" * (len(TEMPI) + 1)]
    names = {"w=0": "w = 0 (unconditional)", "w=1": "w = 1 (conditional)", "w=3": "w = 3 (guided)"}
    for key, row in t.items():
        lines.append(f"| {names.get(key, key)} | " + " | ".join(f"{row[f'{b:g}']:.0%}" for b in TEMPI) + f" | {row['all']:.0%} |")
    low, high = r["heldout_bpm_range"]
    lines.append(f"\nThe held-out rendered loops ({low:g}..{high:g} bpm): {r['heldout_rendered_tempo_right']:.0%} right.")
    if r["tempi_also_in_training_exactly"]:
        lines.append(f"Training loops at exactly {', '.join(f'{b:g}' for b in r['tempi_also_in_training_exactly'])} bpm exist (tempi are drawn at 0.1 bpm).")
    f = r["frechet"]
    lines += ["", f"Fréchet distance in the autoencoder's embedding ({f['dims']} principal axes of the training loops' latent means and spreads) "
              f"to one half of the held-out loops, sets of {f['set_size']}; mean (and spread) over {f['splits']} random halvings of the held-out loops "
              "(the loops at the other half's tempi generated anew for each, the other sets drawn from fixed pools):", "",
              "| set | Fréchet distance, mean | std over halvings |", "| --- | ---: | ---: |"]
    labels = {"generated_w3_heldout_tempi": "generated, w = 3, at the tempi of the other half's loops",
              "generated_w3": "generated, w = 3, at 100, 120 and 135 bpm (the tempo table's loops)",
              "generated_w1": "generated, w = 1, at 100, 120 and 135 bpm", "decoder_fed_noise": "the decoder fed noise",
              "autoencoder_reconstructions": "the autoencoder's reconstructions of the other half (its ceiling)",
              "heldout_half": "the other half of the held-out loops (the floor)"}
    for key, label in labels.items():
        lines.append(f"| {label} | {f[key]['mean']:.3g} | {f[key]['std']:.3g} |")
    lines += [f"| generated (w = 3, the other half's tempi) / halves | {f['ratio_generated_heldout_tempi_to_halves']:.2f}x | |",
              f"| generated (w = 3, three tempi) / halves | {f['ratio_generated_to_halves']:.2f}x | |"]
    sp = f["spread"]
    lines += ["", "Spread (the sum of the variances in that embedding) of the generated loops at the held-out tempi, pooled over the halvings, "
              "against the held-out loops': " + ", ".join(f"{k} {v['generated']:.3g} vs {v['heldout']:.3g}" for k, v in sp.items()) + "."]
    if r.get("kinds_drawn_w3"):
        lines += ["", "Kinds of the generated w = 3 loops (drawn by the training loops' shares): "
                  + ", ".join(f"{k} {n}" for k, n in r["kinds_drawn_w3"].items()) + "."]
    s = r["seam"]
    lines += ["", "Seam (the wrap against the loop's own onsets and its middle bar line):", "",
              "| loops | click ratio, median | max | share > 1 | level jump at the wrap (mean abs dB) | at the middle bar line |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for key, label in (("generated_w3", "generated, w = 3"), ("heldout_rendered", "held-out rendered")):
        x = s[key]
        lines.append(f"| {label} | {x['click_ratio_median']:.2f} | {x['click_ratio_max']:.2f} | {x['share_click_ratio_over_1']:.0%} | "
                     f"{x['level_jump_wrap_db_mean_abs']:.2f} | {x['level_jump_mid_db_mean_abs']:.2f} |")
    lines += ["", f"Speed: 8 loops of 2 bars at 124 bpm in the OSC server's background worker: {r['eight_two_bar_loops_s']:.1f} s "
              f"({r['threads']} threads, this machine; the model loaded before)."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
