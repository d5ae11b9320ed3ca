"""The loop generator's figures (issue 16): tempo accuracy by guidance, Fréchet distances, seam, speed.

    python bench/loop_generator.py [--model models/loop-diffusion] [--loops corpora/loops] [--per-tempo 20]
                                   [--steps 32] [--update-card]

- Tempo: ``--per-tempo`` loops of 2 bars at 100, 120 and 135 bpm for each guidance w in 0 (the
  unconditional model), 1 (conditional, no guidance) and 3, from seeds no training used; each loop's
  tempo as librosa's beat tracker hears it (agent/loops/tempo.py: within 4 %, octave errors wrong).
  Target: >= 80 % right at w = 3.
- Fréchet distance in the autoencoder's embedding (mean and spread of each latent channel,
  projected on the ``--dims`` principal axes of 300 training loops' embeddings, so that a set of
  about 50 loops has a full-rank covariance), all against half B of the held-out loops (every other
  one): the w = 3 loops of the tempo table (and its w = 1 loops: guidance trades spread for tempo),
  w = 3 loops at the tempi of half A's loops (the reference's tempo distribution), the decoder fed
  noise (standard normal latents in the diffusion model's standardised space, mapped back), and
  half A of the held-out loops, all cut to one size so that they carry the same small-sample bias.
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

import numpy as np
import torch

from agent import paths
from agent.audio_io import read_mono
from agent.loops.diffusion_checkpoint import load_diffusion
from agent.loops.diffusion_train import CARD_FIGURES_END, CARD_FIGURES_START
from agent.loops.generate import generate_loops
from agent.loops.loop_metrics import frechet_distance, seam
from agent.loops.loop_request import LoopRequest
from agent.loops.loop_service import LoopService
from agent.loops.loop_set import split_loop_folder
from agent.loops.tempo import loop_tempo, tempo_is_right

TEMPI = (100.0, 120.0, 135.0)
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
    parser.add_argument("--steps", type=int, default=LoopRequest.steps, help="sampler steps")
    parser.add_argument("--update-card", action="store_true")
    parser.add_argument("--json", default=str(paths.OUT_DIR / "bench" / "loop_generator.json"))
    args = parser.parse_args()
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
    for w in GUIDANCES:
        row: dict[str, float] = {}
        for bpm in TEMPI:
            request = LoopRequest(bpm=bpm, bars=2, count=args.per_tempo, guidance=w, steps=args.steps, seed=SEED_BASE + int(bpm))
            loops = generate_loops(bundle, request)
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
    half_a, half_b = held[0::2], held[1::2]
    rng = np.random.default_rng(0)
    gen, gen_w1 = embed(guided), embed(kept[1.0])
    # the same guidance at the tempi of half A's loops (one loop each, its own seed): the reference's
    # tempo distribution, where the three bench tempi concentrate the generated set on three points
    half_a_bpms = [b for _, b in heldout_items[0::2]]
    matched = [generate_loops(bundle, LoopRequest(bpm=b, bars=2, count=1, guidance=GUIDANCES[-1], steps=args.steps, seed=SEED_BASE + 5000 + i))[0]
               for i, b in enumerate(half_a_bpms)]
    gen_matched = embed(matched)
    size = min(len(half_a), len(gen), len(gen_w1), len(gen_matched))
    frames = guided[0].shape[0] // ae.config.hop_samples
    with torch.inference_mode():
        noise_latents = bundle.model.to_latents(torch.from_numpy(rng.standard_normal((size, bundle.config.latent_channels, frames)).astype(np.float32)))
        noise = embed([ae.model.decode(z[None])[0].numpy() for z in noise_latents])
    gen, gen_w1, half_a = gen[rng.permutation(len(gen))[:size]], gen_w1[rng.permutation(len(gen_w1))[:size]], half_a[:size]
    gen_matched = gen_matched[:size]
    fd = {"generated_w3": frechet_distance(gen, half_b), "generated_w1": frechet_distance(gen_w1, half_b),
          "generated_w3_heldout_tempi": frechet_distance(gen_matched, half_b),
          "decoder_fed_noise": frechet_distance(noise, half_b),
          "heldout_half_a": frechet_distance(half_a, half_b), "set_size": size, "reference_size": len(half_b), "dims": int(len(axes))}
    fd["ratio_generated_to_halves"] = fd["generated_w3"] / max(fd["heldout_half_a"], 1e-9)
    fd["ratio_generated_heldout_tempi_to_halves"] = fd["generated_w3_heldout_tempi"] / max(fd["heldout_half_a"], 1e-9)

    def seams(loops: list[np.ndarray]) -> dict[str, float]:
        s = [seam(x, rate) for x in loops]
        return {"click_ratio_median": float(np.median([x.click_ratio for x in s])), "click_ratio_max": float(np.max([x.click_ratio for x in s])),
                "share_click_ratio_over_1": float(np.mean([x.click_ratio > 1 for x in s])),
                "level_jump_wrap_db_mean_abs": float(np.mean([abs(x.level_jump_db) for x in s])),
                "level_jump_mid_db_mean_abs": float(np.mean([abs(x.level_jump_mid_db) for x in s]))}

    seam_rows = {"generated_w3": seams(guided), "heldout_rendered": seams(heldout)}

    with tempfile.TemporaryDirectory(prefix="antiphon-loops-bench-") as tmp:
        speed_s = timed_service_request(Path(args.model), LoopRequest(bpm=124.0, bars=2, count=8, steps=args.steps), Path(tmp))

    results = {"model": str(args.model), "steps": args.steps, "per_tempo": args.per_tempo, "tempo_right": tempo_rows,
               "heldout_rendered_tempo_right": heldout_right, "heldout_bpm_range": [min(b for _, b in heldout_items), max(b for _, b in heldout_items)], "tempi_also_in_training_exactly": exact, "frechet": fd, "seam": seam_rows,
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
    lines += ["", f"Fréchet distance to half B of the held-out loops ({f['reference_size']} loops) in the autoencoder's embedding "
              f"({f['dims']} principal axes of the training loops' latent means and spreads), sets of {f['set_size']}:", "",
              "| set | Fréchet distance |", "| --- | ---: |",
              f"| generated, w = 3, at 100, 120 and 135 bpm | {f['generated_w3']:.3g} |",
              f"| generated, w = 1, at 100, 120 and 135 bpm | {f['generated_w1']:.3g} |",
              f"| generated, w = 3, at the tempi of half A's loops | {f['generated_w3_heldout_tempi']:.3g} |",
              f"| the decoder fed noise | {f['decoder_fed_noise']:.3g} |",
              f"| held-out half A (the floor) | {f['heldout_half_a']:.3g} |",
              f"| generated (w = 3, three tempi) / halves | {f['ratio_generated_to_halves']:.2f}x |",
              f"| generated (w = 3, half A's tempi) / halves | {f['ratio_generated_heldout_tempi_to_halves']:.2f}x |"]
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
