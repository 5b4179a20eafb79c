"""The partnerkpi config file (YAML): load, validate, report every problem at once.

Found at ``--config PATH``, else ``$PARTNERKPI_CONFIG``, else ``./partnerkpi.yaml``. Relative
paths inside it are relative to the file. Secrets are never written in it: settings name the
environment variables that hold them. ``config.example.yaml`` documents every setting.

Commands that reach a CRM (``sync``, ``run``) also check, before any request, that every secret
the sources will read can be read (:func:`jobs.secrets.secret_problems`): an unset
variable or an unreadable secrets file is reported with the schema's problems, one line each.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from connectors import registry
from connectors.base import WritebackTarget
from connectors.errors import ConfigError
from jobs.secrets import secret_problems
from jobs.spark_compute import SparkSection
from kpi_engine.calendar import reporting_zone
from kpi_engine.credit import AttributionSettings
from kpi_engine.kpis import KPI_NAMES
from kpi_engine.partner_status import STATUS_FIELDS
from kpi_engine.periods import reporting_today
from kpi_engine.settings import (
    KpiSettings,
    QualityScoreSettings,
    check_channels,
    check_optional_timezone,
)
from kpi_engine.store import DEFAULT_MEMORY_LIMIT, MEMORY_LIMIT_PATTERN, Store
from kpi_engine.target_settings import TargetSettings, TierSettings

DEFAULT_CONFIG = "partnerkpi.yaml"
CONFIG_ENV = "PARTNERKPI_CONFIG"


class KpisSection(BaseModel):
    """``kpis:``: fiscal year, channel map, quality score (see :class:`KpiSettings`)."""

    model_config = ConfigDict(extra="forbid")

    fiscal_year_start_month: int = Field(default=1, ge=1, le=12)
    channels: dict[str, list[str]] = Field(default_factory=dict)
    quality_score: QualityScoreSettings = Field(default_factory=QualityScoreSettings)

    # the engine's own check of the channel map, run when the config is read
    _check_channels = field_validator("channels")(check_channels)


class DuckDbSection(BaseModel):
    """``duckdb:``: how much memory the store's DuckDB may use and where it spills beyond it."""

    model_config = ConfigDict(extra="forbid")

    memory_limit: str = Field(default=DEFAULT_MEMORY_LIMIT, pattern=MEMORY_LIMIT_PATTERN)
    temp_directory: Path | None = None


class NotifySection(BaseModel):
    """``notify:``: the webhook ``run`` posts to when it ends in one of ``on`` (:mod:`jobs.notify`).

    Attributes:
        url_env: the environment variable holding the webhook URL (a secret: never in the file).
        on: the run statuses that post: any of ``failed``, ``partial``, ``locked``, ``ok``.
        timeout_s: seconds to wait for the receiver.
    """

    model_config = ConfigDict(extra="forbid")

    url_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    on: list[Literal["failed", "partial", "locked", "ok"]] = ["failed", "partial"]
    timeout_s: float = Field(default=10.0, gt=0)


class PublishSection(BaseModel):
    """``publish:``: the read-only copy of the store that BI tools read (:mod:`kpi_engine.publish`).

    Attributes:
        enabled: publish after every ``run`` and ``compute`` that committed a compute.
        database: the copy (default: ``<store>.published.duckdb`` beside the store; relative to
            the config file).
        parquet: a folder for one Parquet file per BI view (default: none).
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    database: Path | None = None
    parquet: Path | None = None


class _Sections(BaseModel):
    """What ``sources:`` and ``writeback:`` share: one optional entry per source."""

    model_config = ConfigDict(extra="forbid")

    def get(self, name: str) -> Any:
        """The entry of source ``name`` (None when not configured)."""
        return getattr(self, name, None)

    def names(self) -> list[str]:
        """The configured entries, in registry (sync / push) order."""
        return [name for name in type(self).model_fields if getattr(self, name) is not None]


class _WritebackSections(_Sections):
    def targets(self) -> list[str]:
        """The CRMs configured for write-back, in push order."""
        return self.names()

    @field_validator("*")
    @classmethod
    def _kpis_known(cls, value: WritebackTarget | None) -> WritebackTarget | None:
        # <category>_won_amount (the partner credit) is checked against attribution.categories
        # by AppConfig
        known = (*KPI_NAMES, *STATUS_FIELDS)
        unknown = [k for k in (value.fields if value is not None else {})
                   if k not in known and not k.endswith("_won_amount")]
        if unknown:
            msg = f"fields: unknown KPI {unknown[0]!r} (one of: {', '.join(known)})"
            raise ValueError(msg)
        return value


if TYPE_CHECKING:  # the type checker sees the base classes; pydantic the models built below
    SourcesSection = _Sections
    WritebackSection = _WritebackSections
else:
    #: ``sources:``: one entry per source of the registry (:mod:`connectors.registry`).
    SourcesSection = create_model(
        "SourcesSection",
        __base__=_Sections,
        __doc__="``sources:``: one entry per configured source.",
        **{a.name: (a.settings | None, None) for a in registry.ADAPTERS},
    )
    #: ``writeback:``: one entry per CRM to write KPIs into (none: nothing is pushed).
    WritebackSection = create_model(
        "WritebackSection",
        __base__=_WritebackSections,
        __doc__="``writeback:``: one entry per CRM to write KPIs into (none: nothing is pushed).",
        **{a.name: (a.writeback | None, None) for a in registry.ADAPTERS if a.writeback},
    )


class AppConfig(BaseModel):
    """The whole config.

    Attributes:
        database: the DuckDB file (relative to the config file).
        reporting_currency: ISO code every amount KPI is expressed in.
        reporting_timezone: IANA time zone every calendar bucketing uses (created, closed,
            stage entered) and whose date is "today": which period is the latest complete one,
            and the default ``--as-of`` of a compute. Unset: the zone the sources keep (the
            HubSpot portal's, recorded by its sync), else UTC (:mod:`kpi_engine.calendar`).
        duckdb: DuckDB's memory limit and spill directory (relative to the config file).
        notify: the webhook of ``run`` (None: no notification).
        publish: the read-only copy of the store for readers (:meth:`published_database`).
        targets: the target file and the attainment written back (None: CRM targets only).
        tiers: the partner tiers (None: no tier status).
        engine: where ``compute`` runs the KPI SQL by default: ``duckdb`` (the store) or
            ``spark`` (``spark:``; ``run`` always computes in the store).
        spark: the Spark application, its input and output (None: not configured).
    """

    model_config = ConfigDict(extra="forbid")

    database: Path = Path("partnerkpi.duckdb")
    reporting_currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    reporting_timezone: str | None = None
    sources: SourcesSection = Field(default_factory=SourcesSection)
    kpis: KpisSection = Field(default_factory=KpisSection)
    attribution: AttributionSettings = Field(default_factory=AttributionSettings)
    writeback: WritebackSection = Field(default_factory=WritebackSection)
    duckdb: DuckDbSection = Field(default_factory=DuckDbSection)
    notify: NotifySection | None = None
    publish: PublishSection = Field(default_factory=PublishSection)
    targets: TargetSettings | None = None
    tiers: TierSettings | None = None
    engine: Literal["duckdb", "spark"] = "duckdb"
    spark: SparkSection | None = None
    path: Path | None = Field(default=None, exclude=True)

    _check_timezone = field_validator("reporting_timezone")(check_optional_timezone)

    @model_validator(mode="after")
    def _credit_fields_known(self) -> AppConfig:
        credit = self.attribution.writeback_fields()
        for name in self.writeback.targets():
            target = self.writeback.get(name)
            known = (*KPI_NAMES, *STATUS_FIELDS, *credit)
            unknown = [k for k in target.fields if k not in known]
            if unknown:
                msg = (f"writeback.{name}.fields: unknown KPI {unknown[0]!r} (one of: "
                       f"{', '.join(known)})")
                raise ValueError(msg)
        return self

    @field_validator("database")
    @classmethod
    def _database_path(cls, value: Path, info: ValidationInfo) -> Path:
        base = (info.context or {}).get("base_dir")
        return value if value.is_absolute() or base is None else Path(base) / value

    @field_validator("duckdb")
    @classmethod
    def _temp_directory_path(cls, value: DuckDbSection, info: ValidationInfo) -> DuckDbSection:
        base = (info.context or {}).get("base_dir")
        temp = value.temp_directory
        if temp is not None and not temp.is_absolute() and base is not None:
            value.temp_directory = Path(base) / temp
        return value

    @field_validator("publish")
    @classmethod
    def _publish_paths(cls, value: PublishSection, info: ValidationInfo) -> PublishSection:
        base = (info.context or {}).get("base_dir")
        for name in ("database", "parquet"):
            path = getattr(value, name)
            if path is not None and not path.is_absolute() and base is not None:
                setattr(value, name, Path(base) / path)
        return value

    @model_validator(mode="after")
    def _publish_elsewhere(self) -> AppConfig:
        copy = self.published_database()
        if copy is not None and copy.absolute() == self.database.absolute():
            msg = "publish.database is the store itself (database): name another file"
            raise ValueError(msg)
        return self

    def published_database(self) -> Path | None:
        """The published copy of the store (None: ``publish.enabled`` is false); default
        ``<store stem>.published.duckdb`` beside the store."""
        if not self.publish.enabled:
            return None
        return self.publish.database or self.database.with_name(
            f"{self.database.stem}.published.duckdb")

    @field_validator("targets")
    @classmethod
    def _targets_path(cls, value: TargetSettings | None,
                      info: ValidationInfo) -> TargetSettings | None:
        base = (info.context or {}).get("base_dir")
        if value is not None and value.file is not None and not value.file.is_absolute() \
                and base is not None:
            value.file = Path(base) / value.file
        return value

    def kpi_settings(self) -> KpiSettings:
        """The KPI engine's settings from this config."""
        return KpiSettings(
            reporting_currency=self.reporting_currency,
            reporting_timezone=self.reporting_timezone,
            fiscal_year_start_month=self.kpis.fiscal_year_start_month,
            channels=self.kpis.channels,
            quality_score=self.kpis.quality_score,
            targets=self.targets,
            tiers=self.tiers,
            attribution=self.attribution,
        )

    def today(self, store: Store | None = None) -> date:
        """Today's date in the reporting time zone (the period rule's "today"): the configured
        one, else the sources' own recorded in ``store`` (UTC without a store)."""
        zone = reporting_zone(store, self.reporting_timezone) if store is not None else None
        return reporting_today(zone or self.reporting_timezone or "UTC")

    def source_names(self) -> list[str]:
        """Names of the configured sources, in sync order."""
        return self.sources.names()

    def source(self, name: str) -> Any:
        """The settings of source ``name`` (``sources.<name>``), None when not configured."""
        return self.sources.get(name)

    def writeback_target(self, name: str) -> WritebackTarget | None:
        """``writeback.<name>``, None when not configured."""
        return self.writeback.get(name)


def _problems(error: ValidationError) -> list[str]:
    lines = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "config"
        text = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            text = "unknown setting (check the spelling against config.example.yaml)"
        lines.append(f"{where}: {text}")
    return lines


def find_config(path: str | Path | None = None) -> Path:
    """The config file to use: ``path``, else ``$PARTNERKPI_CONFIG``, else ``./partnerkpi.yaml``.

    Raises:
        ConfigError: the file does not exist.
    """
    chosen = Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)
    if not chosen.is_file():
        msg = (f"no config file at {chosen}: copy config.example.yaml to partnerkpi.yaml, "
               f"pass --config PATH or set {CONFIG_ENV}")
        raise ConfigError(msg)
    return chosen


def _settings_without_errors(
    model: type[BaseModel], raw: Mapping[str, Any], context: dict[str, Any],
) -> Any:
    """A source's settings with its invalid keys dropped (their defaults instead), so that its
    secrets can be checked alongside its schema errors; None when it still does not validate."""
    data = dict(raw)
    while True:
        try:
            return model.model_validate(data, context=context)
        except ValidationError as exc:
            bad = {e["loc"][0] for e in exc.errors() if e["loc"]} & data.keys()
            if not bad:
                return None
            for key in bad:
                del data[str(key)]


def _secrets_problems(
    data: Mapping[str, Any], config: AppConfig | None, sources: Sequence[str] | None,
    context: dict[str, Any],
) -> list[str]:
    raw_sources = data.get("sources")
    if not isinstance(raw_sources, Mapping):
        return []
    checked = []
    for adapter in registry.ADAPTERS:
        if not adapter.secrets:
            continue
        name, model = adapter.name, adapter.settings
        raw = raw_sources.get(name)
        if (sources is not None and name not in sources) or not isinstance(raw, Mapping):
            continue
        settings = (getattr(config.sources, name) if config is not None
                    else _settings_without_errors(model, raw, context))
        if settings is not None:
            checked.append((f"sources.{name}", settings.secret_settings(), settings.secrets_file))
    return secret_problems(checked)


def load_config(
    path: str | Path | None = None, *, check_secrets: bool = False,
    sources: Sequence[str] | None = None, offline: bool = False,
) -> AppConfig:
    """Read and validate the config.

    Args:
        path: the file; see :func:`find_config` for the default.
        check_secrets: also check that every secret of the CRM sources can be read (variables
            set, secrets file readable), reporting those problems with the schema's.
        sources: the sources whose secrets are checked (default: every configured one).
        offline: for a command that reads only the store (``compute``, ``export``, ``report``,
            ``status``, ``health``): the sources' files (CA bundle, private key, secrets file,
            CSV paths) are resolved but not required to exist. The rest is checked as always.

    Returns:
        The validated config, paths resolved against the file's folder.

    Raises:
        ConfigError: unreadable YAML or invalid settings; ``problems`` lists each one.
    """
    file = find_config(path)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:
        msg = (f"{file}: byte 0x{exc.object[exc.start]:02x} at offset {exc.start} is not UTF-8; "
               "save the config as UTF-8")
        raise ConfigError(msg) from None
    except (OSError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0]
        msg = f"{file}: cannot read the config ({first})"
        raise ConfigError(msg) from None
    if not isinstance(data, dict):
        msg = f"{file}: the config must be a mapping of settings"
        raise ConfigError(msg)
    context = {"base_dir": file.resolve().parent, "offline": offline}
    config: AppConfig | None = None
    try:
        config = AppConfig.model_validate(data, context=context)
        problems = []
    except ValidationError as exc:
        problems = _problems(exc)
    if check_secrets:
        problems += _secrets_problems(data, config, sources, context)
    if problems or config is None:
        raise ConfigError([f"{file}: {line}" for line in problems])
    config.path = file
    return config
