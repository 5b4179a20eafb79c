"""config.example.yaml documents every HubSpot setting, and its block is a valid config."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from connectors.hubspot.settings import HubSpotSettings, PartnerRule

ROOT = Path(__file__).resolve().parents[3]


def hubspot_block() -> str:
    text = (ROOT / "config.example.yaml").read_text(encoding="utf-8")
    block = text.split("# >>> hubspot", 1)[1].split("# <<< hubspot", 1)[0]
    start = block.index("  # hubspot:")
    # uncomment one level: "  # key: v" -> "  key: v"; "  #   # note" stays a comment
    return "\n".join(re.sub(r"^  # ?", "  ", line) for line in block[start:].splitlines())


def test_example_block_is_a_valid_hubspot_config() -> None:
    data = yaml.safe_load(hubspot_block())
    settings = HubSpotSettings.model_validate(data["hubspot"])
    assert settings == HubSpotSettings()  # the documented values are the defaults


def test_every_setting_is_documented() -> None:
    block = hubspot_block()
    for name in [*HubSpotSettings.model_fields, *PartnerRule.model_fields]:
        assert re.search(rf"^\s*(# )?{name}:", block, re.MULTILINE), name
