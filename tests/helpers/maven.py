"""The shipped fixtures' paths, the Maven data set's CSV config, a config writer."""

from __future__ import annotations

import csv
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
MAVEN = FIXTURES / "maven"

MAVEN_DEALS_COLUMNS = {
    "deal_id": "opportunity_id", "owner_id": "sales_agent", "account_name": "account",
    "stage": "deal_stage", "created_at": "engage_date", "close_date": "close_date",
    "amount": "close_value",
}


def maven_config(database: Path, deals: Path = MAVEN / "sales_pipeline.csv") -> dict:
    """The issue's example config for the Maven data set, as a dict."""
    return {
        "database": str(database),
        "reporting_currency": "USD",
        # one calendar for every store compared with this config: UTC, the CSV export's dates
        # (unset, a HubSpot store would report in its portal's zone)
        "reporting_timezone": "UTC",
        "sources": {"csv": {
            "currency": "USD",
            "deals": {"path": str(deals), "columns": dict(MAVEN_DEALS_COLUMNS),
                      "won_stages": ["Won"], "lost_stages": ["Lost"]},
            "owners": {"path": str(MAVEN / "sales_teams.csv"),
                       "columns": {"owner_id": "sales_agent", "name": "sales_agent",
                                   "team": "manager", "unit": "regional_office"}},
            "stage_probability": {"Prospecting": 0.1, "Engaging": 0.4, "Won": 1.0, "Lost": 0.0},
        }},
        "kpis": {
            "fiscal_year_start_month": 1,
            "channels": {"paid": ["PAID_SEARCH", "PAID_SOCIAL"],
                         "owned": ["EMAIL_MARKETING", "DIRECT_TRAFFIC", "ORGANIC_SOCIAL"],
                         "earned": ["ORGANIC_SEARCH", "REFERRALS"],
                         "partner": ["Partner", "Partner Referral"]},
            "quality_score": {"min_closed_deals": 5,
                              "weights": {"won_amount": 0.5, "deals_won": 0.5}},
        },
    }


def maven_pipeline_with_created_dates(target: Path) -> Path:
    """sales_pipeline.csv with each blank engage_date set to 2016-10-20: a CRM always has a
    created date, and the CRM sandbox dates the data set's 500 undated deals that day."""
    with (MAVEN / "sales_pipeline.csv").open(newline="", encoding="utf-8") as src:
        reader = csv.DictReader(src)
        rows = [{**r, "engage_date": r["engage_date"] or "2016-10-20"} for r in reader]
        header = reader.fieldnames or []
    with target.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, header)
        writer.writeheader()
        writer.writerows(rows)
    return target


def write_config(path: Path, data: dict) -> Path:
    """Write a config dict as YAML and return its path."""
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path
