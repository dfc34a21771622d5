"""Populations: members trained side by side in one program equal their single runs; sweeps,
resume, failing members and the population's folders."""

import json
import re

import jax
import numpy as np
import pytest

from jaxgan import checkpoint, cli
from jaxgan.cli import plot as plot_tool
from jaxgan.cli import sample as sample_tool
from jaxgan.cli import train as train_tool
from jaxgan.config import Config
from jaxgan.errors import (
    ConfigError,
    IncompatibleCheckpointError,
    TrainingError,
    command_line,
)
from jaxgan.population import (
    Population,
    init_population,
    member_state,
    parse_sweep,
    restore_population,
)
from jaxgan.program import compile_epoch
from jaxgan.sampling import restore_path

from conftest import (
    TINY,
    TINY_FLAGS,
    assert_trees_equal,
    file_tree,
    fns,
    train_tiny,
    uint8_images,
)


def test_members_are_seeds_times_every_combination_of_the_swept_values():
    population = Population(
        Config(seed=5), seeds=2, sweep=(("lr", (1e-3, 2e-3)), ("beta1", (0.5,)))
    )
    members = population.members()
    assert [m.id for m in members] == ["0", "1", "2", "3"]
    assert [m.values for m in members] == [
        {"seed": 5, "lr": 1e-3, "beta1": 0.5},
        {"seed": 6, "lr": 1e-3, "beta1": 0.5},
        {"seed": 5, "lr": 2e-3, "beta1": 0.5},
        {"seed": 6, "lr": 2e-3, "beta1": 0.5},
    ]
    assert members[3].config == Config(seed=6, lr=2e-3, beta1=0.5)
    assert Population.from_json(json.loads(json.dumps(population.to_json()))) == population
    assert [m.id for m in Population(Config(), seeds=12).members()][:2] == ["00", "01"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("lr", "--sweep wants NAME=V1,V2,..., got 'lr'"),
        ("width=1,2", "--sweep: no option --width"),
        ("lr=a,b", "--sweep lr: values must be of type float"),
        ("lr=0.1,0.1", "--sweep lr: a value is repeated"),
        ("seed=1,2", "--sweep seed: use --seed and --seeds"),
        ("hidden_dim=16,32", "--sweep hidden_dim: --hidden-dim changes the model's arrays"),
        ("latent-dim=8,16", "--sweep latent_dim: --latent-dim changes the model's arrays"),
        ("loss=bce,hinge", "--sweep loss: --loss changes the compiled program"),
        ("ema_decay=0,0.9", "--sweep ema_decay: 0.0 and 0.9 give the model different arrays"),
        ("lr=0.001,-1", "--sweep lr: --lr must be a finite number > 0, got -1.0"),
        ("d_dropout=0.5,1", "--sweep d_dropout: --d-dropout must be in [0, 1), got 1.0"),
    ],
)
def test_a_malformed_sweep_or_one_members_cannot_share_is_refused(text, message):
    with command_line(), pytest.raises(ConfigError, match="^" + re.escape(message)):
        Population(Config(), seeds=2, sweep=(parse_sweep(text),)).validate()


@pytest.mark.slow
def test_a_member_whose_loss_diverges_is_frozen_and_the_others_train_on():
    images, _ = uint8_images(72)
    config = Config(batch_size=16, hidden_dim=8, latent_dim=8)
    population = Population(config, seeds=1, sweep=(("lr", (1e-3, 1e30)),))
    members, epoch_fn = compile_epoch(
        config,
        init_population(population, fns(population.program_config())),
        images,
        population=population,
    )
    members, metrics = epoch_fn(members, 0)
    alive = np.asarray(metrics["alive"])
    assert alive[0].all() and not alive[1].all()
    failed_at = int(np.argmin(alive[1]))
    assert not np.isfinite(metrics["g_loss"][1, failed_at]) or not np.isfinite(
        metrics["d_loss"][1, failed_at]
    )
    frozen = member_state(members, 1)
    assert int(frozen.step) == failed_at  # the steps before the failing one were applied
    for leaf in jax.tree.leaves(frozen):
        assert np.isfinite(np.asarray(leaf)).all()
    again, _ = epoch_fn(members, 1)
    assert_trees_equal(member_state(again, 1), frozen)
    assert int(member_state(again, 0).step) == 10


@pytest.mark.slow
def test_a_population_run_writes_member_folders_resumes_exactly_and_serves_the_tools(
    idx_mnist, tmp_path, capsys
):
    population = Population(Config(), seeds=2, sweep=(("lr", (1e-3, 2e-3)),))
    whole, halves = tmp_path / "whole", tmp_path / "halves"
    train_tiny(whole, idx_mnist, epochs=2, population=population)
    train_tiny(halves, idx_mnist, epochs=1, population=population)
    train_tiny(halves, idx_mnist, epochs=2, population=population, resume=True)
    a, meta_a, _ = restore_population(whole)
    b, meta_b, _ = restore_population(halves)
    assert_trees_equal(a, b)
    assert meta_a.state_sha256 == meta_b.state_sha256 and meta_b.epoch == 2

    index = json.loads((whole / "population.json").read_text())
    assert [(m["id"], m["seed"], m["lr"], m["failed"]) for m in index["members"]] == [
        ("0", 0, 1e-3, None),
        ("1", 1, 1e-3, None),
        ("2", 0, 2e-3, None),
        ("3", 1, 2e-3, None),
    ]
    member = whole / "members" / "3"
    assert json.loads((member / "config.json").read_text())["lr"] == 2e-3
    assert [
        json.loads(row)["epoch"] for row in (member / "metrics.jsonl").read_text().splitlines()
    ] == [1, 2]
    assert (member / "images" / "1.png").is_file()
    state, meta = restore_path(member)
    assert meta.member == "3" and meta.config.seed == 1
    assert_trees_equal(state.g_params, jax.tree.map(lambda x: x[3], a.g_params))

    sample_tool.main(["--workdir", str(member), "--n", "8", "--grid", "2x4"])
    assert (member / "samples.png").is_file()
    plot_tool.main(["--workdir", str(whole)])
    assert (whole / "curves.png").is_file()
    with pytest.raises(
        IncompatibleCheckpointError, match="is a population; open one member's folder"
    ):
        sample_tool.main(["--workdir", str(whole)])
    with pytest.raises(IncompatibleCheckpointError, match="holds a population"):
        checkpoint.restore_latest(whole / "checkpoints")


@pytest.mark.slow
def test_resuming_a_population_keeps_its_members_and_overwriting_only_what_jaxgan_wrote(
    idx_mnist, tmp_path
):
    train_tiny(tmp_path / "pop", idx_mnist, population=Population(Config(), seeds=2))
    with pytest.raises(ConfigError, match=r"started with seeds=2, sweep=\{\}; you passed seeds=3"):
        train_tiny(
            tmp_path / "pop",
            idx_mnist,
            epochs=2,
            resume=True,
            population=Population(Config(), seeds=3),
        )
    train_tiny(tmp_path / "single", idx_mnist)
    args = train_tool.parse_args(
        ["--workdir", str(tmp_path / "single"), "--resume", "--seeds", "2"]
    )
    with pytest.raises(
        ConfigError, match="holds a single run; --seeds and --sweep start a population"
    ):
        train_tool.build_config(args)
    config, resumed = train_tool.build_config(
        train_tool.parse_args(["--workdir", str(tmp_path / "pop"), "--resume", "--epochs", "3"])
    )
    assert resumed.seeds == 2 and resumed.base.epochs == 3 == config.epochs

    note = (
        tmp_path / "pop" / "members" / "1" / "notes.txt"
    )  # --overwrite keeps what jaxgan did not write
    note.write_text("mine")
    train_tiny(
        tmp_path / "pop", idx_mnist, population=Population(Config(), seeds=1), overwrite=True
    )
    assert sorted(file_tree(tmp_path / "pop" / "members" / "1")) == ["notes.txt"]
    assert sorted(p.name for p in (tmp_path / "pop" / "members").iterdir()) == ["0", "1"]


@pytest.mark.slow
def test_a_run_in_which_every_member_fails_is_an_error(idx_mnist, tmp_path):
    population = Population(Config(), seeds=1, sweep=(("lr", (1e30, 1e31)),))
    with pytest.raises(TrainingError, match="every member's training failed"):
        train_tiny(tmp_path / "pop", idx_mnist, population=population)
    with pytest.raises(ConfigError, match="no member of the population has training metrics"):
        plot_tool.main(["--workdir", str(tmp_path / "pop")])


@pytest.mark.parametrize("seeds", [4294967296, 10_000_000])
def test_a_population_too_large_is_refused_before_any_member_is_built(seeds, monkeypatch):
    from jaxgan.population import Population

    def never(self):
        raise AssertionError("a member was built")

    monkeypatch.setattr(Population, "members", never)
    with pytest.raises(ConfigError, match=f"{seeds} members' models do not fit"):
        Population(TINY, seeds=seeds).validate()


def test_a_repeated_sweep_is_refused(idx_mnist, tmp_path, capsys):

    argv = [
        *TINY_FLAGS,
        "--data-dir",
        idx_mnist,
        "--workdir",
        str(tmp_path / "w"),
        "--sweep",
        "lr=1e-3",
        "--sweep",
        "lr=2e-3",
    ]
    assert cli.execute(train_tool.main, argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1 and "--sweep lr is given more than once; give all its values in one" in err[0]
    ), err
    assert not (tmp_path / "w").exists()
