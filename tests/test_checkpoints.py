"""Checkpoints that cannot lie: verified by SHA-256 before anything is loaded, loaded whole or not at all, never
rotated away by a fresh run in the same folder; the faces judge remembers its best across a resume; and the small
command-line defects of the review (seeds, empty datasets, a missing checkpoint folder)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import common
import train_dcgan
from conftest import generator_weights


def tiny_args(dataset, out, *extra):
    return ["--dataset", str(dataset), "--output_dir", str(out), "--resolution", "32", "--latent_dim", "8",
            "--g_channels", "4", "--d_channels", "4", "--batch_size", "4", "--report_to", "none",
            "--log_steps", "1", "--sample_steps", "100", "--checkpointing_steps", "2", "--threads", "1", *extra]


def run(dataset, out, *extra):
    return train_dcgan.main(train_dcgan.parse_args(tiny_args(dataset, out, *extra)))


def zero_file(path):
    path.write_bytes(b"\0" * path.stat().st_size)  # same size: only a checksum can tell


def test_the_manifest_holds_a_checksum_of_every_file(tiny_image_dataset, tmp_path):
    run(tiny_image_dataset, tmp_path / "run", "--max_steps", "2")
    ckpt = tmp_path / "run" / "checkpoints" / "checkpoint-2"
    manifest = json.loads((ckpt / "complete.json").read_text())
    names = {str(p.relative_to(ckpt)) for p in ckpt.rglob("*") if p.is_file() and p.name != "complete.json"}
    assert set(manifest["files"]) == names and len(names) >= 5
    assert all(common.sha256_file(ckpt / n) == f["sha256"] for n, f in manifest["files"].items())
    assert common.checkpoint_problem(ckpt) is None


@pytest.mark.parametrize("victim", ["model.safetensors", "random_states_0.pkl"])
def test_a_damaged_checkpoint_is_skipped_before_any_of_it_is_loaded(tiny_image_dataset, tmp_path, victim):
    out = tmp_path / "run"
    run(tiny_image_dataset, out, "--max_steps", "4")
    zero_file(out / "checkpoints" / "checkpoint-4" / victim)
    assert "changed since it was written" in common.checkpoint_problem(out / "checkpoints" / "checkpoint-4")
    # resuming with 'latest' takes checkpoint-2, whole: the run ends exactly as one resumed from an intact 2 would
    resumed = run(tiny_image_dataset, out, "--max_steps", "6", "--resume_from_checkpoint", "latest")
    ref = tmp_path / "ref"
    run(tiny_image_dataset, ref, "--max_steps", "2")
    expected = run(tiny_image_dataset, ref, "--max_steps", "6", "--resume_from_checkpoint", "latest")
    a, b = generator_weights(resumed), generator_weights(expected)
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-5, rtol=1e-4, msg=key)


def test_no_loadable_checkpoint_is_refused_not_silently_restarted(tiny_image_dataset, tmp_path):
    out = tmp_path / "run"
    run(tiny_image_dataset, out, "--max_steps", "2")
    zero_file(out / "checkpoints" / "checkpoint-2" / "model.safetensors")
    with pytest.raises(SystemExit, match="none of the checkpoints .* can be resumed from"):
        run(tiny_image_dataset, out, "--max_steps", "4", "--resume_from_checkpoint", "latest")
    with pytest.raises(SystemExit, match="changed since it was written"):
        run(tiny_image_dataset, out, "--max_steps", "4", "--resume_from_checkpoint",
            str(out / "checkpoints" / "checkpoint-2"))
    assert [p.name for p in common.list_checkpoints(out)] == ["checkpoint-2"]  # nothing rotated, nothing written


def test_a_whole_checkpoint_that_does_not_fit_stops_the_run(tiny_image_dataset, tmp_path):
    out = tmp_path / "run"
    run(tiny_image_dataset, out, "--max_steps", "2")
    with pytest.raises(SystemExit, match="passed its checksums but cannot be loaded"):
        run(tiny_image_dataset, out, "--max_steps", "4", "--g_channels", "8", "--resume_from_checkpoint", "latest")


def test_a_missing_checkpoint_folder_is_named(tiny_image_dataset, tmp_path):
    with pytest.raises(SystemExit, match="no such checkpoint folder"):
        run(tiny_image_dataset, tmp_path / "run", "--max_steps", "2", "--resume_from_checkpoint",
            str(tmp_path / "nope"))


def test_a_fresh_run_over_another_runs_checkpoints_is_refused(tiny_image_dataset, tmp_path):
    out = tmp_path / "run"
    run(tiny_image_dataset, out, "--max_steps", "6", "--checkpoints_total_limit", "2")
    assert [p.name for p in common.list_checkpoints(out)] == ["checkpoint-4", "checkpoint-6"]
    with pytest.raises(SystemExit, match="holds the checkpoints of another run"):
        run(tiny_image_dataset, out, "--max_steps", "2", "--checkpoints_total_limit", "2")
    assert [p.name for p in common.list_checkpoints(out)] == ["checkpoint-4", "checkpoint-6"]
    run(tiny_image_dataset, out, "--max_steps", "2", "--checkpoints_total_limit", "2", "--overwrite_output_dir")
    assert [p.name for p in common.list_checkpoints(out)] == ["checkpoint-2"]  # the new run's, kept
    rows = [json.loads(r) for r in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]  # the old run's log went with its checkpoints


def test_the_faces_judge_remembers_its_best_after_a_resume(tiny_image_dataset, tmp_path, pixel_features,
                                                          monkeypatch):
    import gan_models.judges.metrics

    fids = iter([10.0, 50.0, 50.0, 40.0, 40.0, 40.0])  # step 2 is the best; after the resume, 40 is worse than 10
    monkeypatch.setattr(gan_models.judges.metrics, "fid_kid", lambda real, fake: {
        "fid": next(fids), "kid": 0.1, "num_real": len(real), "num_fake": len(fake)})
    out = tmp_path / "run"
    args = ("--holdout", "8", "--eval_steps", "2", "--eval_samples", "4")
    run(tiny_image_dataset, out, "--max_steps", "4", *args)
    assert json.loads((out / "best_generator" / "metrics.json").read_text())["step"] == 2
    kept = generator_weights(out / "best_generator")
    folder = run(tiny_image_dataset, out, "--max_steps", "6", "--resume_from_checkpoint", "latest", *args)
    best = json.loads((out / "best_generator" / "metrics.json").read_text())
    assert best["step"] == 2 and best["fid"] == 10.0
    after = generator_weights(out / "best_generator")
    assert all(torch.equal(kept[k], after[k]) for k in kept)
    assert all(torch.equal(kept[k], v) for k, v in generator_weights(folder).items())


@pytest.mark.parametrize("text", ["-1", "4294967296", "1.5", "abc"])
def test_a_seed_out_of_range_is_a_clear_argument_error(tiny_image_dataset, tmp_path, text, capsys):
    with pytest.raises(SystemExit):
        train_dcgan.parse_args(tiny_args(tiny_image_dataset, tmp_path, "--seed", text))
    assert "--seed" in capsys.readouterr().err


def test_the_largest_seed_works_on_every_rank(tiny_image_dataset, tmp_path):
    assert train_dcgan.parse_args(tiny_args(tiny_image_dataset, tmp_path, "--seed", "4294967295")).seed == 2**32 - 1
    for rank in range(4):
        seed = common.process_seed(2**32 - 1, rank)
        assert 0 <= seed <= 2**32 - 1
        np.random.seed(seed), torch.manual_seed(seed)  # what accelerate's set_seed calls; 2**32 crashed numpy
    assert [common.process_seed(2**32 - 1, r) for r in range(3)] == [2**32 - 1, 0, 1]


def test_an_empty_dataset_is_named(tiny_image_dataset, tmp_path):
    import datasets

    folder = tmp_path / "empty"
    datasets.Dataset.from_dict({"image": []}, features=datasets.Features({"image": datasets.Image()})
                               ).to_parquet(str(folder / "data" / "train.parquet"))
    with pytest.raises(ValueError, match="has no rows"):
        run(folder, tmp_path / "run", "--max_steps", "2")
    with pytest.raises(ValueError, match="has no rows"):
        run(tiny_image_dataset, tmp_path / "run", "--max_steps", "2", "--max_rows", "0")
