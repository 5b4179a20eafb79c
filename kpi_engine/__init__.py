"""partnerkpi's engine: the DuckDB store, the partner KPI SQL and the exports.

It reads canonical tables only and never imports a CRM connector.
"""
