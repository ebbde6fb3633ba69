"""The boilerplate every training script shares, written once.

Accelerator set-up, arguments every script takes, the in-memory data stream, an EMA
generator, atomic checkpoints with resume, sample grids, metric logging, and the final
save + push of the EMA generator. The adversarial loops themselves stay in the scripts.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: find gan_models

from gan_models.data import DatasetUnavailable, to_uint8  # noqa: E402


# ----------------------------------------------------------------------------- arguments
def add_data_args(parser: argparse.ArgumentParser, *, run_name: str, dataset: str, local_dataset: str) -> None:
    """--dataset and --output_dir, with the defaults that let the bare command run (every script, GAN or judge).

    ``dataset`` is the default: the Hub dataset the script was made for (the birds' captioned crops have no Hub
    copy: their local folder). ``local_dataset`` is the same data as a folder, named when the Hub cannot be
    reached. Without --output_dir a run gets a new folder under runs/<run_name> (``resolve_output_dir``).
    """
    a = parser.add_argument
    where = "from the Hub" if dataset != local_dataset else "a local folder"
    a("--dataset", default=dataset,
      help=f"Hub dataset id or local folder (default: {dataset}, {where}; the same data on disk: {local_dataset})")
    a("--output_dir", default=None,
      help=f"checkpoints, samples, logs and the final weights go here (default: a new folder runs/{run_name}/"
           f"<date-time>, never an earlier run's; with --resume_from_checkpoint, the newest run there)")
    parser.set_defaults(run_root=f"runs/{run_name}", local_dataset=local_dataset)


def add_common_args(parser: argparse.ArgumentParser, *, run_name: str, dataset: str, local_dataset: str,
                    batch_size: int, max_steps: int, lr: float) -> None:
    """Arguments every training script takes; each script adds its model's own."""
    add_data_args(parser, run_name=run_name, dataset=dataset, local_dataset=local_dataset)
    a = parser.add_argument
    a("--dataset_config", default=None, help="dataset configuration name, if it has several")
    a("--split", default="train")
    a("--seed", type=seed_arg, default=0, help="0 to 2**32 - 1; process i draws its noise from seed + i")
    a("--holdout", type=int, default=0, help="rows held out from training (random, from --holdout_seed) for evaluation")
    a("--holdout_seed", type=int, default=0)
    a("--max_rows", type=int, default=None, help="use only the first N rows (quick experiments)")
    a("--batch_size", type=int, default=batch_size, help="per process")
    a("--max_steps", type=int, default=max_steps, help="optimizer steps of D and G (one each per step)")
    a("--max_minutes", type=float, default=0,
      help="also stop after this much training time (0: no limit); a checkpoint and the generator are saved")
    a("--lr_g", type=float, default=lr)
    a("--lr_d", type=float, default=lr)
    a("--beta1", type=float, default=0.5)
    a("--beta2", type=float, default=0.999)
    a("--ema_decay", type=float, default=0.999, help="EMA of the generator's weights (warmed up over the first steps)")
    a("--log_steps", type=int, default=50)
    a("--sample_steps", type=int, default=500, help="write a sample grid of the EMA generator every N steps")
    a("--checkpointing_steps", type=int, default=500)
    a("--snapshot_steps", type=int, default=0,
      help="every N steps also keep the EMA generator (fp16, Hub format) in snapshots/step-N for later evaluation")
    a("--checkpoints_total_limit", type=int, default=3)
    a("--resume_from_checkpoint", default=None, help="'latest' or a checkpoint folder")
    a("--overwrite_output_dir", action="store_true",
      help="start afresh in an --output_dir that holds another run's checkpoints: they (and its best generator, "
           "snapshots, samples and metrics.jsonl) are deleted first; without it such a start is refused")
    a("--init_generator", default=None,
      help="fine-tune: start G (and its EMA) from saved generator weights, a folder with config.json + "
           "model.safetensors such as gan_models/weights/<demo>; D starts afresh; a checkpoint resumed from wins")
    a("--resume_from_weights", default=None,
      help="continue adversarial training from a saved weights folder that carries its discriminator (a "
           "pipeline folder as training writes <output_dir>/pipeline, or gan_models/weights/<demo>): G and its EMA from the generator weights, D from "
           "discriminator/, the step count and EMA count from training_state.json (StyleGAN2-ADA's resume from "
           "G + D); the optimizers start afresh; a checkpoint resumed from wins")
    a("--d_warmup_steps", type=int, default=0,
      help="train D alone for the first N steps (G frozen): lets a fresh D catch up with an --init_generator G "
           "before G learns from it")
    a("--mixed_precision", default="no", choices=["no", "fp16", "bf16"])
    a("--report_to", default="tensorboard", help="Accelerate tracker ('tensorboard', 'wandb', 'none')")
    a("--threads", type=int, default=None, help="torch CPU threads per process (default: torch's choice)")
    a("--push_to_hub", action="store_true", help="upload the final EMA generator and a model card")
    a("--push_every_steps", type=int, default=0, help="also push every N steps (0: only at the end; never every epoch)")
    a("--hub_model_id", default=None, help="user/name of the model repo")
    a("--hub_private", action="store_true")
    a("--hub_revision", default=None, help="branch to push to (created if needed)")


MAX_SEED = 2**32 - 1


def seed_arg(text: str) -> int:
    """argparse type for --seed: a whole number from 0 to 2**32 - 1 (what every RNG it seeds accepts)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to {MAX_SEED}, got {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be from 0 to {MAX_SEED}, got {value}")
    return value


def process_seed(seed: int, rank: int) -> int:
    """Process ``rank``'s seed: seed + rank, wrapped into 0 .. 2**32 - 1 (numpy refuses anything larger)."""
    return (seed + rank) % (MAX_SEED + 1)


@contextmanager
def dataset_errors(args):
    """Load the data inside this, before anything is written: a dataset that cannot be had (the Hub out of reach,
    a folder that is not there) ends the run with one line that says so and names the local form, no traceback."""
    try:
        yield
    except DatasetUnavailable as err:
        local = getattr(args, "local_dataset", None)
        if err.name == args.dataset and local and local != args.dataset:
            hint = f"; with the data on disk, name its folder: --dataset {local}"
        elif err.name == args.dataset and local:
            hint = (f"; run from the gallery's folder with the data beside it ({local}), or name the folder with "
                    "--dataset")
        else:
            hint = "; name a folder that holds the data instead"
        raise SystemExit(f"error: {err}{hint}") from None


def new_run_dir(root: str | Path, stamp: str | None = None) -> Path:
    """A new, empty folder under ``root`` named by the start time (runs/faces/20261201-213400; -2, -3, ... when
    that name is taken): made here, so that no other run, started the same second, can take it too."""
    root, stamp = Path(root), stamp or time.strftime("%Y%m%d-%H%M%S")
    for n in range(1, 1000):
        path = root / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise OSError(f"{root} already holds {stamp} and 998 more runs of that second")


def _choose_output_dir(args) -> str:
    """The main process's answer for a missing --output_dir: a path, or a line starting with 'error: '."""
    root, resume = Path(args.run_root), getattr(args, "resume_from_checkpoint", None)
    if resume == "latest":  # go on with the run whose newest checkpoint is the newest
        runs = [p for p in root.glob("*") if p.is_dir() and list_checkpoints(p)]
        if not runs:
            return (f"error: --resume_from_checkpoint latest without --output_dir goes on with the newest run under "
                    f"{root}, and there is none with a checkpoint: name the run's folder with --output_dir")
        return str(max(runs, key=lambda p: list_checkpoints(p)[-1].stat().st_mtime))
    if resume:  # a checkpoint folder: its run is the one it sits in (<run>/checkpoints/...)
        checkpoint = Path(resume)
        if checkpoint.parent.name != "checkpoints":
            return (f"error: cannot tell which run {checkpoint} belongs to: name the run's folder with "
                    "--output_dir")
        return str(checkpoint.parent.parent)
    try:
        return str(new_run_dir(root))
    except OSError as err:
        return f"error: cannot make a run folder under {root}: {err}"


def _broadcast_text(text: str | None, device) -> str:
    """Process 0's ``text`` on every process (the others pass None), sent as UTF-8 bytes in tensors: nothing is
    pickled."""
    from accelerate.utils import broadcast

    raw = torch.tensor(list((text or "").encode()), dtype=torch.uint8, device=device)
    length = broadcast(torch.tensor([len(raw)], dtype=torch.int64, device=device), from_process=0)
    buffer = raw if text is not None else torch.zeros(int(length.item()), dtype=torch.uint8, device=device)
    return bytes(broadcast(buffer, from_process=0).cpu().tolist()).decode()


def resolve_output_dir(args, state=None) -> None:
    """Fill in a missing --output_dir: a new run folder under ``args.run_root``, or, resuming, the run to go on with.

    The main process chooses (and makes the new folder); with several processes (``state``, Accelerate's
    PartialState) the others get its answer, so that they all write into one run.
    """
    if args.output_dir is not None:
        return
    main = state is None or state.is_main_process
    answer = _choose_output_dir(args) if main else None
    if state is not None and state.num_processes > 1:
        answer = _broadcast_text(answer, state.device)
    if answer.startswith("error: "):
        raise SystemExit(answer)
    args.output_dir = answer
    if main:
        print(f"output_dir: {answer}")


def check_output_dir(path: str | Path, min_free_mb: int = 200) -> Path:
    """Fail before training, not after an hour, if the output folder is unusable."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as err:
        raise SystemExit(f"error: output_dir {path} is not writable: {err}")
    free_mb = shutil.disk_usage(path).free // 2**20
    if free_mb < min_free_mb:
        raise SystemExit(f"error: only {free_mb} MB free under {path}; checkpoints need at least {min_free_mb} MB")
    return path


# ----------------------------------------------------------------------------- accelerator
def check_push_args(args) -> None:
    """Refuse a push that cannot happen before training, not after it."""
    if not args.push_to_hub:
        return
    if not args.hub_model_id or args.hub_model_id.count("/") != 1:
        raise SystemExit("error: --push_to_hub needs --hub_model_id user/name")
    from huggingface_hub import get_token

    if not get_token():
        raise SystemExit("error: --push_to_hub needs a Hugging Face token: run `hf auth login` "
                         "or set the HF_TOKEN environment variable")


def make_accelerator(args, project_name: str):
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration, set_seed

    check_push_args(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    if torch.cuda.is_available():
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick the fastest convolutions once
    log_with = None if args.report_to in (None, "", "none") else args.report_to
    if log_with == "tensorboard":
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            print("tensorboard is not installed: logging to metrics.jsonl only", file=sys.stderr)
            log_with = None
    # Under torchrun/mpirun without CUDA, Accelerate sets up gloo (MULTI_CPU) only when told cpu=True.
    multi_cpu = not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1
    if args.output_dir is None:  # the processes agree on one new run folder before the Accelerator logs into it
        from accelerate import PartialState

        resolve_output_dir(args, PartialState(cpu=multi_cpu))
    accelerator = Accelerator(
        cpu=multi_cpu, mixed_precision=args.mixed_precision, log_with=log_with,
        project_config=ProjectConfiguration(project_dir=args.output_dir, logging_dir=str(Path(args.output_dir) / "logs")),
    )
    set_seed(process_seed(args.seed, accelerator.process_index))  # each process its own noise and augmentations
    check_run_dir(accelerator, args)
    if accelerator.is_main_process:
        check_output_dir(args.output_dir)
        config = {k: v for k, v in vars(args).items() if isinstance(v, (int, float, str, bool))}
        accelerator.init_trackers(project_name, config=config)
        (Path(args.output_dir) / "training_args.json").write_text(json.dumps(vars(args), indent=2, default=str))
    accelerator.wait_for_everyone()
    return accelerator


def prepare_gan(accelerator, args, G: nn.Module, D: nn.Module, *extra_state):
    """What every GAN script does before its loop: EMA of G, Adam for each net, Accelerate, resume.

    Returns (G, D, D_plain, opt_g, opt_d, ema, state). ``D_plain`` is D without its DDP wrapper:
    G's step calls it, and D's gradients are not wanted there. ``extra_state`` (objects with
    state_dict/load_state_dict) is checkpointed after the EMA and the step counter.
    """
    if args.resume_from_weights and args.init_generator:
        raise SystemExit("error: give --resume_from_weights (G + D) or --init_generator (G only), not both")
    if args.init_generator:  # a checkpoint loaded by resume() below replaces these weights
        init_generator(G, args.init_generator)
        accelerator.print(f"generator initialised from {args.init_generator}")
    saved = None
    if args.resume_from_weights:
        saved = load_gan_folder(G, D, args.resume_from_weights)
        accelerator.print(f"resuming adversarial training from {args.resume_from_weights} (G, D) at step "
                          f"{saved['step']}")
    # A fine-tuned G is already good: its EMA averages from the first step instead of forgetting the start.
    ema = EMA(G, args.ema_decay, warmup=not args.init_generator).to(accelerator.device)
    opt_g = torch.optim.Adam(G.parameters(), lr=args.lr_g, betas=(args.beta1, args.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=args.lr_d, betas=(args.beta1, args.beta2))
    G, D, opt_g, opt_d = accelerator.prepare(G, D, opt_g, opt_d)
    state = TrainState()
    if saved:
        state.step = saved["step"]
        ema.num_updates.fill_(saved["ema_updates"])
    accelerator.register_for_checkpointing(ema, state, *extra_state)
    resume(accelerator, args, state)
    return G, D, accelerator.unwrap_model(D), opt_g, opt_d, ema, state


def generator_folder(folder: str | Path) -> Path:
    """The generator's own folder inside a saved pipeline folder (``generator/``); an earlier-layout folder is its own."""
    folder = Path(folder)
    return folder / "generator" if (folder / "model_index.json").is_file() else folder


def init_generator(G: nn.Module, folder: str | Path) -> None:
    """Copy saved generator weights into ``G`` (strict: the saved config must build the same network)."""
    from gan_models.core.modeling import CONFIG_NAME, LEGACY_WEIGHTS_NAME, WEIGHTS_NAME, WeightsError, load_weights_into

    folder = generator_folder(folder)
    try:
        saved = json.loads((folder / CONFIG_NAME).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise SystemExit(f"error: --init_generator {folder}: cannot read {CONFIG_NAME}: {err}") from None
    weights = folder / WEIGHTS_NAME if (folder / WEIGHTS_NAME).is_file() else folder / LEGACY_WEIGHTS_NAME
    try:
        load_weights_into(G, weights)
    except WeightsError as err:
        raise SystemExit(f"error: --init_generator {folder} (saved config {saved}) does not fit the generator "
                         f"these arguments build: {err}") from None


# ----------------------------------------------------------------------------- evaluations, learning rate
def read_best(folder: str | Path) -> dict | None:
    """The best evaluation so far ({"step", ...scores}), kept in metrics.json beside its generator (survives a resume)."""
    path = Path(folder) / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else None


def log_eval(accelerator, output_dir: str | Path, step: int, result: dict) -> None:
    """One evaluation's scores as ``eval/<name>``: the numbers to the trackers, everything (per-class lists too) to
    metrics.jsonl, and the whole result to the console."""
    scores = {f"eval/{k}": v for k, v in result.items() if k != "step"}
    accelerator.log({k: v for k, v in scores.items() if isinstance(v, (int, float))}, step=step)
    with (Path(output_dir) / "metrics.jsonl").open("a") as f:
        f.write(json.dumps({"step": step, **scores}) + "\n")
    accelerator.print(f"step {step}: eval {json.dumps(result)}")


def keep_if_best(best_dir: str | Path, result: dict, better, make_pipeline, *, discriminator: nn.Module, step: int,
                 ema_updates: int, **save_kwargs) -> bool:
    """Save ``make_pipeline()`` with its D and the step into ``best_dir`` (and ``result`` as its metrics.json) when
    ``better(result, best)`` says it beats the best kept there, or none is; -> whether it was kept. The best is read
    from disk, so a resumed run goes on comparing against it, and the kept folder is one training can go on from."""
    best = read_best(best_dir)
    if best is not None and not better(result, best):
        return False
    save_pipeline(make_pipeline(), best_dir, discriminator=discriminator, step=step, ema_updates=ema_updates,
                  **save_kwargs)
    (Path(best_dir) / "metrics.json").write_text(json.dumps({**result, "step": step}, indent=1) + "\n")
    return True


def final_folder(output_dir: str | Path, make_pipeline, *, discriminator: nn.Module, step: int, ema_updates: int,
                 kept: str | Path | None = None, **save_kwargs) -> Path:
    """``<output_dir>/pipeline``, the folder a run ends with and ``--resume_from_weights`` goes on from: the ``kept``
    best evaluation's folder copied whole (that G with its own D and step), or else ``make_pipeline()`` (around the
    EMA generator) saved with this D and step; the run's ``training_args.json`` beside it either way. Main process
    only; the caller adds its sample grid, metrics and model card."""
    folder = Path(output_dir) / "pipeline"
    if kept is not None:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(kept, folder)
    else:
        save_pipeline(make_pipeline(), folder, discriminator=discriminator, step=step, ema_updates=ema_updates,
                      **save_kwargs)
    (folder / "training_args.json").write_text((Path(output_dir) / "training_args.json").read_text())
    return folder


def linear_decay(step: int, max_steps: int, decay_steps: int, *optimizers_and_rates) -> float:
    """pix2pix's schedule: each optimizer's rate constant, then falling linearly to 0 over the last ``decay_steps``
    steps (0: no decay). A pure function of the step, so a resumed run follows it exactly; -> the factor used.

    ``optimizers_and_rates``: (optimizer, its base rate) pairs."""
    start = max_steps - decay_steps
    factor = 1.0 if not decay_steps or step < start else max(0.0, 1.0 - (step - start) / decay_steps)
    for opt, lr in optimizers_and_rates:
        for group in opt.param_groups:
            group["lr"] = lr * factor
    return factor


# ----------------------------------------------------------------------------- data stream
class InMemoryBatches:
    """Batches of a uint8 tensor, each a pure function of (seed, step, process).

    Every epoch is a fresh permutation drawn from (seed, epoch); each process takes its
    own slice of the global batch. Because batch ``step`` does not depend on what came
    before, a resumed run sees exactly the data an uninterrupted run would have seen.
    The order lives where the data does: with the tensors on a GPU, a step copies nothing
    from the host (each epoch's order is copied once).
    """

    def __init__(self, *tensors: torch.Tensor, batch_size: int, seed: int, process_index: int = 0,
                 num_processes: int = 1):
        self.tensors = tensors
        self.n = len(tensors[0])
        self.batch_size, self.seed = batch_size, seed
        self.rank, self.world = process_index, num_processes
        self.global_batch = batch_size * num_processes
        if self.n < self.global_batch:
            raise ValueError(f"dataset has {self.n} rows, fewer than one global batch ({self.global_batch})")
        self.steps_per_epoch = self.n // self.global_batch  # drop the ragged end of each epoch
        self._epoch, self._order = -1, None

    def batch(self, step: int) -> tuple[torch.Tensor, ...]:
        epoch, i = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            self._epoch = epoch
            order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 100_003 + epoch))
            self._order = order.to(self.tensors[0].device)
        start = i * self.global_batch + self.rank * self.batch_size
        idx = self._order[start:start + self.batch_size]
        return tuple(t[idx] for t in self.tensors)


class FIDJudge:
    """FID/KID of the EMA generator's faces against held-out real pictures; keeps the best generator (with its D) on disk.

    ``make_pipeline(generator)`` builds the demo's unconditional pipeline around a copy of the EMA generator
    (``pipe(seeds=..., output_type="pt")``); ``prepare(ema)``, if given, runs first (the DCGAN's standing statistics).
    The best so far is read from ``best_generator/metrics.json``, so a resumed run keeps comparing against it.
    """

    def __init__(self, held_out: torch.Tensor, args, make_pipeline, prepare=None):
        from gan_models.judges.metrics import InceptionFeatures

        self.args, self.features, self.make_pipeline, self.prepare = args, InceptionFeatures(), make_pipeline, prepare
        self.held_out, self.real = held_out, None
        self.best_dir = Path(args.output_dir) / "best_generator"

    @property
    def best(self) -> dict | None:
        """The best evaluation so far ({"step", "fid", ...}), from disk: it survives a resume."""
        return read_best(self.best_dir)

    def measure(self, ema, discriminator, step: int, accelerator) -> dict:
        from gan_models.judges.evaluate import generate_uint8
        from gan_models.judges.metrics import fid_kid

        if self.real is None:
            self.real = self.features(self.held_out)
        if self.prepare is not None:
            self.prepare(ema)
        pipe = self.make_pipeline(copy.deepcopy(ema.model).cpu().float().eval())
        result = {"step": step, **fid_kid(self.real, self.features(generate_uint8(pipe, self.args.eval_samples)))}
        log_eval(accelerator, self.args.output_dir, step, result)
        keep_if_best(self.best_dir, result, lambda new, best: new["fid"] < best["fid"],
                     lambda: self.make_pipeline(ema.model), discriminator=discriminator, step=step,
                     ema_updates=int(ema.num_updates))
        return result


# ----------------------------------------------------------------------------- EMA generator
class EMA(nn.Module):
    """An exponential moving average of a model's weights (buffers are copied).

    The average of the generator's recent weights samples better than the weights of
    any single step (Karras et al. 2018; Yazıcı et al. 2019). It is what gets saved.
    """

    def __init__(self, model: nn.Module, decay: float, warmup: bool = True):
        super().__init__()
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay, self.warmup = decay, warmup
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))
        self._count: int | None = None

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        if self._count is None:  # read the counter once (after a resume); no GPU sync per step
            self._count = int(self.num_updates)
        self._count += 1
        self.num_updates.fill_(self._count)
        n = self._count
        decay = min(self.decay, (1 + n) / (10 + n)) if self.warmup else self.decay  # warm-up: early weights fade fast
        torch._foreach_lerp_(list(self.model.parameters()), [p.detach() for p in model.parameters()], 1.0 - decay)
        buffers = list(self.model.buffers())
        if buffers:
            torch._foreach_copy_(buffers, list(model.buffers()))

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self._count = None  # re-read num_updates at the next update


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, make_input, num_batches: int = 16) -> None:
    """Recompute BatchNorm running statistics for ``model``'s own weights ("standing stats").

    The EMA generator's weights are an average, so the running statistics copied from the
    live generator do not fit them; re-estimating them on fresh noise does.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    saved = [(bn.momentum, bn.training) for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the batches below
        bn.train()
    for i in range(num_batches):
        model(*make_input(i))
    for bn, (momentum, training) in zip(bns, saved):
        bn.momentum = momentum
        bn.train(training)


class Deadline:
    """``--max_minutes``: stop at a step all processes agree on once the time is up."""

    def __init__(self, minutes: float, accelerator, check_every: int = 25):
        self.accelerator, self.check_every = accelerator, check_every
        self.end = time.monotonic() + minutes * 60 if minutes and minutes > 0 else None

    def reached(self, step: int) -> bool:
        if self.end is None or step == 0 or step % self.check_every:
            return False
        late = torch.tensor(float(time.monotonic() > self.end), device=self.accelerator.device)
        if self.accelerator.num_processes > 1:
            late = self.accelerator.reduce(late, reduction="sum")
        if late.item() > 0:
            self.accelerator.print(f"step {step}: --max_minutes reached, stopping")
            return True
        return False


def save_snapshot(make_pipeline, output_dir: str | Path, step: int, accelerator, **save_kwargs) -> None:
    """``--snapshot_steps``: the EMA generator at this step as an fp16 pipeline folder, for evaluating after training.

    ``make_pipeline()`` builds the demo's pipeline around (a copy of) the EMA generator.
    """
    if accelerator.is_main_process:
        save_pipeline(make_pipeline(), Path(output_dir) / "snapshots" / f"step-{step:07d}", fp16=True, **save_kwargs)
    accelerator.wait_for_everyone()


# ----------------------------------------------------------------------------- checkpoints
class TrainState:
    """The step counter, saved with every checkpoint."""

    def __init__(self):
        self.step = 0

    def state_dict(self):
        return {"step": self.step}

    def load_state_dict(self, state):
        self.step = int(state["step"])


def save_checkpoint(accelerator, output_dir: str | Path, step: int, total_limit: int | None) -> Path:
    """``accelerator.save_state`` into a temporary folder, then an atomic rename.

    A run killed mid-write leaves only a ``tmp-`` folder, which resume ignores; a
    complete checkpoint carries ``complete.json``, written last, with the size and SHA-256 of
    every file, so a checkpoint damaged later (a file truncated, zeroed, replaced) is detected
    before anything of it is loaded.
    """
    root = Path(output_dir) / "checkpoints"
    final, tmp = root / f"checkpoint-{step}", root / f"tmp-checkpoint-{step}"
    if accelerator.is_main_process:
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    _fault_injection("checkpoint", step)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:  # the manifest is written last, after every file is complete
        files = {str(p.relative_to(tmp)): {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
                 for p in sorted(tmp.rglob("*")) if p.is_file()}
        (tmp / MANIFEST).write_text(json.dumps({"step": step, "files": files}, indent=1))
        _fsync_dir(tmp)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        _fsync_dir(root)
        if total_limit:
            for old in list_checkpoints(output_dir)[:-total_limit]:
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def _fault_injection(where: str, step: int) -> None:
    """For the fault tests: ``GAN_GALLERY_KILL_AT=checkpoint:4`` sends this process SIGKILL (kill -9)
    after the files of checkpoint 4 are written but before the checkpoint is marked complete."""
    if os.environ.get("GAN_GALLERY_KILL_AT") == f"{where}:{step}":
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def _fsync_dir(path: Path) -> None:
    for p in [*path.rglob("*"), path] if path.is_dir() else [path]:
        try:
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            pass


RUN_FILES = ("checkpoints", "best_generator", "snapshots", "samples", "metrics.jsonl")


def check_run_dir(accelerator, args) -> None:
    """Refuse to start a fresh run over another run's checkpoints (it would rotate its own new ones away,
    and a later ``latest`` would resume the old run), unless ``--overwrite_output_dir`` deletes them first."""
    existing = list_checkpoints(args.output_dir)
    if not existing or args.resume_from_checkpoint:
        return  # nothing there, or resuming (resume() refuses a 'latest' that finds none usable)
    if not getattr(args, "overwrite_output_dir", False):
        names = ", ".join(p.name for p in existing[-3:])
        raise SystemExit(f"error: {args.output_dir} holds the checkpoints of another run ({names}): continue it "
                         "with --resume_from_checkpoint latest, choose another --output_dir, or pass "
                         "--overwrite_output_dir to delete that run's checkpoints and start afresh")
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        for name in RUN_FILES:
            path = Path(args.output_dir) / name
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        accelerator.print(f"--overwrite_output_dir: deleted the earlier run's {', '.join(RUN_FILES)}")
    accelerator.wait_for_everyone()


def list_checkpoints(output_dir: str | Path) -> list[Path]:
    """Complete-looking checkpoints, oldest first (``tmp-`` folders never count)."""
    root = Path(output_dir) / "checkpoints"
    found = [p for p in root.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("-")[-1]))


MANIFEST = "complete.json"


def sha256_file(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def checkpoint_problem(path: Path) -> str | None:
    """Why ``path`` cannot be resumed from, or None if every file its manifest lists is there, whole and unchanged."""
    path = Path(path)
    if not path.is_dir():
        return "no such checkpoint folder"
    marker = path / MANIFEST
    if not marker.is_file():
        return f"no {MANIFEST} (the write was interrupted, or this is not a checkpoint of ours)"
    try:
        files = json.loads(marker.read_text())["files"]
        files = {name: (int(f["bytes"]), str(f["sha256"])) for name, f in files.items()}
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        return f"{MANIFEST} is unreadable or has no SHA-256 sums ({type(err).__name__}: {err})"
    if not files:
        return f"{MANIFEST} lists no files"
    for name, (size, digest) in files.items():
        f = path / name
        if not f.is_file():
            return f"{name} is missing"
        if f.stat().st_size != size:
            return f"{name} has {f.stat().st_size} bytes, expected {size}"
        if sha256_file(f) != digest:
            return f"{name} has changed since it was written (SHA-256 differs)"
    return None


def resume(accelerator, args, state: TrainState) -> None:
    """Load ``--resume_from_checkpoint`` ('latest' or a folder), skipping damaged ones."""
    if not args.resume_from_checkpoint:
        return
    if args.resume_from_checkpoint == "latest":
        candidates = list(reversed(list_checkpoints(args.output_dir)))
        if not candidates:
            accelerator.print(f"no checkpoint under {args.output_dir}/checkpoints: starting from step 0")
            return
    else:
        candidates = [Path(args.resume_from_checkpoint)]
    for path in candidates:  # verified before anything is loaded: a checkpoint is loaded whole or not at all
        problem = checkpoint_problem(path)
        if problem is None:
            break
        accelerator.print(f"skipping checkpoint {path}: {problem}")
        if args.resume_from_checkpoint != "latest":
            raise SystemExit(f"error: cannot resume from {path}: {problem}")
    else:
        raise SystemExit(f"error: none of the checkpoints under {args.output_dir}/checkpoints can be resumed from "
                         f"(see above); starting afresh there would rotate them away: choose another --output_dir, "
                         f"or pass --overwrite_output_dir (without --resume_from_checkpoint) to delete them")
    try:
        accelerator.load_state(str(path))
    except Exception as err:
        # Whole and unchanged, yet not loadable here (other arguments, another architecture): part of it may be in
        # the networks by now, so the run stops rather than train from a mixture.
        raise SystemExit(f"error: checkpoint {path} passed its checksums but cannot be loaded into the networks "
                         f"these arguments build ({type(err).__name__}: {err}); nothing was trained. Resume with "
                         f"the arguments of the run that wrote it, or start afresh elsewhere") from None
    accelerator.print(f"resumed from {path} at step {state.step}")


# ----------------------------------------------------------------------------- logging, samples
class MetricLog:
    """Loss sums kept as tensors (no host sync per step), averaged across processes when logged; a tqdm bar on the
    main process (steps, and at each flush images/s and the losses in its postfix), as diffusers' examples show."""

    def __init__(self, accelerator, output_dir: str | Path, total_steps: int | None = None, start_step: int = 0):
        from tqdm.auto import tqdm

        self.accelerator = accelerator
        self.path = Path(output_dir) / "metrics.jsonl"
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}  # per key: a value may be missing at some steps (G frozen in a D warm-up)
        self.t0, self.images = time.perf_counter(), 0
        self.bar = tqdm(total=total_steps, initial=start_step, desc="steps", dynamic_ncols=True,
                        disable=not accelerator.is_local_main_process)

    def add(self, batch_size: int, **values: torch.Tensor) -> None:
        for k, v in values.items():
            v = v.detach().float().mean()
            self.sums[k] = self.sums[k] + v if k in self.sums else v
            self.counts[k] = self.counts.get(k, 0) + 1
        self.images += batch_size
        self.bar.update(1)

    def flush(self, step: int, **extra) -> dict:
        if not self.counts:
            return {}
        keys = sorted(self.sums)
        means = torch.stack([self.sums[k] / self.counts[k] for k in keys])
        means = self.accelerator.reduce(means.to(self.accelerator.device), reduction="mean")
        elapsed = time.perf_counter() - self.t0
        row = {k: round(float(v), 5) for k, v in zip(keys, means.tolist())}
        row["images_per_s"] = round(self.images * self.accelerator.num_processes / elapsed, 1)
        row.update(extra)
        self.accelerator.log(row, step=step)
        if self.accelerator.is_main_process:
            with self.path.open("a") as f:
                f.write(json.dumps({"step": step, **row}) + "\n")
            self.bar.set_postfix({k: v for k, v in row.items() if isinstance(v, (int, float))}, refresh=False)
            self.accelerator.print(f"step {step}: " + " ".join(f"{k}={v}" for k, v in row.items()))
        self.sums, self.counts, self.t0, self.images = {}, {}, time.perf_counter(), 0
        return row

    def close(self) -> None:
        self.bar.close()


def image_grid(images: torch.Tensor, nrow: int | None = None, pad: int = 2) -> Image.Image:
    """N x C x H x W float in [-1, 1] (or uint8) -> one PIL grid, ``nrow`` images a row."""
    if images.dtype != torch.uint8:
        images = to_uint8(images.detach().float().cpu())
    n, c, h, w = images.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    grid = torch.full((c, rows * (h + pad) + pad, nrow * (w + pad) + pad), 255, dtype=torch.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        grid[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + col * (w + pad): pad + col * (w + pad) + w] = images[i]
    arr = grid.permute(1, 2, 0).numpy()
    return Image.fromarray(arr[..., 0] if c == 1 else arr)


# ----------------------------------------------------------------------------- save + push
def _atomic_folder(folder: Path, write) -> Path:
    """``write(tmp)`` into a temporary folder beside ``folder``, then swap it in."""
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    write(tmp)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return folder


def save_model(model: nn.Module, folder: str | Path, *, fp16: bool = False) -> Path:
    """One network (a judge, say) in diffusers' model format (config.json + safetensors), atomically."""
    model = copy.deepcopy(model).cpu()
    return _atomic_folder(Path(folder), lambda tmp: (model.half() if fp16 else model).save_pretrained(tmp))


def save_pipeline(pipe, folder: str | Path, *, discriminator: nn.Module | None = None, step: int | None = None,
                  ema_updates: int | None = None, fp16: bool = False, **save_kwargs) -> Path:
    """The demo's pipeline (around the EMA generator) with ``save_pretrained``, as diffusers' training examples end,
    atomically; with ``discriminator``, also D and ``training_state.json``, so that ``--resume_from_weights`` can
    continue the adversarial training from the folder (StyleGAN2-ADA's G + D + G_ema in one network file)."""
    pipe = copy.deepcopy(pipe).to("cpu")
    if fp16:
        pipe = pipe.to(torch.float16)
    d = None if discriminator is None else copy.deepcopy(discriminator).cpu()
    if d is not None and fp16:
        d = d.half()
    state = None if discriminator is None else {"step": int(step), "ema_updates": int(ema_updates)}
    return _atomic_folder(Path(folder), lambda tmp: pipe.save_pretrained(tmp, discriminator=d, training_state=state,
                                                                         **save_kwargs))


EXPORT_CARRIED = ("README.md", "metrics.json", "training_args.json")


def export_gan_folder(folder: str | Path, out: str | Path, pipeline_class, discriminator_class, script: str) -> Path:
    """A run's pipeline folder (``<output_dir>/pipeline`` or ``best_generator``, fp32, with a sample grid) copied as
    the gallery embeds it: the generator(s) and D in fp16 (half the size; D so that ``--resume_from_weights`` goes on
    from the copy), ``training_state.json``, the model card, ``metrics.json``, ``training_args.json``, the module file
    and the pipeline's config (named edits and all); never the sample grid, whose pictures may come from the dataset,
    which the project does not ship."""
    from gan_models.core.pipelines import DISCRIMINATOR_DIR, read_training_state

    folder, out = Path(folder), Path(out)
    if out.resolve() == folder.resolve():
        raise SystemExit("error: write the copy somewhere else (OUT must differ from FOLDER)")
    state = read_training_state(folder)
    if state is None or not (folder / DISCRIMINATOR_DIR).is_dir():
        raise SystemExit(f"error: {folder} carries no {DISCRIMINATOR_DIR}/ and training_state.json: give the "
                         f"pipeline folder {script} wrote (<output_dir>/pipeline or best_generator)")
    pipe = pipeline_class.from_pretrained(folder)
    d = discriminator_class.load_strict(folder / DISCRIMINATOR_DIR)
    save_pipeline(pipe, out, discriminator=d, step=state["step"], ema_updates=state["ema_updates"], fp16=True)
    for name in EXPORT_CARRIED:
        if (folder / name).is_file():
            shutil.copy2(folder / name, out / name)
    return out


def load_gan_folder(G: nn.Module, D: nn.Module, folder: str | Path) -> dict:
    """Load a pipeline folder saved with its discriminator into ``G`` and ``D`` (strict); returns its training state."""
    from gan_models.core.modeling import WEIGHTS_NAME, WeightsError, load_weights_into
    from gan_models.core.pipelines import DISCRIMINATOR_DIR, TRAINING_STATE

    folder = Path(folder)
    state_file = folder / TRAINING_STATE
    if not (folder / DISCRIMINATOR_DIR / WEIGHTS_NAME).is_file() or not state_file.is_file():
        raise SystemExit(f"error: --resume_from_weights {folder}: no {DISCRIMINATOR_DIR}/{WEIGHTS_NAME} and "
                         f"{TRAINING_STATE} there (a pipeline folder a training script saved has them); "
                         "for a generator alone use --init_generator")
    try:
        state = json.loads(state_file.read_text())
        state = {"step": int(state["step"]), "ema_updates": int(state["ema_updates"])}
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise SystemExit(f"error: --resume_from_weights {folder}: {TRAINING_STATE} is unreadable ({err})") from None
    for model, path, what in ((G, generator_folder(folder) / WEIGHTS_NAME, "generator"),
                              (D, folder / DISCRIMINATOR_DIR / WEIGHTS_NAME, "discriminator")):
        try:
            load_weights_into(model, path)
        except WeightsError as err:
            raise SystemExit(f"error: --resume_from_weights {folder}: the {what} does not fit the network these "
                             f"arguments build: {err}") from None
    return state


def write_model_card(folder: str | Path, *, title: str, pipeline_tag: str, dataset: str, license: str,
                     description: str, usage: str, metrics: dict | None = None, metrics_note: str = "",
                     tags: list[str] | None = None, extra: str = "") -> Path:
    """A Hub model card (README.md with YAML metadata) beside the weights.

    ``metrics`` ({name: value}) go into the card's table and, as model-index eval results,
    into its metadata; ``metrics_note`` says how they were measured (sample counts!).
    """
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    on_hub = "/" in dataset and not Path(dataset).exists()
    dataset_name = dataset if on_hub else Path(dataset).name
    numeric = {k: v for k, v in (metrics or {}).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    eval_results = [EvalResult(task_type=pipeline_tag, dataset_type=dataset_name, dataset_name=dataset_name,
                               metric_type=k, metric_name=k, metric_value=v, dataset_split="held-out")
                    for k, v in numeric.items()] or None
    data = ModelCardData(library_name="diffusers", pipeline_tag=pipeline_tag, license=license,
                         tags=["gan", "gan-gallery", "diffusers", "pytorch", *(tags or [])], datasets=[dataset] if on_hub else None,
                         model_name=title if eval_results else None, eval_results=eval_results)
    metric_lines = "\n".join(f"| {k} | {v} |" for k, v in (metrics or {}).items()) or "| (none measured yet) | |"
    content = f"""---
{data.to_yaml()}
---

# {title}

{description}

## Use

```python
{usage.strip()}
```

## Measured

{metrics_note}

| metric | value |
|---|---|
{metric_lines}

{extra}
"""
    path = Path(folder) / "README.md"
    ModelCard(content).save(path)
    return path


def push_folder(folder: str | Path, args, commit_message: str, remote_module: str) -> None:
    """Upload the pipeline folder to ``args.hub_model_id`` (creating the repo and branch if needed): its data files
    and its own module file only, as ``gan_models.hub.publish`` does."""
    from huggingface_hub import HfApi

    from gan_models.hub.publish import files_to_upload

    if not args.hub_model_id:
        raise SystemExit("error: --push_to_hub needs --hub_model_id user/name")
    api = HfApi()  # token from HF_TOKEN or `hf auth login`; never printed or stored by us
    api.create_repo(args.hub_model_id, private=args.hub_private, exist_ok=True)
    if args.hub_revision:
        api.create_branch(args.hub_model_id, branch=args.hub_revision, exist_ok=True)
    info = api.upload_folder(repo_id=args.hub_model_id, folder_path=str(folder), revision=args.hub_revision,
                             allow_patterns=files_to_upload(Path(folder), remote_module), commit_message=commit_message)
    commit = getattr(info, "oid", None)
    if commit:  # the revision a Space pins (a branch can move under it): spaces.yml's tabs name commit ids
        print(f"pushed {args.hub_model_id} at commit {commit}; to feed a Space tab from it, set that tab's "
              f'revision in spaces.yml: revision: "{commit}"')


def fixed_noise(num: int, dim: int, seed: int = 1234) -> torch.Tensor:
    """The same noise batch for every sample grid of a run, so progress is comparable."""
    return torch.randn(num, dim, generator=torch.Generator().manual_seed(seed))

