"""The label-conditioned digits demo: models, pipeline input checks, the judge, training, the tab."""

from __future__ import annotations

import json
import math

import gradio as gr
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import common
import train_cgan
from gan_models.digits.cgan import CGANDiscriminator, CGANGenerator
from gan_models.digits.pipeline import CGANPipeline
from gan_models.core.modeling import WeightsError
from gan_models.judges.mnist_classifier import MNISTClassifier, classifier_fid, label_accuracy
from gan_models.core.checks import InputError
from gan_models.registry import DEMOS
from tabs.common import Models
from tabs.digits import make_digits_fns
from conftest import generator_weights


@pytest.fixture
def tiny_digits_folder(tmp_path):
    """A tiny conditional generator (10 classes) saved in the Hub format."""
    torch.manual_seed(0)
    g = CGANGenerator(latent_dim=8, num_classes=10, base_channels=4, image_size=28, embed_dim=4).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics and class gains
        for m in g.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
            if isinstance(m, torch.nn.Embedding):
                m.weight.add_(torch.randn_like(m.weight) * 0.3)
    folder = tmp_path / "tiny-digits"
    g.save_pretrained(folder)
    return folder


@pytest.fixture
def pipe(tiny_digits_folder):
    return CGANPipeline.from_pretrained(tiny_digits_folder)


@pytest.fixture
def tiny_labelled_dataset(tmp_path):
    """30 random 28x28 grayscale PNGs in class folders 0/, 1/, 2/: an imagefolder with a ClassLabel."""
    rng = np.random.default_rng(0)
    root = tmp_path / "labelled"
    for k in range(3):
        (root / str(k)).mkdir(parents=True)
        for i in range(10):
            arr = rng.integers(0, 256, (28, 28), dtype=np.uint8)
            Image.fromarray(arr, mode="L").save(root / str(k) / f"img_{i:02d}.png")
    return root


# ----------------------------------------------------------------------------- models
@pytest.mark.parametrize("size", [28, 32])
def test_generator_and_discriminator_shapes(size):
    g = CGANGenerator(latent_dim=8, num_classes=5, base_channels=4, image_size=size)
    d = CGANDiscriminator(num_classes=5, base_channels=4, image_size=size)
    labels = torch.tensor([0, 1, 4])
    images = g(torch.randn(3, 8), labels)
    assert images.shape == (3, 1, size, size) and images.min() >= -1 and images.max() <= 1
    assert d(images, labels).shape == (3,)
    logits, class_logits = d(images, labels, return_class_logits=True)
    assert logits.shape == (3,) and class_logits.shape == (3, 5)


def test_the_label_changes_the_picture_and_the_discriminator_score(pipe):
    a = pipe(labels=[1, 2], seeds=[5], output_type="pt").images
    assert not torch.allclose(a[0], a[1])
    torch.manual_seed(0)
    d = CGANDiscriminator(num_classes=10, base_channels=4)
    x = (torch.rand(1, 1, 28, 28) * 2 - 1).expand(2, -1, -1, -1)
    with torch.no_grad():
        scores = d(x, torch.tensor([1, 2]))
    assert not torch.isclose(scores[0], scores[1])  # the projection term depends on the label


def test_save_load_round_trip_is_identical(tiny_digits_folder, tmp_path):
    a = CGANGenerator.load_strict(tiny_digits_folder)
    b = CGANGenerator.from_pretrained(tiny_digits_folder)
    z, y = torch.randn(4, 8), torch.tensor([0, 3, 7, 9])
    with torch.no_grad():
        assert torch.equal(a(z, y), b(z, y))
    common.save_model(a, tmp_path / "again", fp16=True)
    c = CGANGenerator.load_strict(tmp_path / "again")
    with torch.no_grad():
        torch.testing.assert_close(a(z, y), c(z, y), atol=5e-3, rtol=0)  # fp16 weights, fp32 model
    assert json.loads((tmp_path / "again" / "config.json").read_text())["num_classes"] == 10


def test_weights_that_do_not_fit_the_config_are_refused(tiny_digits_folder):
    config = tiny_digits_folder / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "num_classes": 12}))
    with pytest.raises(WeightsError, match="does not match"):
        CGANPipeline.from_pretrained(tiny_digits_folder)


# ----------------------------------------------------------------------------- pipeline
def test_returns_every_requested_label_in_order(pipe):
    out = pipe(labels=[3, 7], num_images=4, seed=10)
    assert len(out.images) == 8
    assert out.labels == [3, 3, 3, 3, 7, 7, 7, 7]
    assert out.seeds == [10, 11, 12, 13] * 2
    assert all(im.size == (28, 28) and im.mode == "L" for im in out.images)
    assert pipe(labels=5).labels == [5]
    assert pipe(labels=range(10), num_images=2).labels == [k for k in range(10) for _ in range(2)]


def test_same_seed_and_label_same_digit_whatever_the_batch(pipe):
    pixels = lambda out: [np.asarray(im) for im in out.images]  # noqa: E731  (uint8, as shown)
    a = pixels(pipe(labels=[2, 6], num_images=3, seed=100))
    b = pixels(pipe(labels=[6], seeds=[101]))
    c = pixels(pipe(labels=[2, 6], num_images=3, seed=100))
    assert all(np.array_equal(x, y) for x, y in zip(a, c))
    assert np.array_equal(a[4], b[0])  # label 6, seed 101: the same picture alone or in a batch
    assert not np.array_equal(a[0], a[1])


def test_torch_generator_is_deterministic(pipe):
    a = pipe(labels=[1, 2], num_images=3, generator=torch.Generator().manual_seed(1), output_type="pt")
    b = pipe(labels=[1, 2], num_images=3, generator=torch.Generator().manual_seed(1), output_type="pt")
    assert torch.equal(a.images, b.images) and a.images.shape == (6, 1, 28, 28) and a.seeds is None


def test_same_style_grid_keeps_the_noise_per_row(pipe):
    out = pipe.same_style(3, seed=4, output_type="pt")
    assert out.images.shape == (30, 1, 28, 28)
    assert out.labels == list(range(10)) * 3 and out.seeds == [4] * 10 + [5] * 10 + [6] * 10
    again = pipe(labels=[7], seeds=[5], output_type="pt").images
    torch.testing.assert_close(out.images[17], again[0], atol=1e-5, rtol=0)  # row 1 (seed 5), digit 7


@pytest.mark.parametrize("kwargs, message", [
    ({"labels": 10}, "label must be between 0 and 9, got 10"),
    ({"labels": -1}, "label must be between 0 and 9, got -1"),
    ({"labels": "a"}, "label must be a number, got 'a'"),
    ({"labels": 2.5}, "label must be a whole number"),
    ({"labels": None}, "give a label"),
    ({"labels": math.nan}, "label must be a finite number"),
    ({"labels": True}, "label must be a number, got True"),
    ({"labels": []}, "give at least one label"),
    ({"labels": [1, 2, 12]}, r"label #3 must be between 0 and 9, got 12"),
    ({"labels": [0, "x", 3]}, r"label #2 must be a number, got 'x'"),
    ({"labels": [4, None]}, r"label #2 must be a number, got None"),
    ({"labels": range(10), "num_images": 101}, "too many images: 10 labels x 101 each = 1010"),
    ({"num_images": 0}, "num_images \\(per label\\) must be between"),
    ({"num_images": 5000}, "num_images \\(per label\\) must be between"),
    ({"seed": -3}, "seed must be between"),
    ({"seeds": []}, "give at least one seed"),
    ({"truncation": 2.0}, "truncation must be between"),
    ({"output_type": "jpeg"}, "output_type"),
])
def test_bad_input_gets_a_clear_message(pipe, kwargs, message):
    with pytest.raises(InputError, match=message):
        pipe(**{"labels": 1, **kwargs})


def test_labels_given_as_text_or_numpy_are_accepted(pipe):
    assert pipe(labels="7").labels == [7]
    assert pipe(labels=np.array([1, 2])).labels == [1, 2]
    assert pipe(labels=torch.tensor([3])).labels == [3]


def test_same_style_checks_its_input(pipe):
    with pytest.raises(InputError, match="num_styles must be between 1 and 100"):
        pipe.same_style(0)
    with pytest.raises(InputError, match="seed must be between"):
        pipe.same_style(2, seed=-1)


# ----------------------------------------------------------------------------- the judge
def test_classifier_shapes_and_resizing():
    clf = MNISTClassifier(num_classes=10, channels=4, feature_dim=16).eval()
    assert clf(torch.rand(5, 1, 28, 28) * 2 - 1).shape == (5, 10)
    assert clf.features(torch.zeros(5, 1, 28, 28)).shape == (5, 16)
    assert clf.features(torch.zeros(2, 1, 32, 32)).shape == (2, 16)  # 32x32 generators are resized


class ValueOracle(torch.nn.Module):
    """Classifies a constant image of grey level 10 k (uint8) as class k."""

    num_classes = 4

    def forward(self, x):
        k = ((x[:, 0, 0, 0] + 1) * 127.5 / 10).round().long()
        return F.one_hot(k, self.num_classes).float()


def test_label_accuracy_on_a_hand_made_case():
    shown = torch.tensor([0, 1, 1, 2])                                   # what the images look like
    images = (shown * 10).to(torch.uint8)[:, None, None, None].expand(-1, 1, 28, 28)
    acc = label_accuracy(ValueOracle(), images, [0, 1, 2, 2])            # what they were asked to be
    assert acc["overall"] == 0.75 and acc["count"] == 4
    assert acc["per_class"] == [1.0, 1.0, 0.5, None] and acc["counts"] == [1, 1, 2, 0]
    with pytest.raises(ValueError, match="4 images but 3 labels"):
        label_accuracy(ValueOracle(), images, [0, 1, 2])


def frechet_by_hand(a: torch.Tensor, b: torch.Tensor) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a) + Tr(S_b) - 2 Tr((S_a^1/2 S_b S_a^1/2)^1/2), square roots by eigendecomposition."""
    a, b = a.double(), b.double()
    s_a, s_b = torch.cov(a.T), torch.cov(b.T)

    def root(m):
        w, v = torch.linalg.eigh(m)
        return v @ torch.diag(w.clamp(min=0).sqrt()) @ v.T

    r = root(s_a)
    cross = torch.linalg.eigvalsh(r @ s_b @ r).clamp(min=0).sqrt().sum()
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + s_a.trace() + s_b.trace() - 2 * cross)


def test_classifier_fid_is_zero_for_the_same_set_and_grows_with_a_shift():
    torch.manual_seed(0)
    clf = MNISTClassifier(num_classes=10, channels=4, feature_dim=8).eval()
    with torch.no_grad():  # features 20x larger (ReLU: the same pattern), distances well above the 3-decimal rounding
        clf.fc[1].weight.mul_(20), clf.fc[1].bias.mul_(20)
    real = torch.rand(200, 1, 28, 28) * 2 - 1
    same = classifier_fid(clf, real, real)
    assert abs(same["classifier_fid"]) < 1e-3 and same["num_real"] == same["num_fake"] == 200
    shifted = (real + 0.8).clamp(-1, 1)
    with torch.no_grad():
        expected = frechet_by_hand(clf.features(real), clf.features(shifted))
    assert expected > 1
    assert classifier_fid(clf, real, shifted)["classifier_fid"] == pytest.approx(expected, abs=1e-3)


# ----------------------------------------------------------------------------- training
def tiny_args(dataset, out, classifier, *extra):
    return ["--dataset", str(dataset), "--output_dir", str(out), "--latent_dim", "8", "--g_channels", "4",
            "--d_channels", "4", "--batch_size", "4", "--report_to", "none", "--log_steps", "1",
            "--sample_steps", "2", "--checkpointing_steps", "2", "--threads", "1", "--holdout", "6",
            "--classifier", str(classifier), "--eval_steps", "2", "--eval_samples", "9",
            "--final_eval_samples", "12", *extra]


def test_training_goes_on_from_the_embedded_digits_weights(tiny_labelled_dataset, tmp_path):
    """The real resume path on the real folder: G, its EMA and D load strictly into train_cgan's default networks."""
    import json

    from gan_models.registry import DEMOS

    folder = DEMOS["digits"].embedded
    step = json.loads((folder / "training_state.json").read_text())["step"]
    out = tmp_path / "more"
    train_cgan.main(train_cgan.parse_args([
        "--dataset", str(tiny_labelled_dataset), "--output_dir", str(out), "--num_classes", "10",
        "--resume_from_weights", str(folder), "--batch_size", "4", "--max_steps", str(step + 1), "--report_to", "none",
        "--log_steps", "1", "--sample_steps", "100000", "--checkpointing_steps", "100000", "--snapshot_steps", "0",
        "--threads", "1"]))
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [step + 1] and "g_loss" in rows[0]


def test_train_checkpoint_resume_and_load(tiny_labelled_dataset, tmp_path):
    clf_folder = tmp_path / "clf"
    MNISTClassifier(num_classes=3, channels=4, feature_dim=8).save_pretrained(clf_folder)
    out = tmp_path / "run"
    train_cgan.main(train_cgan.parse_args(tiny_args(tiny_labelled_dataset, out, clf_folder, "--max_steps", "2")))
    assert [p.name for p in common.list_checkpoints(out)] == ["checkpoint-2"]
    assert (out / "samples" / "step-0000002.png").is_file() and (out / "best_generator").is_dir()
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert any("eval/label_accuracy" in r for r in rows)

    folder = train_cgan.main(train_cgan.parse_args(
        tiny_args(tiny_labelled_dataset, out, clf_folder, "--max_steps", "4", "--resume_from_checkpoint", "latest")))
    assert [p.name for p in common.list_checkpoints(out)] == ["checkpoint-2", "checkpoint-4"]
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps[0] == 1 and max(steps) == 4 and steps.count(1) == 1  # resumed at step 2, not from scratch

    pipe = CGANPipeline.from_pretrained(folder)
    assert pipe.num_classes == 3  # read from the dataset's ClassLabel feature
    assert pipe(labels=[0, 2], num_images=2).labels == [0, 0, 2, 2]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["num_fake"] == 12 and len(metrics["per_class"]) == 3
    card = (folder / "README.md").read_text()
    assert "class-conditional" in card and "label accuracy" in card and "classifier-FID" in card


def test_eval_steps_keep_the_best_digits(tiny_labelled_dataset, tmp_path, monkeypatch):
    """The scores are fixed by the test: label accuracy first, then the lower classifier-FID. Step 4 ties step 6 on
    accuracy with the lower FID, and beats step 2: its generator (recorded as it was judged) is the one kept, saved
    and measured at the end."""
    clf_folder = tmp_path / "clf"
    MNISTClassifier(num_classes=3, channels=4, feature_dim=8).save_pretrained(clf_folder)
    real_judge, judged = train_cgan.Judge.__call__, []
    scripted = [{"label_accuracy": 0.5, "classifier_fid": 9.0},   # step 2
                {"label_accuracy": 0.8, "classifier_fid": 5.0},   # step 4: the best
                {"label_accuracy": 0.8, "classifier_fid": 7.0}]   # step 6

    def scripted_judge(self, generator, num, seed=10_000_000):
        judged.append({k: v.detach().clone() for k, v in generator.state_dict().items()})
        result = real_judge(self, generator, num, seed)
        return {**result, **scripted[len(judged) - 1]} if len(judged) <= 3 else result  # the 4th: the final one

    monkeypatch.setattr(train_cgan.Judge, "__call__", scripted_judge)
    out = tmp_path / "run"
    folder = train_cgan.main(train_cgan.parse_args(
        tiny_args(tiny_labelled_dataset, out, clf_folder, "--max_steps", "6")))
    evals = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if "eval/" in line]
    assert [e["step"] for e in evals] == [2, 4, 6] and [e["eval/best_step"] for e in evals] == [2, 4, 4]
    assert len(judged) == 4 and any(not torch.equal(judged[1][k], judged[2][k]) for k in judged[1])  # G moved
    for saved in (out / "best_generator", folder):  # kept while training, then saved as generator/
        weights = generator_weights(saved)
        assert weights.keys() == judged[1].keys() and all(torch.equal(weights[k], judged[1][k]) for k in weights)
    assert all(torch.equal(judged[3][k], judged[1][k]) for k in judged[1])  # the final figures are of that one
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["step"] == 4 and metrics["num_fake"] == 12


class QuadrantJudge(torch.nn.Module):
    """A stand-in classifier whose answers vary from picture to picture (an untrained one answers one class for all
    the near-identical pictures of an untrained generator): features, the mean brightness of three quadrants (x100);
    the class, the brightest of them."""

    num_classes = 3

    def features(self, x):
        return 100 * torch.stack([x[..., :14, :14].mean((1, 2, 3)), x[..., :14, 14:].mean((1, 2, 3)),
                                  x[..., 14:, :14].mean((1, 2, 3))], 1)

    def forward(self, x):
        f = self.features(x)
        return f - f.mean(1, keepdim=True)


def test_evaluate_digits_reports_every_figure(tiny_labelled_dataset):
    from gan_models.data import holdout_split, load_labelled_tensors
    from gan_models.judges.evaluate import evaluate_digits

    torch.manual_seed(0)
    pipe = CGANPipeline(CGANGenerator(latent_dim=8, num_classes=3, base_channels=4).eval())
    judge = QuadrantJudge()
    result = evaluate_digits(pipe, judge, str(tiny_labelled_dataset), num_samples=30, holdout=15)
    assert result["num_fake"] == 30 and result["num_real"] == 15

    # the same figures by hand: 10 digits of each class from seeds 10,000,000 on, stored as uint8, judged; the
    # Fréchet distance of their features from the 15 held-out rows'; per class the mean pairwise feature distance
    images, labels, _ = load_labelled_tensors(str(tiny_labelled_dataset), size=28, mode="L")
    _, held = holdout_split(len(images), 15, 0)
    real, real_labels = images[held].float() / 127.5 - 1, labels[held]
    seeds = list(range(10_000_000, 10_000_010))
    fake = torch.cat([pipe(labels=[y], seeds=seeds, output_type="pt").images for y in range(3)])  # [0, 1]
    fake = (fake * 255).round().clamp(0, 255) / 127.5 - 1
    asked = torch.arange(3).repeat_interleave(10)
    right = judge(fake).argmax(1) == asked
    per_class = [round(right[asked == y].float().mean().item(), 4) for y in range(3)]
    assert 0 < right.float().mean() < 1  # (a judge that is sometimes right, sometimes not)
    assert result["label_accuracy"] == round(right.float().mean().item(), 4)
    assert result["per_class_accuracy"] == per_class and result["worst_class_accuracy"] == min(per_class)
    real_right = (judge(real).argmax(1) == real_labels).float().mean().item()
    assert result["classifier_accuracy_on_real_holdout"] == round(real_right, 4)
    assert result["classifier_fid"] == pytest.approx(frechet_by_hand(judge.features(real), judge.features(fake)),
                                                     abs=1e-3)

    def spread(f):
        n = len(f)
        return (f[:, None] - f[None]).pow(2).sum(-1).sqrt().sum().item() / (n * (n - 1))

    ratios = [round(spread(judge.features(fake)[asked == y].double()) /
                    spread(judge.features(real)[real_labels == y].double()), 3) for y in range(3)]
    assert result["diversity_ratio_per_class"] == ratios


# ----------------------------------------------------------------------------- the tab
@pytest.fixture
def digits_fns(tiny_digits_folder):
    return make_digits_fns(Models({"digits": (str(tiny_digits_folder), None)}, use_hub=False))


def test_digits_function_returns_the_requested_images(digits_fns):
    digits, same_style = digits_fns
    gallery, used = digits("7", 12, 5, 1.0)
    assert used == 12 and len(gallery) == 5
    assert [c for _, c in gallery] == [f"7 · seed {s}" for s in range(12, 17)]
    gallery, _ = digits("all", 0, 3, 0.8)
    assert len(gallery) == 30 and gallery[3][1] == "1 · seed 0"
    with Image.open(same_style(0, 4, 1.0)) as grid:
        assert grid.size == (10 * 58 + 2, 4 * 58 + 2)  # 2x upscaled, 2 px gaps


@pytest.mark.parametrize("digit, seed, count, truncation, message", [
    ("11", 0, 4, 1.0, "label must be between 0 and 9"),
    ("x", 0, 4, 1.0, "label must be a number"),
    ("3", -1, 4, 1.0, "seed must be between"),
    ("3", 0, 0, 1.0, "number of images per digit must be between 1 and 32"),
    ("all", 0, 100, 1.0, "number of images per digit must be between 1 and 32"),
    ("3", 0, 4, 1.5, "truncation must be between"),
])
def test_digits_function_turns_bad_input_into_a_user_error(digits_fns, digit, seed, count, truncation, message):
    digits, _ = digits_fns
    with pytest.raises(gr.Error, match=message):
        digits(digit, seed, count, truncation)


def test_the_app_has_the_digits_endpoint(tiny_digits_folder):
    import app

    demo = app.build_demo(Models({"digits": (str(tiny_digits_folder), None)}, use_hub=False))
    names = {dep.get("api_name") for dep in demo.config["dependencies"]}
    assert {"digits", "digits_same_style", "faces"} <= names


# ----------------------------------------------------------------------------- embedded weights
def test_embedded_weights_draw_the_asked_digits():
    demo = DEMOS["digits"]
    pipe = demo.pipeline.from_pretrained(demo.embedded)
    clf_folder = demo.embedded.parent / "mnist_classifier"
    classifier = MNISTClassifier.load_strict(clf_folder)
    out = pipe(labels=range(10), num_images=20, seed=123_456, output_type="pt")
    acc = label_accuracy(classifier, out.images * 2 - 1, out.labels)  # "pt" is [0, 1]; the judge reads [-1, 1]
    assert acc["overall"] >= 0.95, acc  # the full measurement (10,000 digits) is in docs/digits.md


# ----------------------------------------------------------------------------- do GAN digits train a classifier?
@pytest.fixture(scope="module")
def mnist_like(tmp_path_factory):
    """200 rows, 20 per class (conftest.make_mnist_like): with 50 held out, 12-18 of each class left to train on."""
    from conftest import make_mnist_like

    return make_mnist_like(tmp_path_factory.mktemp("mnist-like"), 200)


@pytest.fixture
def held_out(mnist_like):
    from gan_models.judges.gan_train import HeldOutDigits

    return HeldOutDigits.load(str(mnist_like), holdout=50, holdout_seed=0)


def test_the_test_digits_are_the_held_out_rows_and_the_real_ones_the_training_rows(held_out, mnist_like):
    from gan_models.data import holdout_split, load_labelled_tensors

    images, labels, _ = load_labelled_tensors(str(mnist_like), size=28, mode="L")
    train_rows, held_rows = holdout_split(200, 50, 0)  # what train_cgan.py --holdout 50 --holdout_seed 0 holds out
    test_images, test_labels = held_out.test()
    assert torch.equal(test_images, images[held_rows]) and torch.equal(test_labels, labels[held_rows])
    first, _ = held_out.test(20)
    assert torch.equal(first, images[held_rows[:20]])
    real, real_labels = held_out.real(5, seed=3)
    assert real_labels.tolist() == [k for k in range(10) for _ in range(5)]
    pool = {images[i].numpy().tobytes(): i for i in train_rows}  # every picture of the rows the cGAN trained on
    rows = [pool.get(x.numpy().tobytes()) for x in real]
    assert None not in rows and len(set(rows)) == 50 and all(labels[r] == y for r, y in zip(rows, real_labels))
    again, _ = held_out.real(5, seed=3)
    other, _ = held_out.real(5, seed=4)
    assert torch.equal(real, again) and not torch.equal(real, other)
    with pytest.raises(InputError, match=r"has \d+ training digits of class \d, fewer than the 50 per class"):
        held_out.real(50, seed=0)


def test_the_cgan_split_comes_from_its_training_args_else_the_embedded_one(tmp_path):
    from gan_models.judges.gan_train import cgan_holdout

    assert cgan_holdout(DEMOS["digits"].embedded)[:2] == (10_000, 0)  # the embedded weights (docs/digits.md)
    assert cgan_holdout(None)[:2] == (10_000, 0)
    (tmp_path / "training_args.json").write_text(json.dumps({"holdout": 5000, "holdout_seed": 3, "lr": 2e-4}))
    assert cgan_holdout(tmp_path) == (5000, 3, str(tmp_path / "training_args.json"))


def test_a_run_trains_three_classifiers_and_tests_them_on_held_out_digits(held_out, pipe):
    from gan_models.judges.gan_train import compare

    said = []
    result = compare(held_out, pipe, 5, 10, 50, seed=1, progress=lambda f, m: said.append((f, m)))
    assert (result["num_test"], result["holdout"], result["steps"]) == (50, 50, 50)
    sizes = {arm: result[arm]["train_size"] for arm in ("real", "real+gan", "gan")}
    assert sizes == {"real": 50, "real+gan": 150, "gan": 100}
    for arm in ("real", "real+gan", "gan"):
        curve = result[arm]["curve"]
        assert [step for step, _ in curve] == [0, 10, 20, 30, 40, 50]
        assert all(0 <= acc <= 1 for _, acc in curve) and result[arm]["accuracy"] == curve[-1][1]
        assert all(acc * 50 == pytest.approx(round(acc * 50)) for _, acc in curve)  # a share of the 50 test digits
    assert result["real"]["accuracy"] > 0.5  # the made-up digits are easy: a bar whose place is the class
    assert said[-1] == (1.0, "GAN only: step 50/50") and [f for f, _ in said] == sorted(f for f, _ in said)
    again = compare(held_out, pipe, 5, 10, 50, seed=1)
    for arm in ("real", "real+gan", "gan"):
        assert again[arm]["curve"] == result[arm]["curve"]  # a seed gives the same run


@pytest.mark.parametrize("real, gan, steps, seed, message", [
    (7, 100, 200, 0, "real digits per class must be one of 5, 10, 50, got 7"),
    (0, 100, 200, 0, "real digits per class must be between 1 and 50, got 0"),
    (500, 100, 200, 0, "real digits per class must be between 1 and 50, got 500"),
    (5, 9, 200, 0, "GAN digits per class must be between 10 and 500, got 9"),
    (5, 501, 200, 0, "GAN digits per class must be between 10 and 500, got 501"),
    (5, math.nan, 200, 0, "GAN digits per class must be a finite number"),
    (5, 100, 49, 0, "training steps must be between 50 and 1000, got 49"),
    (5, 100, 10**6, 0, "training steps must be between 50 and 1000"),
    (5, 100, 200, -1, "seed must be between"),
])
def test_out_of_range_counts_are_refused_with_a_clear_message(held_out, pipe, real, gan, steps, seed, message):
    from gan_models.judges.gan_train import compare

    with pytest.raises(InputError, match=message):
        compare(held_out, pipe, real, gan, steps, seed)


@pytest.fixture
def gan_train_fn(tiny_digits_folder, mnist_like):
    """The tab's action on the tiny cGAN, whose training_args.json says it held out 50 rows (seed 0)."""
    from tabs.digits import make_gan_train_fn

    (tiny_digits_folder / "training_args.json").write_text(json.dumps({"holdout": 50, "holdout_seed": 0}))
    return make_gan_train_fn(Models({"digits": (str(tiny_digits_folder), None)}, use_hub=False), [str(mnist_like)])


def test_the_tab_shows_three_accuracies_their_curves_and_what_was_done(gan_train_fn):
    accuracies, curves, note = gan_train_fn(5, 10, 50, 2, progress=None)
    assert list(accuracies.columns) == ["Real only", "Real + GAN", "GAN only"] and len(accuracies) == 1
    real, mixed, gan = accuracies.iloc[0].tolist()
    assert all(0 <= a <= 100 for a in (real, mixed, gan))
    assert list(curves.columns) == ["step", "accuracy (%)", "trained on"] and len(curves) == 3 * 6
    last = curves[curves["step"] == 50].set_index("trained on")["accuracy (%)"]
    assert [last["Real only"], last["Real + GAN"], last["GAN only"]] == [real, mixed, gan]
    assert "50 real digits the cGAN never saw" in note and "of the 50 rows its training held out, seed 0" in note
    assert "on 50 real digits; the same + 100 cGAN digits; 100 cGAN digits only (seed 2)" in note


@pytest.mark.parametrize("real, gan, steps, message", [
    (7, 100, 200, "real digits per class must be one of 5, 10, 50, got 7"),
    (5, 10_000, 200, "GAN digits per class must be between 10 and 500, got 10000"),
    (5, 100, 5000, "training steps must be between 50 and 1000, got 5000"),
])
def test_the_tab_refuses_out_of_range_counts(gan_train_fn, real, gan, steps, message):
    with pytest.raises(gr.Error, match=message):
        gan_train_fn(real, gan, steps, 0, progress=None)


def test_without_the_dataset_the_section_says_how_to_get_it(tiny_digits_folder, tmp_path, monkeypatch):
    """No local copy and the Hub out of reach (the suite runs offline): a message naming both and the ways to get
    MNIST, not a crash; the Hub is not asked again at once (offline it takes about 26 s to give up)."""
    from conftest import make_mnist_like
    from gan_models import data
    from tabs.digits import make_gan_train_fn

    asked, load = [], data.load_hf_dataset
    monkeypatch.setattr("gan_models.judges.gan_train.load_hf_dataset", lambda name, split: asked.append(name)
                        or load(name, split))
    missing = tmp_path / "no-mnist-here"
    fn = make_gan_train_fn(Models({"digits": (str(tiny_digits_folder), None)}, use_hub=False),
                           [str(missing), "nobody/no-such-mnist"])
    for _ in range(2):
        with pytest.raises(gr.Error) as info:
            fn(10, 100, 200, 0, progress=None)
        message = info.value.message
        assert message.startswith("This section needs the MNIST dataset") and f"{missing} not found" in message
        assert "'nobody/no-such-mnist'" in message and "--mnist FOLDER_OR_HUB_ID" in message
        assert "load_dataset('ylecun/mnist', split='train').to_parquet('../shared/data/mnist/train.parquet')" in message
    assert asked == [str(missing), "nobody/no-such-mnist", str(missing)]  # the folder is looked at again
    make_mnist_like(missing, 200)  # a copy put there later is found
    (tiny_digits_folder / "training_args.json").write_text(json.dumps({"holdout": 50, "holdout_seed": 0}))
    assert len(fn(5, 10, 50, 0, progress=None)) == 3


def test_a_dataset_that_is_not_the_cgans_gets_a_clear_message(tiny_digits_folder, mnist_like):
    """200 rows, while the cGAN (no training_args.json: the embedded split) held out 10,000: not its dataset."""
    from tabs.digits import make_gan_train_fn

    fn = make_gan_train_fn(Models({"digits": (str(tiny_digits_folder), None)}, use_hub=False), [str(mnist_like)])
    with pytest.raises(gr.Error, match="The real digits cannot be used: .* has 200 rows: the cGAN held out 10000"):
        fn(5, 10, 50, 0, progress=None)


def test_one_run_at_a_time_per_browser_session(gan_train_fn):
    """A second press in the same session while its run goes is refused; another session runs; once the first run
    has ended, the same session runs again."""
    import threading

    class Request:
        def __init__(self, session_hash):
            self.session_hash = session_hash

    started, release, results = threading.Event(), threading.Event(), []

    def held(fraction, desc=None):  # the first run's progress bar: its training waits here until released
        if desc.startswith("Real only: step"):
            started.set()
            release.wait(30)

    first = threading.Thread(target=lambda: results.append(gan_train_fn(5, 10, 50, 0, request=Request("a"),
                                                                        progress=held)))
    first.start()
    assert started.wait(30)
    try:
        with pytest.raises(gr.Error, match="A training run of yours is still going"):
            gan_train_fn(5, 10, 50, 0, request=Request("a"), progress=None)
        assert len(gan_train_fn(5, 10, 50, 0, request=Request("b"), progress=None)) == 3
    finally:
        release.set()
        first.join(60)
    assert len(results) == 1 and len(results[0]) == 3
    assert len(gan_train_fn(5, 10, 50, 0, request=Request("a"), progress=None)) == 3
