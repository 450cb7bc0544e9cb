"""Config: TOML plus environment overrides; each mistake is one line naming key and file."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings
from tests.conftest import ROOT


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_any_config():
    settings = load_settings(None, environ={})
    assert settings.http.host == "127.0.0.1"
    assert settings.http.port == 8080
    assert settings.database.url == "sqlite+aiosqlite:///otklik.db"
    assert not settings.telegram.enabled


def test_example_config_is_valid_and_documents_every_key():
    settings = load_settings(ROOT / "config.example.toml", environ={})
    assert settings.telegram.webhook_path == "/telegram/webhook"
    example = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    from dataclasses import fields, is_dataclass

    def keys(obj: object, prefix: str) -> list[str]:
        found = []
        for f in fields(obj):  # type: ignore[arg-type]
            if f.name == "source":
                continue
            value = getattr(obj, f.name)
            if is_dataclass(value):
                found.extend(keys(value, f"{prefix}{f.name}."))
            else:
                found.append(f"{prefix}{f.name}")
        return found

    for key in keys(settings, ""):
        section, _, name = key.rpartition(".")
        assert f"[{section}]" in example, section
        assert f"\n{name} =" in example or f"\n# {name} =" in example, key


def test_a_retired_key_is_skipped_with_a_warning_not_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    """A file copied from an earlier release still starts the bot: its key that no longer
    means anything is named in a warning; a misspelt key is still refused."""
    path = write(tmp_path, "[faq.semantic]\nsuggest_score = 0.5\nscope_score = 0.8\n")
    with caplog.at_level("WARNING", logger="bot.config"):
        settings = load_settings(path, environ={})
    assert settings.faq.semantic.scope_score == 0.8
    assert "[faq.semantic] suggest_score is no longer used" in caplog.text
    assert str(path) in caplog.text
    with pytest.raises(ConfigError, match="unknown key 'sugest_score'"):
        load_settings(write(tmp_path, "[faq.semantic]\nsugest_score = 0.5\n"), environ={})
    with pytest.raises(ConfigError, match="grounded_scope_score: must not be above"):
        load_settings(write(tmp_path, "[faq.semantic]\ngrounded_scope_score = 0.9\n"), environ={})


def test_environment_overrides_file(tmp_path: Path):
    path = write(tmp_path, "[http]\nport = 9000\n")
    settings = load_settings(
        path,
        environ={
            "OTKLIK__HTTP__PORT": "9100",
            "OTKLIK__TELEGRAM__ADMIN_IDS": "[1, 2]",
            "OTKLIK__TELEGRAM__TOKEN": "42:abc",
            "OTKLIK__HOURS__WEEKLY__SAT": '["10:00-14:00"]',
        },
    )
    assert settings.http.port == 9100
    assert settings.telegram.admin_ids == [1, 2]
    assert settings.telegram.token == "42:abc"
    assert settings.hours.weekly.sat == ["10:00-14:00"]
    assert settings.secrets() == ["42:abc"]


def test_config_env_names_the_file(tmp_path: Path):
    path = write(tmp_path, "[http]\nport = 9001\n")
    assert load_settings(None, environ={"OTKLIK_CONFIG": str(path)}).http.port == 9001


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[http]\nport = "abc"\n', "[http] port: expected an integer, got string 'abc'"),
        ("[http]\nprot = 1\n", "[http]: unknown key 'prot'"),
        ("[htp]\n", "top level: unknown key 'htp'"),
        ("[telegram]\ntoken = '1:x'\nmode = 'webhook'\n", "[telegram] webhook_url: required"),
        (
            "[telegram]\ntoken = '1:x'\nmode = 'webhook'\nwebhook_url = 'https://x/telegram/webhook'\n",
            "[telegram] webhook_secret: required when mode = 'webhook'",
        ),
        ("[telegram]\nmode = 'push'\n", "[telegram] mode: expected 'webhook' or 'polling'"),
        ("[telegram]\nadmin_ids = 5\n", "[telegram] admin_ids: expected a list"),
        ("[database]\nurl = 'mysql://x'\n", "[database] url: use sqlite+aiosqlite"),
        ("[hours]\ntimezone = 'Nowhere/City'\n", "[hours] timezone: unknown time zone"),
        ("[hours.weekly]\nmon = ['9 to 5']\n", "[hours] weekly.mon: bad interval"),
        ("[http\n", "not valid TOML"),
        (
            "[webhooks]\nallowed_targets = ['http://crm.local/x']\n",
            "[webhooks] allowed_targets: 'http://crm.local/x' is not an address, a network",
        ),
    ],
)
def test_mistakes_name_key_and_file(tmp_path: Path, text: str, message: str):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_settings(path, environ={})
    assert message in str(error.value)
    assert str(path) in str(error.value)
    assert "\n" not in str(error.value)


def test_env_override_type_error_is_named():
    with pytest.raises(ConfigError, match=r"\[http\] port: expected an integer"):
        load_settings(None, environ={"OTKLIK__HTTP__PORT": "eighty"})


def test_a_bad_value_from_the_environment_names_the_variable_not_the_file(tmp_path: Path):
    """The file is fine: the blame goes to the variable, for a type and for a cross-field
    check alike."""
    path = write(tmp_path, "[http]\nport = 8081\n")
    cases = {
        "OTKLIK__HTTP__PORT": ("abc", "[http] port: expected an integer"),
        "OTKLIK__TELEGRAM__MODE": ("bad", "[telegram] mode: expected 'webhook' or 'polling'"),
    }
    for variable, (value, problem) in cases.items():
        for config in (None, path):
            with pytest.raises(ConfigError) as error:
                load_settings(config, environ={variable: value})
            assert str(error.value).startswith(f"environment {variable}: {problem}"), error.value
            assert str(path) not in str(error.value)
    with pytest.raises(ConfigError, match=f"^{re.escape(str(path))}: \\[http\\] port"):
        load_settings(write(tmp_path, "[http]\nport = 'x'\n"), environ={})


def test_cli_reports_config_error_in_one_line_and_exits_non_zero(tmp_path: Path):
    path = write(tmp_path, "[http]\nport = 'x'\n")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "Traceback" not in result.stderr
    assert f"otklik: config error: {path}: [http] port" in result.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "bot", "migrate", "--config", str(tmp_path / "nope.toml")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert missing.returncode == 2
    assert "nope.toml: file not found" in missing.stderr


def test_http_channels_are_named_tables_with_secrets_from_the_environment(tmp_path: Path):
    path = write(tmp_path, '[channels.http.shop]\noutbound_url = "https://shop.example/otklik"\n')
    with pytest.raises(ConfigError, match=r"\[channels.http.shop\] secret: at least 16"):
        load_settings(path, environ={})
    secret = "s" * 20
    settings = load_settings(path, environ={"OTKLIK__CHANNELS__HTTP__SHOP__SECRET": secret})
    shop = settings.channels.http["shop"]
    assert shop.secret == secret and shop.buttons_per_row == 4
    assert secret in settings.secrets()
    bad = write(
        tmp_path, f'[channels.http.telegram]\noutbound_url = "https://x"\nsecret = "{secret}"\n'
    )
    with pytest.raises(ConfigError, match="not one of telegram"):
        load_settings(bad, environ={})
    no_buttons = write(
        tmp_path,
        f'[channels.http.sms]\noutbound_url = "https://x"\nsecret = "{secret}"\n'
        "buttons_per_message = 0\n",
    )  # a platform without buttons: options go as numbered text
    assert load_settings(no_buttons, environ={}).channels.http["sms"].buttons_per_message == 0
    negative = write(
        tmp_path,
        f'[channels.http.sms]\noutbound_url = "https://x"\nsecret = "{secret}"\n'
        "buttons_per_message = -1\n",
    )
    with pytest.raises(ConfigError, match="0: options are sent as numbered text"):
        load_settings(negative, environ={})
    typo = write(tmp_path, '[channels.http.crm]\nurl = "https://x"\n')
    with pytest.raises(ConfigError, match=r"\[channels.http.crm\]: unknown key 'url'"):
        load_settings(typo, environ={})


def test_email_and_links_sections_are_checked_and_their_secrets_masked():
    on = {
        "OTKLIK__EMAIL__SMTP_URL": "smtps://mailer:p%40ss-word-1@smtp.example:2465",
        "OTKLIK__EMAIL__FROM_ADDRESS": "Shop <surveys@shop.example>",
        "OTKLIK__EMAIL__SUPPORT_ADDRESS": "help@shop.example",
        "OTKLIK__LINKS__SECRET": "x" * 40,
    }
    settings = load_settings(None, environ=on)
    server = settings.email.server()
    assert (server.host, server.port, server.tls, server.password) == (
        "smtp.example",
        2465,
        True,
        "p@ss-word-1",
    )
    assert {"p@ss-word-1", "x" * 40} <= set(settings.secrets())
    for key, value, problem in (
        ("OTKLIK__EMAIL__SMTP_URL", "http://smtp.example", "smtp_url: smtp://HOST"),
        ("OTKLIK__EMAIL__FROM_ADDRESS", "nobody", "from_address: an email address"),
        ("OTKLIK__EMAIL__DKIM_SELECTOR", "s1", "go together"),
        ("OTKLIK__LINKS__SECRET", "short", "[links] secret: at least 32"),
        ("OTKLIK__LINKS__BASE_URL", "https://bot.example/", "[links] base_url"),
        ("OTKLIK__LINKS__SCANNER_LINKS", "1", "scanner_links: at least 2"),
    ):
        with pytest.raises(ConfigError, match=re.escape(problem)):
            load_settings(None, environ={**on, key: value})
