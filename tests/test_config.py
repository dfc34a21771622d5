"""The options: one definition per field gives its check, its flag, its group and its help."""

import dataclasses

import jax
import numpy as np
import pytest

from jaxgan import cli
from jaxgan.checkpoint import structure_changes
from jaxgan.cli import train
from jaxgan.config import GROUPS, PRESETS, Config, flag
from jaxgan.errors import ConfigError, command_line
from jaxgan.loop import train_and_evaluate


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"loss": "wasserstein"}, "--loss must be one of bce, hinge, lsgan, got 'wasserstein'"),
        ({"arch": "resnet"}, "--arch must be one of mlp, dcgan, got 'resnet'"),
        ({"ema_decay": 1.0}, "--ema-decay must be in [0, 1), got 1.0"),
        ({"depth": 0}, "--depth must be a positive integer, got 0"),
        ({"channels": 2.5}, "--channels must be a positive integer, got 2.5"),
        ({"d_dropout": 1.0}, "--d-dropout must be in [0, 1), got 1.0"),
        ({"d_lr": -1e-4}, "--d-lr must be a finite number >= 0, got -0.0001"),
        ({"lr": float("nan")}, "--lr must be a finite number > 0, got nan"),
        ({"eps": 0.0}, "--eps must be a finite number > 0, got 0.0"),
        ({"conditional": 1}, "--conditional must be true or false, got 1"),
        ({"seed": 2**32}, "--seed must be an integer in 0 .. 4294967295, got 4294967296"),
        ({"codes": 1}, "--codes must be 0 (off) or 2 .. latent_dim - 1 = 99, got 1"),
        ({"codes": 100}, "--codes must be 0 (off) or 2 .. latent_dim - 1 = 99, got 100"),
        ({"info_weight": -1.0}, "--info-weight must be a finite number >= 0, got -1.0"),
        ({"eval_every": 1, "eval_samples": 10}, "--eval-samples must be at least 20, got 10"),
    ],
)
def test_invalid_options_are_refused_naming_the_flag_or_the_argument(changes, message):
    with command_line(), pytest.raises(ConfigError) as error:
        Config(**changes)
    assert str(error.value) == message
    flag = message.split()[0]
    with pytest.raises(ConfigError) as error:  # from Python: the field's own name
        Config(**changes)
    assert str(error.value) == flag[2:].replace("-", "_") + message[len(flag) :]


@pytest.mark.parametrize(
    "changes, flags, python",
    [
        (
            {"class_loss": 1.0},
            "--class-loss needs --conditional: its classifier learns the labels",
            "class_loss needs conditional: its classifier learns the labels",
        ),
        (
            {"modulation": True, "arch": "dcgan"},
            "--modulation is an mlp option; --arch is 'dcgan'",
            "modulation is an mlp option; arch is 'dcgan'",
        ),
    ],
)
def test_options_that_need_another_are_refused(changes, flags, python):
    with command_line(), pytest.raises(ConfigError) as error:
        Config(**changes)
    assert str(error.value) == flags
    with pytest.raises(ConfigError) as error:
        Config(**changes)
    assert str(error.value) == python
    Config(**{**changes, "conditional": True, "arch": "mlp"})  # with what they need


def test_presets_validate_and_unknown_presets_are_refused():
    assert Config.preset("reference") == Config()
    for name in PRESETS:
        Config.preset(name).validate()
    with pytest.raises(
        ConfigError, match="unknown preset 'best'; choose one of reference, quality, conditional"
    ):
        Config.preset("best")


def test_every_field_is_a_flag_in_its_group_with_its_effective_defaults():
    """Except the facts of the data (image shape, classes), which no command line sets."""
    parser = cli.Parser()
    groups = cli.add_config_args(parser)
    assert set(groups) == set(GROUPS)
    for field in dataclasses.fields(Config):
        group = groups[field.metadata["group"]]
        actions = [a for a in group._group_actions if flag(field.name) in a.option_strings]
        if field.name in ("image_shape", "num_classes"):
            assert actions == [] and not field.metadata["flag"]
            continue
        (action,) = actions
        assert field.metadata["help"] in action.help
    lr_help = next(a.help for a in groups["optimiser"]._group_actions if "--lr" in a.option_strings)
    assert lr_help.endswith("(default: 0.0002; quality: 0.0005; conditional: 0.0005)")


def test_flags_override_the_preset_and_validate_checks_them(tmp_path):
    args = train.parse_args(
        ["--preset", "quality", "--lr", "3e-4", "--conditional", "--workdir", str(tmp_path / "w")]
    )
    config, population = train.build_config(args)
    assert population is None
    assert config == Config.preset("quality").replace(lr=3e-4, conditional=True)
    on, _ = train.build_config(train.parse_args(["--preset", "quality", "--modulation"]))
    assert on == Config.preset("quality").replace(modulation=True)
    off, _ = train.build_config(
        train.parse_args(["--preset", "conditional", "--no-conditional", "--class-loss", "0"])
    )
    assert Config.preset("conditional").conditional and not off.conditional  # --no-FLAG: off
    with pytest.raises(ConfigError, match="batch_size must be a positive integer, got 0"):
        train.build_config(train.parse_args(["--batch-size", "0"]))


def test_a_config_with_an_unknown_option_or_of_the_wrong_type_is_one_line():
    with pytest.raises(ConfigError, match="^Config has no option 'foo'$"):
        Config(foo=1)
    with pytest.raises(ConfigError, match="^Config has no option 'lr_'; did you mean 'lr'\\?$"):
        Config(lr_=1e-3)
    with pytest.raises(ConfigError, match="^Config has no option 'r1_gamma'"):
        Config.from_json({**Config().to_json(), "r1_gamma": 10.0})  # an option jaxgan does not have
    with pytest.raises(ConfigError, match="^a config is a dict of options, got list$"):
        Config.from_json([1, 2])
    assert Config.from_json(Config(lr=1e-3).to_json()) == Config(lr=1e-3)


@pytest.mark.parametrize(
    "changes, fields",
    [
        ({"ema_decay": 0.999}, ["ema_decay"]),
        ({"codes": 4}, ["codes"]),
        ({"conditional": True}, ["conditional"]),
        ({"hidden_dim": 32}, ["hidden_dim"]),
        ({"arch": "dcgan"}, ["arch"]),
        ({"hidden_dim": 32, "lr": 1e-3}, ["hidden_dim"]),
        ({"lr": 1e-3, "epochs": 5, "d_dropout": 0.5, "loss": "hinge", "channels": 8}, []),
    ],
)
def test_structure_changes_are_derived_from_the_state_arrays(changes, fields):
    base = Config(hidden_dim=16, latent_dim=8)
    assert structure_changes(base, base.replace(**changes)) == fields


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PRESETS))
def test_each_preset_trains_an_epoch_on_mock_data(name, mock_mnist, tmp_path):
    # 96 mock examples: a batch of 64 and a partial one (a preset's larger batch would not fit)
    config = Config.preset(name).replace(epochs=1, batch_size=64, sample_every=1000, log_every=1000)
    state = train_and_evaluate(
        config, tmp_path / "run", data_dir=mock_mnist, progress=False, tensorboard=False
    )
    assert int(state.step) == 2
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(state.sampling_params))
