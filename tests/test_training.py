"""Training smoke runs on a tiny generated dataset: in-process and through `accelerate launch`."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import common
import train_dcgan
from gan_models.faces.pipeline import DCGANPipeline
from conftest import generator_weights
from gan_models.hub.publish import files_to_upload as publish_files

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tiny_args(dataset, out, *extra):
    return ["--dataset", str(dataset), "--output_dir", str(out), "--resolution", "32", "--latent_dim", "8",
            "--g_channels", "4", "--d_channels", "4", "--batch_size", "4", "--report_to", "none",
            "--log_steps", "1", "--sample_steps", "2", "--checkpointing_steps", "2", "--r1_every", "2",
            "--threads", "1", *extra]


def test_train_checkpoint_resume_and_load(tiny_image_dataset, tmp_path):
    out = tmp_path / "run"
    folder = train_dcgan.main(train_dcgan.parse_args(tiny_args(tiny_image_dataset, out, "--max_steps", "2")))
    assert [p.name for p in common.list_checkpoints(out)] == ["checkpoint-2"]
    assert common.checkpoint_problem(out / "checkpoints" / "checkpoint-2") is None
    assert (out / "samples" / "step-0000002.png").is_file()
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and {"d_loss", "g_loss", "d_real", "d_fake"} <= set(rows[0])

    train_dcgan.main(train_dcgan.parse_args(
        tiny_args(tiny_image_dataset, out, "--max_steps", "4", "--resume_from_checkpoint", "latest")))
    assert [p.name for p in common.list_checkpoints(out)] == ["checkpoint-2", "checkpoint-4"]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]  # resumed at step 2, not from scratch

    pipe = DCGANPipeline.from_pretrained(folder)
    assert len(pipe(3, seed=0).images) == 3
    snippet = (folder / "README.md").read_text().split("```python")[1].split("```")[0]
    scope = {}
    exec(snippet, scope)  # the model card's loading snippet works when pasted
    assert len(scope["images"]) == 16
    assert (folder / "README.md").read_text().count("unconditional-image-generation") >= 1
    assert (folder / "samples.png").is_file()


def test_resumed_run_ends_where_an_uninterrupted_run_ends(tiny_image_dataset, tmp_path):
    straight = train_dcgan.main(train_dcgan.parse_args(tiny_args(tiny_image_dataset, tmp_path / "a", "--max_steps", "4")))
    train_dcgan.main(train_dcgan.parse_args(tiny_args(tiny_image_dataset, tmp_path / "b", "--max_steps", "2")))
    resumed = train_dcgan.main(train_dcgan.parse_args(
        tiny_args(tiny_image_dataset, tmp_path / "b", "--max_steps", "4", "--resume_from_checkpoint", "latest")))
    a, b = generator_weights(straight), generator_weights(resumed)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-5, rtol=1e-4, msg=key)


def test_fine_tune_with_a_d_warmup_leaves_g_alone_until_the_warmup_ends(tiny_image_dataset, tmp_path):
    first = train_dcgan.main(train_dcgan.parse_args(tiny_args(tiny_image_dataset, tmp_path / "a", "--max_steps", "2")))
    init = generator_weights(first)
    params = [k for k in init if "running" not in k and "num_batches" not in k]  # BatchNorm stats are re-estimated

    def run(name, steps):
        folder = train_dcgan.main(train_dcgan.parse_args(tiny_args(
            tiny_image_dataset, tmp_path / name, "--max_steps", str(steps), "--init_generator", str(first),
            "--d_warmup_steps", "2")))
        rows = [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
        return generator_weights(folder), rows

    held, rows = run("b", 2)
    assert [r["step"] for r in rows] == [1, 2] and all("d_loss" in r and "g_loss" not in r for r in rows)
    for key in params:
        torch.testing.assert_close(held[key], init[key], msg=key)  # D learned, G (and its EMA) did not move
    moved, rows = run("c", 3)
    assert "g_loss" in rows[-1] and "g_loss" not in rows[0]
    assert any(not torch.equal(moved[k], init[k]) for k in params)


def test_a_discriminator_fitted_to_a_frozen_g_is_attached_and_training_goes_on_from_the_folder(
        tiny_image_dataset, tmp_path):
    import shutil

    import attach_discriminator
    from gan_models.faces.dcgan import DCGANDiscriminator

    made = train_dcgan.main(train_dcgan.parse_args(tiny_args(tiny_image_dataset, tmp_path / "a", "--max_steps", "2")))
    shipped = tmp_path / "shipped"  # a folder as the gallery shipped it: G alone
    shutil.copytree(made, shipped, ignore=shutil.ignore_patterns("discriminator", "training_state.json"))
    g_bytes = (shipped / "generator" / "diffusion_pytorch_model.safetensors").read_bytes()
    d_run = train_dcgan.main(train_dcgan.parse_args(tiny_args(
        tiny_image_dataset, tmp_path / "d", "--max_steps", "3", "--init_generator", str(shipped),
        "--d_warmup_steps", "1000")))
    attach_discriminator.attach(shipped, [d_run], step=2)
    assert (shipped / "generator" / "diffusion_pytorch_model.safetensors").read_bytes() == g_bytes  # G untouched
    d = load_file(shipped / "discriminator" / "diffusion_pytorch_model.safetensors")
    trained = load_file(d_run / "discriminator" / "diffusion_pytorch_model.safetensors")
    assert all(v.dtype == torch.float16 for v in d.values() if v.is_floating_point())
    torch.testing.assert_close({k: v.float() for k, v in d.items() if v.is_floating_point()},
                               {k: v for k, v in trained.items() if v.is_floating_point()}, atol=2e-3, rtol=1e-3)
    DCGANDiscriminator.load_strict(shipped / "discriminator")
    assert json.loads((shipped / "training_state.json").read_text()) == {"step": 2, "ema_updates": 2}

    out = tmp_path / "more"
    train_dcgan.main(train_dcgan.parse_args(tiny_args(tiny_image_dataset, out, "--max_steps", "4",
                                                      "--resume_from_weights", str(shipped))))
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [3, 4] and "g_loss" in rows[0]
    with pytest.raises(SystemExit, match="not a pipeline folder"):
        attach_discriminator.attach(tmp_path, [d_run], step=2)
    with pytest.raises(SystemExit, match="no readable discriminator"):
        attach_discriminator.attach(shipped, [tmp_path], step=2)


def test_training_goes_on_from_the_embedded_faces_weights(tmp_path):
    """The real resume path on the real folder: G, its EMA and D load strictly into the networks train_dcgan's
    defaults build, and the step count goes on from the folder's."""
    from conftest import make_image_folder
    from gan_models.registry import DEMOS

    folder = DEMOS["faces"].embedded
    step = json.loads((folder / "training_state.json").read_text())["step"]
    images = make_image_folder(tmp_path / "faces", num=8, size=64)
    out = tmp_path / "more"
    train_dcgan.main(train_dcgan.parse_args([
        "--dataset", str(images), "--output_dir", str(out), "--resume_from_weights", str(folder), "--batch_size", "4",
        "--max_steps", str(step + 1), "--report_to", "none", "--log_steps", "1", "--sample_steps", "100000",
        "--checkpointing_steps", "100000", "--snapshot_steps", "0", "--threads", "1"]))
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [step + 1] and "g_loss" in rows[0]


def test_damaged_checkpoint_is_skipped_with_a_message(tiny_image_dataset, tmp_path, capsys):
    out = tmp_path / "run"
    train_dcgan.main(train_dcgan.parse_args(tiny_args(tiny_image_dataset, out, "--max_steps", "4")))
    newest = out / "checkpoints" / "checkpoint-4"
    weights = newest / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:50])  # truncated after it was written
    (out / "checkpoints" / "tmp-checkpoint-6").mkdir()  # a write that was killed half-way
    capsys.readouterr()
    train_dcgan.main(train_dcgan.parse_args(
        tiny_args(tiny_image_dataset, out, "--max_steps", "5", "--resume_from_checkpoint", "latest")))
    printed = capsys.readouterr().out
    assert "skipping checkpoint" in printed and "checkpoint-4" in printed and "bytes, expected" in printed
    assert "resumed from" in printed and "checkpoint-2 at step 2" in printed


def test_unwritable_output_dir_fails_early(tiny_image_dataset, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(SystemExit, match="not writable"):
        train_dcgan.main(train_dcgan.parse_args(tiny_args(tiny_image_dataset, blocker / "run", "--max_steps", "1")))


def test_missing_image_column_is_named(tiny_image_dataset, tmp_path):
    with pytest.raises(ValueError, match="no column 'picture'"):
        train_dcgan.main(train_dcgan.parse_args(
            tiny_args(tiny_image_dataset, tmp_path / "run", "--max_steps", "1", "--image_column", "picture")))


# script: (its default --dataset, the same data on disk that the error must name). The birds' captioned crops have
# no Hub copy in their layout: their default is the local folder itself.
BARE = {
    "train_dcgan": ("huggan/CelebA-faces", "../shared/data/celeba-faces-64"),
    "train_stylegan": ("huggan/CelebA-faces", "../shared/data/celeba-faces-64"),
    "train_srgan": ("huggan/CelebA-faces", "../shared/data/celeba-faces-64"),
    "train_cgan": ("ylecun/mnist", "../shared/data/mnist"),
    "train_mnist_classifier": ("ylecun/mnist", "../shared/data/mnist"),
    "train_pix2pix": ("huggan/maps", "../shared/data/maps"),
    "train_text2img": ("../shared/data/cub-birds", "../shared/data/cub-birds"),
    "train_bird_colour_classifier": ("../shared/data/cub-birds", "../shared/data/cub-birds"),
    "train_bird_species_classifier": ("../shared/data/cub-birds", "../shared/data/cub-birds"),
}


@pytest.fixture
def hub_out_of_reach(tmp_path, monkeypatch):
    """Offline, with empty caches (a copy cached on this machine would otherwise be found), in an empty folder."""
    monkeypatch.setattr("datasets.config.HF_HUB_OFFLINE", True)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    monkeypatch.setattr("datasets.config.HF_DATASETS_CACHE", tmp_path / "cache" / "datasets")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "cache" / "hub"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.mark.parametrize("script", list(BARE))
def test_the_bare_command_says_the_hub_is_out_of_reach_and_names_the_local_form(script, hub_out_of_reach):
    """`accelerate launch training/train_dcgan.py`, as typed, stopped with a usage error (--dataset and --output_dir
    were required). Now every script has defaults, and offline the bare command ends with one line naming the local
    form, having written nothing (no empty run folder)."""
    import importlib

    module = importlib.import_module(script)
    dataset, local = BARE[script]
    args = module.parse_args([])
    assert args.dataset == dataset and args.output_dir is None and args.run_root.startswith("runs/")
    with pytest.raises(SystemExit) as stopped:
        module.main(args)
    message = str(stopped.value.code)
    if dataset != local:
        assert message.startswith(f"error: cannot reach the Hugging Face Hub for the dataset {dataset!r} (offline mode")
        assert message.endswith(f"with the data on disk, name its folder: --dataset {local}")
    else:
        assert message.startswith(f"error: dataset folder {local} not found") and "--dataset" in message
    assert list(hub_out_of_reach.iterdir()) == []  # no runs/<demo>/<date-time> left behind


def test_the_bare_command_as_typed_prints_no_traceback(tmp_path):
    """The command itself, in a process of its own, with the Hub unreachable (offline mode, empty HF_HOME)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "HF_HOME": str(tmp_path / "hf")}
    result = subprocess.run([sys.executable, str(ROOT / "training" / "train_dcgan.py")], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr[-3000:]
    assert result.stderr.strip() == ("error: cannot reach the Hugging Face Hub for the dataset 'huggan/CelebA-faces' "
                                     "(offline mode: HF_HUB_OFFLINE or HF_DATASETS_OFFLINE is set), and it is not in "
                                     "the local cache; with the data on disk, name its folder: "
                                     "--dataset ../shared/data/celeba-faces-64")
    assert "Traceback" not in result.stdout + result.stderr and not (tmp_path / "runs").exists()


def without_output_dir(args: list[str]) -> list[str]:
    i = args.index("--output_dir")
    return args[:i] + args[i + 2:]


def test_without_output_dir_each_run_gets_a_new_folder_and_latest_goes_on_with_the_newest(tiny_image_dataset,
                                                                                         tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def run(*extra):
        return train_dcgan.main(train_dcgan.parse_args(without_output_dir(tiny_args(tiny_image_dataset, "-", *extra))))

    first = run("--max_steps", "2").parent
    kept = {p: p.read_bytes() for p in first.rglob("*") if p.is_file() and "logs" not in p.parts}
    second = run("--max_steps", "2").parent
    assert first != second and first.parent == second.parent == Path("runs") / "faces"
    assert sorted(p.name for p in (tmp_path / "runs" / "faces").iterdir()) == sorted([first.name, second.name])
    assert {p: p.read_bytes() for p in kept} == kept  # the earlier run is as it was
    assert run("--max_steps", "4", "--resume_from_checkpoint", "latest").parent == second  # the newest run goes on
    assert [p.name for p in common.list_checkpoints(second)] == ["checkpoint-2", "checkpoint-4"]
    assert len(list((tmp_path / "runs" / "faces").iterdir())) == 2
    # two runs started in the same second: the second gets its own folder, made at once so no third can take it
    assert [common.new_run_dir(tmp_path / "same", "20260101-120000").name for _ in range(3)] == [
        "20260101-120000", "20260101-120000-2", "20260101-120000-3"]
    with pytest.raises(SystemExit, match="goes on with the newest run under runs/digits, and there is none"):
        common.resolve_output_dir(argparse_namespace(run_root="runs/digits", output_dir=None,
                                                     resume_from_checkpoint="latest"))


def argparse_namespace(**kw):
    import argparse

    return argparse.Namespace(**kw)


def test_in_memory_batches_are_a_function_of_the_step():
    data = torch.arange(20)
    a = common.InMemoryBatches(data, batch_size=4, seed=3)
    b = common.InMemoryBatches(data, batch_size=4, seed=3)
    seen = [a.batch(s)[0] for s in range(10)]
    assert torch.equal(b.batch(7)[0], seen[7])  # jumping straight to a step gives the same batch
    epoch0 = torch.cat(seen[:5])
    assert sorted(epoch0.tolist()) == list(range(20))  # each row once per epoch
    rank0 = common.InMemoryBatches(data, batch_size=2, seed=3, process_index=0, num_processes=2).batch(0)[0]
    rank1 = common.InMemoryBatches(data, batch_size=2, seed=3, process_index=1, num_processes=2).batch(0)[0]
    assert set(rank0.tolist()).isdisjoint(rank1.tolist())


def test_linear_decay_holds_the_rates_then_lowers_them_to_zero_over_the_last_steps():
    params = [torch.nn.Parameter(torch.zeros(1))]
    opt_g, opt_d = torch.optim.Adam(params, lr=1.0), torch.optim.Adam(params, lr=1.0)
    seen = []
    for step in range(10):  # 10 steps, the last 4 decaying
        common.linear_decay(step, 10, 4, (opt_g, 2e-4), (opt_d, 4e-4))
        seen.append((opt_g.param_groups[0]["lr"], opt_d.param_groups[0]["lr"]))
    assert seen[:6] == [(2e-4, 4e-4)] * 6
    assert [round(g / 2e-4, 6) for g, _ in seen[6:]] == [1.0, 0.75, 0.5, 0.25]
    assert all(abs(d - 2 * g) < 1e-12 for g, d in seen)
    assert common.linear_decay(10, 10, 4, (opt_g, 2e-4)) == 0.0 and opt_g.param_groups[0]["lr"] == 0.0
    assert common.linear_decay(9, 10, 0, (opt_g, 2e-4)) == 1.0  # 0: no decay


def test_keep_if_best_keeps_only_a_better_result_and_reads_the_best_from_disk(tmp_path):
    """The kept folder loads with its D and step; a worse result leaves it alone, also when a fresh call (a resumed
    run) compares, since the best is read from the folder."""
    from gan_models.faces.dcgan import DCGANDiscriminator, DCGANGenerator

    best_dir = tmp_path / "best_generator"
    D = DCGANDiscriminator(4, 32)

    def keep(fid, step):
        G = DCGANGenerator(8, 4, 32)
        return common.keep_if_best(best_dir, {"fid": fid}, lambda new, best: new["fid"] < best["fid"],
                                   lambda: DCGANPipeline(G), discriminator=D, step=step, ema_updates=step)

    assert keep(50.0, 10) and common.read_best(best_dir) == {"fid": 50.0, "step": 10}
    assert not keep(60.0, 20) and common.read_best(best_dir)["step"] == 10
    assert keep(40.0, 30) and common.read_best(best_dir) == {"fid": 40.0, "step": 30}
    from gan_models.core.pipelines import read_training_state

    DCGANPipeline.from_pretrained(best_dir)  # loads
    assert read_training_state(best_dir)["step"] == 30 and (best_dir / "discriminator").is_dir()


def test_final_folder_is_the_kept_best_whole_or_else_the_current_pipeline_with_the_run_args(tmp_path):
    """With a kept folder, the run's pipeline/ is that folder (its G, its D, its step), replacing what an earlier
    finish left there; without, it is the current pipeline with this D and step. training_args.json either way."""
    from gan_models.core.pipelines import read_training_state
    from gan_models.faces.dcgan import DCGANDiscriminator, DCGANGenerator

    (tmp_path / "training_args.json").write_text('{"lr": 0.0002}')
    D = DCGANDiscriminator(4, 32)
    current, best = DCGANGenerator(8, 4, 32), DCGANGenerator(8, 4, 32)
    assert not torch.equal(current.state_dict()["net.0.weight"], best.state_dict()["net.0.weight"])
    best_dir = tmp_path / "best_generator"
    common.save_pipeline(DCGANPipeline(best), best_dir, discriminator=D, step=10, ema_updates=10)

    folder = common.final_folder(tmp_path, lambda: DCGANPipeline(current), discriminator=D, step=30, ema_updates=30)
    assert folder == tmp_path / "pipeline" and read_training_state(folder)["step"] == 30
    (folder / "stale.txt").write_text("from an earlier finish")
    loaded = DCGANPipeline.from_pretrained(folder).generator
    assert torch.equal(loaded.state_dict()["net.0.weight"], current.state_dict()["net.0.weight"])

    folder = common.final_folder(tmp_path, lambda: DCGANPipeline(current), discriminator=D, step=30, ema_updates=30,
                                 kept=best_dir)
    assert read_training_state(folder)["step"] == 10 and (folder / "discriminator").is_dir()
    assert not (folder / "stale.txt").exists()
    loaded = DCGANPipeline.from_pretrained(folder).generator
    assert torch.equal(loaded.state_dict()["net.0.weight"], best.state_dict()["net.0.weight"])
    assert (folder / "training_args.json").read_text() == '{"lr": 0.0002}'


def test_log_eval_writes_every_score_to_metrics_jsonl_and_only_numbers_to_the_trackers(tmp_path, capsys):
    logged = []

    class Accelerator:
        def log(self, row, step):
            logged.append((step, row))

        def print(self, *a):
            print(*a)

    result = {"step": 7, "fid": 12.5, "per_class": [0.5, 0.25], "iou": {"roads": 0.1}}
    common.log_eval(Accelerator(), tmp_path, 7, result)
    common.log_eval(Accelerator(), tmp_path, 9, {"fid": 11.0})
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows == [{"step": 7, "eval/fid": 12.5, "eval/per_class": [0.5, 0.25], "eval/iou": {"roads": 0.1}},
                    {"step": 9, "eval/fid": 11.0}]
    assert logged == [(7, {"eval/fid": 12.5}), (9, {"eval/fid": 11.0})]
    assert "step 7: eval" in capsys.readouterr().out


def test_accelerate_launch_runs_the_script(tiny_image_dataset, tmp_path):
    out = tmp_path / "launched"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no",
           str(ROOT / "training" / "train_dcgan.py"), *tiny_args(tiny_image_dataset, out, "--max_steps", "2")]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "checkpoints" / "checkpoint-2" / "complete.json").is_file()
    assert DCGANPipeline.from_pretrained(out / "pipeline")(2).images


def test_two_processes_under_torchrun_share_one_run(tiny_image_dataset, tmp_path):
    """Accelerate on the torch.distributed environment (gloo, MULTI_CPU): two ranks, one set of outputs. No
    --output_dir: the ranks agree on the one new run folder rank 0 made under runs/faces."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
           str(ROOT / "training" / "train_dcgan.py"),
           *without_output_dir(tiny_args(tiny_image_dataset, "-", "--max_steps", "3"))]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (out,) = (tmp_path / "runs" / "faces").iterdir()  # one run folder, not one per rank
    assert result.stdout.count("output_dir: runs/faces/") == 1 and f"output_dir: runs/faces/{out.name}" in result.stdout
    # 24 images, global batch 2 x 4 = 8: three steps per epoch, each rank its own slice
    assert "3 steps/epoch" in result.stdout
    assert result.stdout.count("step 3:") == 1  # only the main process logs
    checkpoint = out / "checkpoints" / "checkpoint-3"
    assert (checkpoint / "random_states_0.pkl").is_file() and (checkpoint / "random_states_1.pkl").is_file()
    assert len(list(out.glob("pipeline*"))) == 1 and DCGANPipeline.from_pretrained(out / "pipeline")(1).images


def test_push_to_hub_uploads_the_ema_generator_once_at_the_end(tiny_image_dataset, tmp_path, monkeypatch, capsys):
    """Only the HTTP calls are replaced: the folder that would be uploaded is inspected for real."""
    import huggingface_hub
    from huggingface_hub import CommitInfo

    calls = []

    class RecordingApi:
        def create_repo(self, repo_id, **kw):
            calls.append(("create_repo", repo_id, kw))

        def create_branch(self, repo_id, **kw):
            calls.append(("create_branch", repo_id, kw))

        def upload_folder(self, repo_id, folder_path, **kw):
            calls.append(("upload_folder", repo_id, sorted(p.relative_to(folder_path).as_posix()
                                                           for p in Path(folder_path).rglob("*") if p.is_file()), kw))
            return CommitInfo(commit_url=f"https://huggingface.co/{repo_id}/commit/x", commit_message="",
                              commit_description="", oid="c0ffee" * 6 + "c0ff")

    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    monkeypatch.setenv("HF_TOKEN", "hf_test_not_a_real_token")
    out = tmp_path / "run"
    train_dcgan.main(train_dcgan.parse_args(tiny_args(
        tiny_image_dataset, out, "--max_steps", "4", "--push_to_hub", "--hub_model_id", "me/faces",
        "--hub_revision", "v1")))
    uploads = [c for c in calls if c[0] == "upload_folder"]
    assert len(uploads) == 1  # once, at the end: not every checkpoint, not every epoch
    assert uploads[0][1] == "me/faces" and uploads[0][3]["revision"] == "v1"
    assert {"model_index.json", "generator/config.json", "generator/diffusion_pytorch_model.safetensors",
            "faces_gan.py", "discriminator/diffusion_pytorch_model.safetensors", "training_state.json",
            "README.md", "samples.png"} <= set(uploads[0][2])
    assert uploads[0][3]["allow_patterns"] == publish_files(out / "pipeline", "faces_gan")  # data + its module only
    assert ("create_branch", "me/faces", {"branch": "v1", "exist_ok": True}) in calls
    card = (out / "pipeline" / "README.md").read_text()
    assert "me/faces" in card and "library_name: diffusers" in card
    assert 'revision: "' + "c0ffee" * 6 + 'c0ff"' in capsys.readouterr().out  # the commit a Space tab pins


def test_push_without_a_repo_id_or_token_is_refused_before_training(tiny_image_dataset, tmp_path, monkeypatch):
    with pytest.raises(SystemExit, match="--hub_model_id"):
        train_dcgan.main(train_dcgan.parse_args(
            tiny_args(tiny_image_dataset, tmp_path / "run", "--max_steps", "1", "--push_to_hub")))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    with pytest.raises(SystemExit, match="hf auth login"):
        train_dcgan.main(train_dcgan.parse_args(tiny_args(
            tiny_image_dataset, tmp_path / "run2", "--max_steps", "1", "--push_to_hub", "--hub_model_id", "me/x")))
    assert not (tmp_path / "run").exists() and not (tmp_path / "run2").exists()  # refused before anything ran


def test_model_card_carries_the_metrics_as_eval_results(tmp_path):
    from huggingface_hub import ModelCard

    path = common.write_model_card(
        tmp_path, title="Faces", pipeline_tag="unconditional-image-generation", dataset="huggan/CelebA-faces",
        license="other", description="A test card.", usage="print('hi')",
        metrics={"fid": 51.2, "kid": 0.031}, metrics_note="1,000 generated vs 1,000 held-out faces")
    card = ModelCard.load(path)
    assert card.data.pipeline_tag == "unconditional-image-generation" and card.data.datasets == ["huggan/CelebA-faces"]
    assert {(r.metric_type, r.metric_value) for r in card.data.eval_results} == {("fid", 51.2), ("kid", 0.031)}
    assert "1,000 generated vs 1,000 held-out faces" in card.text and "| fid | 51.2 |" in card.text


def test_the_hub_token_is_never_written_or_printed(tiny_image_dataset, tmp_path, monkeypatch, capsys):
    import huggingface_hub

    secret = "hf_SECRET_token_that_must_not_leak_12345"

    class QuietApi:
        def create_repo(self, *a, **kw):
            pass

        def upload_folder(self, *a, **kw):
            pass

    monkeypatch.setattr(huggingface_hub, "HfApi", QuietApi)
    monkeypatch.setenv("HF_TOKEN", secret)
    out = tmp_path / "run"
    train_dcgan.main(train_dcgan.parse_args(tiny_args(
        tiny_image_dataset, out, "--max_steps", "2", "--push_to_hub", "--hub_model_id", "me/faces",
        "--report_to", "tensorboard")))
    printed = capsys.readouterr()
    assert secret not in printed.out and secret not in printed.err
    scanned = 0
    for path in out.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), f"token found in {path}"
            scanned += 1
    assert scanned >= 10  # checkpoints, weights, card, logs, samples were all looked at


def test_eval_steps_keep_the_best_generator_and_put_its_metrics_in_the_card(tiny_image_dataset, tmp_path,
                                                                            pixel_features, monkeypatch):
    """The FIDs are fixed by the test, so which evaluation is best is known: the middle one (step 4), neither the
    first, the last nor the worst. Its EMA generator (recorded as it was judged) must be the one kept and saved."""
    import gan_models.judges.evaluate
    import gan_models.judges.metrics
    from huggingface_hub import ModelCard

    real_generate, real_fid_kid = gan_models.judges.evaluate.generate_uint8, gan_models.judges.metrics.fid_kid
    judged = []  # the weights of the generator each evaluation scored, in order

    def recording_generate(pipe, num, **kw):
        judged.append({k: v.detach().clone() for k, v in pipe.generator.state_dict().items()})
        return real_generate(pipe, num, **kw)

    fids = [30.0, 10.0, 50.0, 50.0]  # steps 2, 4, 6 and 6 again in finish(): step 4 is the best, step 6 the worst

    def scripted_fid_kid(real, fake, **kw):
        return {**real_fid_kid(real, fake, **kw), "fid": fids[len(judged) - 1]}

    monkeypatch.setattr(gan_models.judges.evaluate, "generate_uint8", recording_generate)
    monkeypatch.setattr(gan_models.judges.metrics, "fid_kid", scripted_fid_kid)
    out = tmp_path / "run"
    folder = train_dcgan.main(train_dcgan.parse_args(tiny_args(
        tiny_image_dataset, out, "--max_steps", "6", "--holdout", "8", "--eval_steps", "2", "--eval_samples", "8")))
    assert len(judged) == 4
    assert any(not torch.equal(judged[1][k], judged[2][k]) for k in judged[1])  # G moved after step 4
    best = json.loads((out / "best_generator" / "metrics.json").read_text())
    assert best["step"] == 4 and best["fid"] == 10.0 and best["num_fake"] == 8 and best["num_real"] == 8
    for saved in (out / "best_generator", folder):  # kept while training, then saved as generator/
        weights = generator_weights(saved)
        assert weights.keys() == judged[1].keys(), saved
        for key in weights:
            assert torch.equal(weights[key], judged[1][key]), (saved, key)
    card = ModelCard.load(folder / "README.md")
    assert {r.metric_type: r.metric_value for r in card.data.eval_results} == {"fid": 10.0, "kid": best["kid"]}
    assert "at step 4" in card.text


def test_eval_steps_without_holdout_is_refused(tiny_image_dataset, tmp_path):
    with pytest.raises(SystemExit, match="--holdout"):
        train_dcgan.main(train_dcgan.parse_args(
            tiny_args(tiny_image_dataset, tmp_path / "run", "--max_steps", "2", "--eval_steps", "1")))


def test_max_minutes_stops_with_a_checkpoint_and_snapshots_are_loadable(tiny_image_dataset, tmp_path):
    out = tmp_path / "run"
    args = tiny_args(tiny_image_dataset, out, "--max_steps", "1000", "--max_minutes", "1e-9",
                     "--checkpointing_steps", "1000")
    folder = train_dcgan.main(train_dcgan.parse_args(args))
    # the time is up at the first check (every 25 steps): the run stops there and checkpoints that step
    assert [p.name for p in common.list_checkpoints(out)] == ["checkpoint-25"]
    assert json.loads((folder / "training_args.json").read_text())["max_minutes"] == 1e-9
    assert DCGANPipeline.from_pretrained(folder)(2, seed=0).images

    args = tiny_args(tiny_image_dataset, tmp_path / "snap", "--max_steps", "3", "--snapshot_steps", "2")
    train_dcgan.main(train_dcgan.parse_args(args))
    snaps = sorted(p.name for p in (tmp_path / "snap" / "snapshots").iterdir())
    assert snaps == ["step-0000002"]
    pipe = DCGANPipeline.from_pretrained(tmp_path / "snap" / "snapshots" / "step-0000002")
    assert len(pipe(2, seed=0).images) == 2


def ema_params(model):
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def warmed_up_decay(decay, n):
    """The EMA's decay at its n-th update (counted from 1): early weights fade fast."""
    return min(decay, (1 + n) / (10 + n))


def assert_ema_step(ema, before, g, decay):
    """ema == decay * (the EMA before the update) + (1 - decay) * G, parameter by parameter (float64)."""
    now, live = ema_params(ema.model), ema_params(g)
    assert now.keys() == before.keys() == live.keys()
    for k in now:
        torch.testing.assert_close(now[k], decay * before[k] + (1 - decay) * live[k], rtol=0, atol=1e-12, msg=k)
        assert not torch.equal(now[k], live[k]), k  # an average, not a copy of G


def nudge(model, seed):
    """Move every weight and BatchNorm statistic of ``model`` by a random amount, as a training step would."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in [*model.parameters(), *(b for b in model.buffers() if b.is_floating_point())]:
            t.add_(torch.randn(t.shape, generator=gen, dtype=t.dtype))


def small_g():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2)).double()


def test_ema_update_is_the_warmed_up_average_of_the_ema_and_g():
    g = small_g()
    ema = common.EMA(g, 0.9)
    start = ema_params(ema.model)
    assert start.keys() == ema_params(g).keys() and all(torch.equal(start[k], v) for k, v in ema_params(g).items())
    for n in (1, 2, 3):  # decay 2/11, 3/12, 4/13: the warm-up, not yet the 0.9 asked for
        nudge(g, n)
        before = ema_params(ema.model)
        ema.update(g)
        assert_ema_step(ema, before, g, warmed_up_decay(0.9, n))
        assert int(ema.num_updates) == n
        for mine, live in zip(ema.model.buffers(), g.buffers()):
            assert torch.equal(mine, live)  # BatchNorm statistics are copied, not averaged
    late = common.EMA(g, 0.9)  # far past the warm-up: the decay itself
    late.load_state_dict({**late.state_dict(), "num_updates": torch.tensor(1000)})
    nudge(g, 4)
    before = ema_params(late.model)
    late.update(g)
    assert_ema_step(late, before, g, 0.9)
    plain = common.EMA(g, 0.9, warmup=False)  # a fine-tuned G: the decay from the first update
    nudge(g, 5)
    before = ema_params(plain.model)
    plain.update(g)
    assert_ema_step(plain, before, g, 0.9)


def test_the_saved_ema_generator_is_the_average_of_the_start_and_g_not_g(tiny_image_dataset, tmp_path):
    """One training step: the saved EMA = d * G at step 0 + (1 - d) * G after step 1, d = min(0.999, 2/11)."""
    start = load_file(str(train_dcgan.main(train_dcgan.parse_args(
        tiny_args(tiny_image_dataset, tmp_path / "a", "--max_steps", "0"))) / "generator" / "diffusion_pytorch_model.safetensors"))
    saved = load_file(str(train_dcgan.main(train_dcgan.parse_args(
        tiny_args(tiny_image_dataset, tmp_path / "b", "--max_steps", "1"))) / "generator" / "diffusion_pytorch_model.safetensors"))
    live = load_file(str(tmp_path / "b" / "checkpoints" / "checkpoint-1" / "model.safetensors"))  # G, not its EMA
    params = [k for k in start if "running" not in k and "num_batches" not in k]  # BatchNorm stats are re-estimated
    assert params and start.keys() == saved.keys() == live.keys()
    d = warmed_up_decay(0.999, 1)
    for k in params:
        assert not torch.equal(live[k], start[k]), k  # G learned
        torch.testing.assert_close(saved[k], d * start[k] + (1 - d) * live[k], rtol=0, atol=2e-7, msg=k)
        assert (saved[k] - live[k]).abs().max() > 1e-6, k


def test_ema_weights_and_count_come_back_from_a_checkpoint_and_the_next_update_counts_on(tmp_path):
    """Restoring into an EMA that has a count of its own (it went on updating after the save, or another EMA was
    loaded into) must forget that count: the next update is the restored count + 1, with that count's decay."""
    from accelerate import Accelerator

    g = small_g()
    ema = common.EMA(g, 0.9)
    for n in range(3):
        nudge(g, n)
        ema.update(g)
    saved_weights, g_at_save = ema_params(ema.model), copy.deepcopy(g)
    accelerator = Accelerator()
    accelerator.register_for_checkpointing(ema)
    accelerator.save_state(str(tmp_path / "checkpoint"))
    for n in range(3, 8):  # five more updates after the checkpoint: count 8
        nudge(g, n)
        ema.update(g)
    assert int(ema.num_updates) == 8
    accelerator.load_state(str(tmp_path / "checkpoint"))
    assert int(ema.num_updates) == 3
    now = ema_params(ema.model)
    assert all(torch.equal(now[k], saved_weights[k]) for k in saved_weights)
    ema.update(g_at_save)
    assert int(ema.num_updates) == 4
    assert_ema_step(ema, saved_weights, g_at_save, warmed_up_decay(0.9, 4))

    other = common.EMA(g, 0.9)  # a state-dict round trip into an EMA that counted to 2 itself
    other.update(g), other.update(g)
    other.load_state_dict(common.EMA(g_at_save, 0.9).state_dict() | {"num_updates": torch.tensor(3)})
    nudge(g, 9)
    before = ema_params(other.model)
    other.update(g)
    assert int(other.num_updates) == 4
    assert_ema_step(other, before, g, warmed_up_decay(0.9, 4))


def test_kill_9_while_writing_a_checkpoint_then_resume_matches_an_uninterrupted_run(tiny_image_dataset, tmp_path):
    """A real SIGKILL in the middle of a checkpoint write (files written, not yet marked complete and renamed)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    script = str(ROOT / "training" / "train_dcgan.py")
    out = tmp_path / "killed"
    args = tiny_args(tiny_image_dataset, out, "--max_steps", "6", "--resume_from_checkpoint", "latest")
    killed = subprocess.run([sys.executable, script, *args], env={**env, "GAN_GALLERY_KILL_AT": "checkpoint:4"},
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert (out / "checkpoints" / "tmp-checkpoint-4").is_dir()  # the half-done write is there ...
    assert [p.name for p in common.list_checkpoints(out)] == ["checkpoint-2"]  # ... and never counts
    assert not (out / "pipeline").exists()

    resumed = subprocess.run([sys.executable, script, *args], env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from" in resumed.stdout and "checkpoint-2 at step 2" in resumed.stdout
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 3, 4, 5, 6]  # steps 3-4 were redone after the kill

    straight = train_dcgan.main(train_dcgan.parse_args(tiny_args(tiny_image_dataset, tmp_path / "straight",
                                                                 "--max_steps", "6")))
    a, b = generator_weights(straight), generator_weights(out / "pipeline")
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-5, rtol=1e-4, msg=key)
