"""The manual is tested: every command it prints parses with the tool's own parser, every image it
shows exists, and it speaks of the product only."""

import contextlib
import importlib
import io
import re
import shlex

import pytest

from conftest import ROOT

PAGES = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "docs" / "tutorial.ipynb",
    ROOT / "benchmarks" / "README.md",
]
COMMAND = re.compile(
    r"(?:python "
    r"(?:scripts|benchmarks)/(\w+)\.py|jaxgan-(train-classifier|train|sample|evaluate|plot)"
    r"(?![\w.-]))((?:\\\n|[^\n`|;#&])*)"
)
BENCHMARKS = {"bench", "profile_step"}


def commands() -> list[tuple[str, str, list[str]]]:
    """(page, tool, argv) of every `python scripts/…`, `python benchmarks/…` and `jaxgan-…` command."""
    found = []
    for page in PAGES:
        for match in COMMAND.finditer(page.read_text()):
            tool = match.group(1) or match.group(2).replace("-", "_")
            argv = shlex.split(
                match.group(3).replace("\\\n", " ").replace("[", "").replace("]", "")
            )
            found.append((page.name, tool, argv))
    return found


def help_text(tool: str) -> str:
    module = importlib.import_module(
        f"benchmarks.{tool}" if tool in BENCHMARKS else f"jaxgan.cli.{tool}"
    )
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        module.main(["--help"])
    return out.getvalue()


def test_the_manual_prints_commands_of_every_tool():
    tools = {tool for _, tool, _ in commands()}
    assert {"train", "sample", "evaluate", "plot", "train_classifier", "bench"} <= tools, tools


@pytest.mark.parametrize("tool", ["train", "sample", "evaluate", "plot", "train_classifier"])
def test_every_documented_command_parses_with_the_tools_parser(tool):
    parse = importlib.import_module(f"jaxgan.cli.{tool}").parse_args
    for page, name, argv in commands():
        if name == tool and "NAME" not in argv and "--help" not in argv:
            try:
                parse(argv)
            except SystemExit as e:
                pytest.fail(f"{page}: `{tool} {' '.join(argv)}` does not parse ({e.code})")


def test_every_documented_benchmark_flag_exists():
    for page, name, argv in commands():
        if name in BENCHMARKS:
            flags = {a.split("=")[0] for a in argv if a.startswith("--")}
            assert not flags or flags <= set(re.findall(r"--[a-z0-9-]+", help_text(name))), (
                page,
                argv,
            )


def test_every_image_shown_exists():
    for page in PAGES:
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page.read_text()):
            assert (page.parent / target).is_file() or (ROOT / target).is_file(), (
                page.name,
                target,
            )


def test_every_link_to_a_page_or_an_image_resolves():
    for page in PAGES:
        for target in re.findall(
            r"\]\(((?:docs|benchmarks|\.\.)?[\w./-]+\.(?:md|png))(?:#[\w-]+)?\)", page.read_text()
        ):
            assert (page.parent / target).is_file(), (page.name, target)


# Words about the circumstances of the work, not the product (spelt in parts so that a search of
# the sources for them finds none).
@pytest.mark.parametrize(
    "phrase", ["../" + "shared", "this " + "machine", "this " + "project's", "sess" + "ion"]
)
def test_the_manual_speaks_of_the_product_only(phrase):
    for page in PAGES:
        assert phrase not in page.read_text().lower(), (page.name, phrase)


def test_the_readme_is_short_and_starts_with_install_and_test():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 200
    assert "pip install -e ." in lines[3] and "scripts/train.py" in lines[3]
    assert "pip install -e '.[test]'" in lines[4] and lines[4].endswith("pytest")
    head = "\n".join(lines[:80])
    for needed in ("scripts/train.py", "scripts/sample.py", "scripts/evaluate.py", "--resume"):
        assert needed in head, needed


@pytest.mark.slow
def test_the_pure_core_examples_of_the_api_page_run_as_written(mock_mnist, tmp_path, monkeypatch):
    """docs/api.md's "The pure core" code, block after block, on a tiny MNIST: one run, a vmapped
    population that carries each member's learning rate, and modules of one's own end to end."""
    import jaxgan

    text = (ROOT / "docs" / "api.md").read_text()
    section = text[text.index("## The pure core") :]
    section = section[: section.index("\n## ")] if "\n## " in section else section
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 2
    monkeypatch.setenv("TFDS_DATA_DIR", mock_mnist)
    monkeypatch.chdir(tmp_path)
    namespace = {"jaxgan": jaxgan}
    for block in blocks:
        exec(compile(block, "docs/api.md", "exec"), namespace)
    assert namespace["metrics"]["d_loss"].shape == (8, 3, 2)  # 8 members, 3 epochs, 96 images / 64
    assert [float(x) for x in namespace["states"].hyperparameters()["lr"]] == [
        pytest.approx(lr) for lr in [2e-4] * 4 + [1e-3] * 4
    ]
    assert (
        namespace["images"].shape == (64, 28, 28)
        and (tmp_path / "runs" / "own" / "checkpoints").is_dir()
    )
