"""config.example.yaml documents every CSV setting and the reporting time zone."""

from __future__ import annotations

import re

from connectors.csv_export.settings import CsvSettings
from jobs.config import AppConfig
from tests.helpers.maven import ROOT

TEXT = (ROOT / "config.example.yaml").read_text(encoding="utf-8")


def test_config_example_documents_every_csv_setting() -> None:
    block = TEXT.split("  csv:", 1)[1].split("# >>> salesforce", 1)[0]
    for name in CsvSettings.model_fields:
        assert re.search(rf"^\s*(# )?{name}:", block, re.MULTILINE), name


def test_config_example_documents_the_top_level_settings() -> None:
    for name in AppConfig.model_fields:
        if name != "path":  # the config file itself, not a setting
            assert re.search(rf"^(# )?{name}:", TEXT, re.MULTILINE), name
