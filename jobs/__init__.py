"""partnerkpi's jobs: what a command does end to end.

Load and check the config (:mod:`jobs.config`), sync every configured source
(:mod:`jobs.sync`), push KPIs and run the scheduled job (:mod:`jobs.run`), the demo
(:mod:`jobs.demo`). ``cli.py`` imports this package; nothing in ``connectors`` or
``kpi_engine`` does.
"""
