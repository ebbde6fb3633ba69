"""The style-based faces generator, its pipeline (mixing, truncation in W, edits, projection) and its training script."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from gan_models.core.checks import InputError, WeightsError
from gan_models.faces.projection import ProjectionLoss
from gan_models.faces.style_pipeline import EditDirection, StyleFacesPipeline
from gan_models.faces.stylegan import LAYER_GROUPS, ModulatedConv, ProjectedFacesDiscriminator, StyleGenerator

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(latent_dim=8, w_dim=8, mapping_layers=2, channel_base=64, channel_max=16)


def tiny_pipe(seed: int = 0) -> StyleFacesPipeline:
    torch.manual_seed(seed)
    g = StyleGenerator(**TINY)
    with torch.no_grad():  # a mean w away from 0 and noise that shows, as a trained generator has
        g.mapping.w_avg.normal_()
        for layer in g.convs:
            layer.noise_strength.fill_(0.3)
    return StyleFacesPipeline(g)


def pixels(images) -> np.ndarray:
    return np.stack([np.asarray(im) for im in images])


def test_generator_shapes_and_parts():
    g = StyleGenerator(**TINY)
    z = torch.randn(3, 8)
    ws = g.map(z)
    assert ws.shape == (3, g.num_ws, 8) and g.num_ws == 10 == LAYER_GROUPS["fine"][1]
    assert torch.equal(ws[:, 0], ws[:, -1])                       # one w for every layer unless mixed
    assert g.synthesize(ws).shape == (3, 3, 64, 64)
    assert g.const.shape[-2:] == (4, 4) and len(g.to_rgbs) == 5  # a learned 4x4 start, a ToRGB per resolution
    a, b = g.synthesize(ws, "random"), g.synthesize(ws, "random")
    assert not torch.equal(a, b) or all(float(c.noise_strength) == 0 for c in g.convs)
    assert torch.equal(g.synthesize(ws, "const"), g.synthesize(ws, "const"))


def test_demodulation_gives_unit_output_scale_whatever_the_style():
    conv = ModulatedConv(32, 16, 8, 3)
    x = torch.randn(4, 32, 8, 8)
    w = torch.randn(4, 8) * 5                                      # wildly different styles per sample
    y = conv(x, w)
    std = y[:, :, 1:-1, 1:-1].std(dim=(1, 2, 3))                   # inside: no zero padding
    assert torch.allclose(std, torch.ones(4), atol=0.15), std


def test_same_seed_same_face_and_each_face_depends_on_its_own_seed_only():
    pipe = tiny_pipe()
    first = pixels(pipe(seeds=[5, 6]).images)
    assert np.array_equal(first, pixels(pipe(seeds=[5, 6]).images))
    alone = pixels(pipe(seeds=[6]).images)[0]
    # the same noise and styles; a batch of two may round a pixel differently from a batch of one (BLAS blocking)
    assert np.abs(first[1].astype(int) - alone).max() <= 1
    assert np.abs(first[0].astype(int) - alone).mean() > 10            # another seed is another face
    assert pipe(3, seed=2**32 - 2).seeds == [2**32 - 2, 2**32 - 1, 0]


def test_truncation_zero_gives_the_mean_face_for_every_seed():
    pipe = tiny_pipe()
    faces = pipe(seeds=[1, 2, 3], truncation=0.0, output_type="pt").images
    mean_face = pipe.synthesize(pipe.generator.mapping.w_avg.expand(1, 10, -1))
    assert torch.allclose(faces[0], faces[2]) and torch.allclose(faces[0], (mean_face[0] / 2 + 0.5).clamp(0, 1),
                                                                 atol=1e-6)
    assert not torch.allclose(faces[0], pipe(seeds=[1], truncation=1.0, output_type="pt").images[0])


def test_style_mixing_with_no_layers_is_a_and_with_all_layers_is_b():
    pipe = tiny_pipe()
    rows, cols = [1, 2], [7, 8, 9]
    none = pipe.style_mix(rows, cols, [], output_type="pt")
    every = pipe.style_mix(rows, cols, ["coarse", "middle", "fine"], output_type="pt")
    coarse = pipe.style_mix(rows, cols, ["coarse"], output_type="pt")
    a = pipe(seeds=rows, output_type="pt").images
    b = pipe(seeds=cols, output_type="pt").images
    for i in range(2):
        for j in range(3):
            assert torch.allclose(none.images[i * 3 + j], a[i], atol=1e-6)
            assert torch.allclose(every.images[i * 3 + j], b[j], atol=1e-6)
            assert not torch.allclose(coarse.images[i * 3 + j], a[i], atol=1e-3)
            assert not torch.allclose(coarse.images[i * 3 + j], b[j], atol=1e-3)
    assert coarse.grid.size == (4 + 4 * 68, 4 + 3 * 68)        # a header row and column, then the mixes


@pytest.mark.parametrize("rows, layers, message", [
    ([], ["coarse"], "give 1 to 8 seeds"), (list(range(9)), ["coarse"], "give 1 to 8 seeds"),
    ([-1], ["coarse"], "between 0 and"), ([1], ["ears"], "layer groups are coarse, middle, fine"),
])
def test_style_mixing_refuses_bad_input(rows, layers, message):
    with pytest.raises(InputError, match=message):
        tiny_pipe().style_mix(rows, [3], layers)


def edits_for(pipe, folder):
    g = pipe.generator
    components, sigmas = pipe.principal_directions(num=3, num_samples=2000)
    edits = [EditDirection("first", components[0], (0, 4), float(sigmas[0]), 0, "coarse only"),
             EditDirection("second", components[1], (4, g.num_ws), float(sigmas[1]), 1)]
    pipe.with_edits(edits).save_pretrained(folder)
    return StyleFacesPipeline.from_pretrained(folder)


def test_principal_directions_are_unit_orthogonal_and_ordered():
    components, sigmas = tiny_pipe().principal_directions(num=4, num_samples=3000)
    assert torch.allclose(components @ components.T, torch.eye(4), atol=1e-4)
    assert (sigmas[:-1] >= sigmas[1:]).all() and (sigmas > 0).all()


def test_each_edit_moves_the_face_and_a_zero_offset_leaves_it_unchanged(tmp_path):
    pipe = edits_for(tiny_pipe(), tmp_path / "w")
    assert [e.name for e in pipe.edits] == ["first", "second"]
    plain = pipe(seeds=[3, 4], output_type="pt").images
    zero = pipe.edit(seeds=[3, 4], strengths={"first": 0, "second": 0}, output_type="pt").images
    assert torch.equal(plain, zero)
    for name in ("first", "second"):
        moved = pipe.edit(seeds=[3, 4], strengths={name: 2.0}, output_type="pt").images
        assert (moved - plain).abs().mean() > 1e-3, name
    ws = pipe.map(torch.randn(1, 8))
    edited = pipe.apply_edits(ws, {0: 1.5})
    changed = (edited - ws).abs().sum(-1)[0] > 0
    assert changed.tolist() == [True] * 4 + [False] * 6          # "first" acts on the coarse layers only


def test_edit_refuses_unknown_names_and_out_of_range_strengths(tmp_path):
    pipe = edits_for(tiny_pipe(), tmp_path / "w")
    with pytest.raises(InputError, match="no edit named 'smile'"):
        pipe.edit(seeds=[1], strengths={"smile": 1})
    with pytest.raises(InputError, match="between -5.0 and 5.0"):
        pipe.edit(seeds=[1], strengths={"first": 9})
    with pytest.raises(InputError, match="edit 5 does not exist"):
        pipe.edit(seeds=[1], strengths={5: 1})


@pytest.mark.parametrize("change, message", [
    (lambda d: d["edits"][0].update(vector=[1.0, 2.0]), "must be 8 finite numbers"),
    (lambda d: d["edits"][0].update(vector=[0.0] * 8), "not all 0"),
    (lambda d: d["edits"][0].update(layers=[3, 11]), "layers must be"),
    (lambda d: d["edits"][0].update(sigma=-1), "sigma must be"),
    (lambda d: d["edits"][0].pop("name"), "KeyError"),
    (lambda d: d.update(edits=[d["edits"][0]] * 17), "at most 16"),
])
def test_damaged_edits_are_refused_with_what_is_wrong(tmp_path, change, message):
    folder = tmp_path / "w"
    edits_for(tiny_pipe(), folder)
    data = json.loads((folder / "model_index.json").read_text())
    change(data)
    (folder / "model_index.json").write_text(json.dumps(data))
    with pytest.raises(WeightsError, match=message):
        StyleFacesPipeline.from_pretrained(folder)


def test_the_edits_live_in_model_index_json_and_the_tab_reads_their_names_without_a_model(tmp_path):
    from tabs.faces_style import named_edits

    folder = tmp_path / "w"
    edits_for(tiny_pipe(), folder)
    index = json.loads((folder / "model_index.json").read_text())
    assert [e["name"] for e in index["edits"]] == ["first", "second"] and len(index["edits"][0]["vector"]) == 8
    assert named_edits(folder) == [{"name": "first", "note": "coarse only"}, {"name": "second", "note": ""}]
    assert named_edits(tmp_path / "nowhere") == []


def test_name_edits_takes_a_component_with_a_minus_as_its_reverse_and_refuses_what_it_cannot_read(tmp_path):
    """PCA's sign can flip between weights: ``-5`` names component 5 read the other way (plus goes the name's way)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
    import name_edits

    folder = tmp_path / "w"
    tiny_pipe().save_pretrained(folder)
    name_edits.main([str(folder), "--components", "3", "--edit", "Forward=1:coarse:a note",
                     "--edit", "Backward=-1:coarse+middle"])
    forward, backward = StyleFacesPipeline.from_pretrained(folder).edits
    assert forward.component == backward.component == 1 and forward.note == "a note"
    assert torch.allclose(forward.vector, -backward.vector) and backward.layers == (0, 8)
    for bad, message in (("Nameless", "write NAME=COMPONENT"), ("X=-9:coarse", "component 9 is not among"),
                         ("X=1:chin", "layer groups are")):
        with pytest.raises(SystemExit, match=message):
            name_edits.main([str(folder), "--components", "3", "--edit", bad])


def test_projection_gets_closer_to_a_face_the_generator_can_draw():
    pipe = tiny_pipe(3)
    target = pipe(seeds=[11], truncation=0.5).images[0]
    weights = ProjectionLoss(features=0.0, prior=0.01)
    start = pipe.project(target, 0, loss_weights=weights, num_candidates=8)
    end = pipe.project(target, 60, loss_weights=weights, num_candidates=8, num_frames=4)
    assert end.latent.shape == (1, 10, 8) and len(end.losses) == 60
    assert end.psnr > start.psnr + 1.0, (start.psnr, end.psnr)
    assert end.losses[-1] < end.losses[0]
    again = pipe.project(target, 60, loss_weights=weights, num_candidates=8, num_frames=4)
    assert torch.equal(again.latent, end.latent)                   # deterministic for a given start seed
    face = pipe.generate(end.latent)
    assert face.shape == (1, 3, 64, 64)
    single = pipe.project(target, 20, space="w", loss_weights=weights, num_candidates=8)
    assert torch.equal(single.latent[0, 0], single.latent[0, -1])  # W: one w for every layer


@pytest.mark.parametrize("latent, message", [
    (torch.zeros(7), "must have shape"), (torch.full((8,), float("nan")), "NaN"),
    (torch.zeros(8, dtype=torch.int64), "floating-point"), (torch.full((1, 10, 8), 1e6), "far from"),
])
def test_check_latent_refuses_what_the_model_cannot_use(latent, message):
    with pytest.raises(InputError, match=message):
        tiny_pipe().check_latent(latent)


def test_a_w_and_its_w_plus_draw_the_same_face():
    pipe = tiny_pipe()
    w = torch.randn(8)
    assert torch.equal(pipe.generate(w), pipe.generate(w.expand(10, 8)))


def test_the_projected_discriminator_scores_every_position_of_every_head():
    d = ProjectedFacesDiscriminator((24, 40, 112, 320), (16, 8, 4, 2), (8, 8, 8, 8), head_width=8)
    features = [torch.randn(2, c, s, s) for c, s in zip((24, 40, 112, 320), (16, 8, 4, 2))]
    assert d(features).shape == (2, 16 + 16 + 16 + 4)


# ----------------------------------------------------------------------------- training
sys.path.insert(0, str(ROOT / "training"))


def tiny_train_args(dataset, out, *extra):
    return ["--dataset", str(dataset), "--output_dir", str(out), "--latent_dim", "8", "--w_dim", "8",
            "--mapping_layers", "2", "--channel_base", "64", "--channel_max", "16", "--feature_size", "64",
            "--head_width", "8", "--batch_size", "4", "--report_to", "none", "--log_steps", "1",
            "--sample_steps", "2", "--checkpointing_steps", "2", "--threads", "1", *extra]


def test_training_saves_g_and_d_and_goes_on_from_the_folder(tmp_path):
    import train_stylegan
    from conftest import make_image_folder

    images = make_image_folder(tmp_path / "faces", num=8, size=64)
    folder = train_stylegan.main(train_stylegan.parse_args(tiny_train_args(images, tmp_path / "a", "--max_steps", "2")))
    state = json.loads((folder / "training_state.json").read_text())
    assert state == {"step": 2, "ema_updates": 2}
    assert (folder / "samples.png").is_file() and (tmp_path / "a" / "samples" / "step-0000002.png").is_file()
    pipe = StyleFacesPipeline.from_pretrained(folder)
    assert len(pipe(seeds=[0, 1]).images) == 2

    # 0 more steps: what comes back out is exactly what went in (G, its EMA, D, the step and the EMA count)
    same = train_stylegan.main(train_stylegan.parse_args(tiny_train_args(
        images, tmp_path / "b", "--resume_from_weights", str(folder), "--max_steps", "2")))
    for part in ("generator", "discriminator"):
        a, b = (load_file(f / part / "diffusion_pytorch_model.safetensors") for f in (folder, same))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), part
    assert json.loads((same / "training_state.json").read_text()) == state

    # 1 more step: the step and the EMA count go on from the folder's
    more = train_stylegan.main(train_stylegan.parse_args(tiny_train_args(
        images, tmp_path / "c", "--resume_from_weights", str(folder), "--max_steps", "3")))
    assert json.loads((more / "training_state.json").read_text()) == {"step": 3, "ema_updates": 3}
    rows = [json.loads(line) for line in (tmp_path / "c" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [3] and {"d_loss", "g_loss", "real_logit", "fake_logit"} <= set(rows[0])

    # the folder as the gallery embeds it: G and D in fp16, the named edits kept, no sample grid; training goes on
    import export_stylegan
    from gan_models.faces.style_pipeline import EditDirection, set_edits
    vector = torch.zeros(8)
    vector[0] = 1.0
    set_edits(folder, [EditDirection("Test", vector, (0, 4), 0.5, 0, "a note")])
    embedded = export_stylegan.export(folder, tmp_path / "style_faces")
    assert [e.name for e in StyleFacesPipeline.from_pretrained(embedded).edits] == ["Test"]
    assert not list(embedded.glob("*.png")) and (embedded / "README.md").is_file()
    for part in ("generator", "discriminator"):
        assert {t.dtype for t in load_file(embedded / part / "diffusion_pytorch_model.safetensors").values()} == \
            {torch.float16}, part
    assert json.loads((embedded / "training_state.json").read_text()) == state
    on = train_stylegan.main(train_stylegan.parse_args(tiny_train_args(
        images, tmp_path / "d", "--resume_from_weights", str(embedded), "--max_steps", "3")))
    assert json.loads((on / "training_state.json").read_text()) == {"step": 3, "ema_updates": 3}
    with pytest.raises(SystemExit, match="carries no discriminator/"):
        export_stylegan.export(tmp_path / "a" / "checkpoints", tmp_path / "x")
    # a best_generator folder (no card, no arguments of its own): both are made from the run's
    best = tmp_path / "a" / "best_generator"
    shutil.copytree(folder, best)
    for name in ("README.md", "training_args.json", "samples.png"):
        (best / name).unlink()
    (best / "metrics.json").write_text(json.dumps({"step": 2, "fid": 123.4, "kid": 0.5, "num_real": 8, "num_fake": 8}))
    copy = export_stylegan.export(best, tmp_path / "from_best")
    assert "123.4" in (copy / "README.md").read_text() and (copy / "training_args.json").is_file()
