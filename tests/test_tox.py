"""Nothing real is dropped from CI: every test file runs in an environment of
``tox`` (tox.ini's ``env_list``), the matrix's in each stack's, every other in
exactly one. ``suite`` runs every file it does not ``--ignore``; the others
name theirs (or take ``[testenv]``'s command)."""

import configparser
import re
from pathlib import Path

ROOT = Path(__file__).parent.parent


def _tox() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "tox.ini")
    return parser


def _words(commands: str) -> list[str]:
    return commands.replace("\\\n", " ").replace("{/}", "/").split()


def test_every_test_file_runs_in_tox_and_only_the_matrix_more_than_once():
    tox = _tox()
    env_list = [name.strip() for name in tox["tox"]["env_list"].split(",")]
    files = {path.relative_to(ROOT).as_posix() for path in (ROOT / "tests").glob("test_*.py")}
    runs: dict[str, list[str]] = {name: [] for name in files}
    for env in env_list:
        section = f"testenv:{env}"
        words = _words(tox[section].get("commands", tox["testenv"]["commands"])
                       if tox.has_section(section) else "")
        if env == "suite":
            ignored = {w.removeprefix("--ignore=") for w in words if w.startswith("--ignore=")}
            assert ignored <= files, ignored - files  # no ignore of a file that is gone
            chosen = files - ignored
        else:
            chosen = {w for w in words if re.fullmatch(r"tests/test_\w+\.py", w)}
        for name in chosen:
            runs[name].append(env)
    assert runs.pop("tests/test_matrix.py") == ["threading", "eventlet", "gevent", "asyncio"]
    assert {name: envs for name, envs in runs.items() if len(envs) != 1} == {}


def test_every_environment_of_tox_is_in_the_all_label_and_says_what_it_runs():
    tox = _tox()
    env_list = [name.strip() for name in tox["tox"]["env_list"].split(",")]
    labels = dict(line.split("=", 1) for line in tox["tox"]["labels"].strip().splitlines())
    assert [name.strip() for name in labels["all "].split(",")] == env_list
    for env in env_list:
        assert tox[f"testenv:{env}"].get("description"), env
