"""The `otklik` command line, run as a real process against a real database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from storage import migrate
from tests.conftest import ROOT, Database, cli_env, run_otklik


def otklik(database: Database, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_otklik(database, *args, cwd=cwd)


def test_help_explains_every_command(tmp_path: Path, database: Database):
    result = otklik(database, "--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("run", "migrate", "faq", "chat"):
        assert command in result.stdout
    assert "OTKLIK__SECTION__KEY" in result.stdout
    faq_help = otklik(database, "faq", "--help", cwd=tmp_path)
    assert "import" in faq_help.stdout and "export" in faq_help.stdout


def test_migrate_reports_revision(tmp_path: Path, database: Database):
    result = otklik(database, "migrate", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"database at revision {migrate.head_revision()}" in result.stdout
    assert migrate.head_revision() >= "0041"


def test_faq_import_list_export_round_trip(tmp_path: Path, database: Database):
    result = otklik(database, "faq", "import", str(ROOT / "faq.example.yaml"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "48 new, 0 updated" in result.stdout
    again = otklik(database, "faq", "import", str(ROOT / "faq.example.yaml"), cwd=tmp_path)
    assert "0 new, 0 updated" in again.stdout
    listing = otklik(database, "faq", "list", "--language", "en", cwd=tmp_path)
    assert "How long does delivery take?" in listing.stdout
    assert "24 entries" in listing.stdout
    out = tmp_path / "export.yaml"
    export = otklik(database, "faq", "export", str(out), cwd=tmp_path)
    assert export.returncode == 0, export.stderr
    original = yaml.safe_load((ROOT / "faq.example.yaml").read_text(encoding="utf-8"))
    exported = yaml.safe_load(out.read_text(encoding="utf-8"))
    key = lambda e: e["slug"]  # noqa: E731
    assert sorted(exported["entries"], key=key) == sorted(original["entries"], key=key)


def test_faq_import_errors_name_the_entry(tmp_path: Path, database: Database):
    bad = tmp_path / "bad.yaml"
    bad.write_text("entries:\n  - slug: x\n    ru:\n      question: Q\n", encoding="utf-8")
    result = otklik(database, "faq", "import", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    assert "entry 'x' [ru]: 'answer' is required" in result.stderr
    assert "Traceback" not in result.stderr
    missing = otklik(database, "faq", "import", str(tmp_path / "none.yaml"), cwd=tmp_path)
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_terminal_chat_answers(tmp_path: Path, database: Database):
    otklik(database, "faq", "import", str(ROOT / "faq.example.yaml"), cwd=tmp_path)
    # Words alone: loading the dense model takes a process 20 s on a busy machine, and the
    # one-shot test below goes through it already.
    env = cli_env(database, LANG="ru_RU.UTF-8", OTKLIK__FAQ__SEMANTIC__MODE="off")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "chat"],
        input="как вернуть товар\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Здравствуйте" in result.stdout
    assert "14 дней" in result.stdout


def test_config_option_works_before_and_after_the_command(tmp_path: Path):
    """`--config PATH` is honoured wherever it stands, and a missing file is an error in both
    places (it used to be overwritten by the subcommand's default, so the built-in SQLite file
    in the working directory was migrated instead)."""
    env = cli_env_without_database()
    db_file = tmp_path / "from-config.db"
    config = tmp_path / "otklik.toml"
    config.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{db_file}"\n', encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    for args in (
        ["--config", str(config), "migrate"],
        ["migrate", "--config", str(config)],
        ["--config", str(config), "tickets", "list"],
        ["tickets", "list", "--config", str(config)],
        ["faq", "--config", str(config), "list"],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "bot", *args], capture_output=True, text=True, cwd=work, env=env
        )
        assert result.returncode == 0, (args, result.stderr)
    assert db_file.exists()
    assert not (work / "otklik.db").exists()
    for args in (["--config", "/nonexistent.toml", "migrate"], ["migrate", "--config", "/nope"]):
        result = subprocess.run(
            [sys.executable, "-m", "bot", *args], capture_output=True, text=True, cwd=work, env=env
        )
        assert result.returncode == 2, args
        assert "file not found" in result.stderr
    assert not (work / "otklik.db").exists()


def cli_env_without_database() -> dict[str, str]:
    """The environment with no OTKLIK settings of its own: only the config file speaks."""
    return {k: v for k, v in os.environ.items() if not k.startswith("OTKLIK")}


def test_output_cut_short_by_a_pipe_is_not_an_error(tmp_path: Path, database: Database):
    """`otklik faq list | head -1`: the reader closes the pipe early; no 'database
    unavailable', no traceback."""
    assert (
        otklik(database, "faq", "import", str(ROOT / "faq.example.yaml"), cwd=tmp_path).returncode
        == 0
    )
    command = f"{sys.executable} -m bot faq list | head -1"
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=cli_env(database, OTKLIK__LOGGING__LEVEL="WARNING"),
        timeout=60,
    )
    assert len(result.stdout.splitlines()) == 1
    assert result.stderr == ""
    assert result.returncode == 0


def test_one_shot_commands_print_their_answer_only(faq_loaded: Database, tmp_path: Path):
    """No information log line in front of a command's answer, no raw escape codes when the
    output is not a terminal, and counts in words that agree with them."""
    env = cli_env(faq_loaded)
    env.pop("OTKLIK__LOGGING__LEVEL", None)
    gaps = subprocess.run(
        [sys.executable, "-m", "bot", "faq", "gaps"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert gaps.returncode == 0, gaps.stderr
    assert gaps.stderr == ""
    assert gaps.stdout.strip() == "no gaps: 0 questions missed in this period"
    chat = subprocess.run(
        [sys.executable, "-m", "bot", "chat"],
        input="как вернуть товар\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert chat.returncode == 0, chat.stderr
    assert "\x1b[" not in chat.stdout
    assert "Как вернуть товар?" in chat.stdout  # the entry's title, plain


def test_gap_counts_agree_with_their_nouns():
    from bot.cli.faq import _count

    assert [_count(n, "question") for n in (0, 1, 2)] == [
        "0 questions",
        "1 question",
        "2 questions",
    ]
