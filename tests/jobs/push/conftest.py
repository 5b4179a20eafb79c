"""Fixtures of the write-back tests: the Maven sandbox, a synced template store, its configs
(defined in ``tests/helpers/writeback.py``)."""

from tests.helpers.writeback import (
    config_file,
    fresh_crm_fields,
    maven,
    store_path,
    template_store,
    wb_env,
)

__all__ = ["config_file", "fresh_crm_fields", "maven", "store_path", "template_store", "wb_env"]
