"""The run webhook: after ``partnerkpi run`` ends ``failed``, ``partial`` or ``locked`` (the
statuses listed in ``notify.on``), POST one JSON message to the URL in the environment variable
``notify.url_env`` names.

The body is a Slack incoming webhook message (``text``: one line; Slack and Slack-compatible
receivers such as Mattermost, Rocket.Chat or Microsoft Teams workflows show it) plus the run's
facts under ``partnerkpi`` for any other receiver. Slack's format:
https://api.slack.com/messaging/webhooks. The URL is a secret (whoever has it can post): it is
never printed, logged or stored; an error names the setting, not the URL.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import requests

if TYPE_CHECKING:
    from jobs.config import NotifySection
    from jobs.run import RunSummary


def payload(summary: RunSummary) -> dict[str, Any]:
    """The webhook body of a run.

    Returns:
        ``{"text": one line, "partnerkpi": {"run_ids": {source: sync run id}, "status",
        "exit_code", "step", "error", "started_at", "finished_at" (ISO 8601, UTC),
        "duration_s" (seconds), "counts": {source: {stream: {inserted, updated, unchanged,
        deleted, rejected}}}, "push": {crm: {status, records_written, records_failed}}}}``.
    """
    keys = ("inserted", "updated", "unchanged", "deleted", "rejected")
    counts = {r["source"]: {n: {k: c.get(k, 0) for k in keys} for n, c in r["counts"].items()}
              for r in summary.sync_runs}
    pushes = {p.source: {"status": p.status, "records_written": p.records_written,
                         "records_failed": p.records_failed} for p in summary.pushes}
    run_ids = {r["source"]: r["run_id"] for r in summary.sync_runs}
    ids = ", ".join(f"{s} {i}" for s, i in run_ids.items())
    text = f"partnerkpi run {summary.status}"
    if summary.error:
        text += f" at {summary.step}: {summary.error}"
    failed = sum(p.records_failed for p in summary.pushes)
    if failed:
        text += f"; {failed} record{'' if failed == 1 else 's'} not written"
    if summary.duration_s is not None:
        text += f" ({summary.duration_s:.1f} s"
        text += f"; sync runs {ids})" if ids else ")"
    return {"text": text, "partnerkpi": {
        "run_ids": run_ids, "status": summary.status, "exit_code": summary.exit_code,
        "step": summary.step, "error": summary.error,
        "started_at": summary.started_at.isoformat() if summary.started_at else None,
        "finished_at": summary.finished_at.isoformat() if summary.finished_at else None,
        "duration_s": summary.duration_s, "counts": counts, "push": pushes,
    }}


def notify(settings: NotifySection, summary: RunSummary) -> str | None:
    """POST :func:`payload` when the run's status is in ``settings.on``.

    Args:
        settings: ``notify:`` of the config.
        summary: the ended run.

    Returns:
        None when sent (or not due); else a one-line problem (an unset variable, a refused
        or failed POST), never the URL. A failed notification never changes the run's status.
    """
    if summary.status not in settings.on:
        return None
    url = os.environ.get(settings.url_env)
    if not url:
        return f"notify.url_env: the environment variable {settings.url_env} is not set"
    try:
        response = requests.post(url, json=payload(summary), timeout=settings.timeout_s)
    except requests.RequestException as exc:
        return f"notify: the webhook POST failed ({type(exc).__name__}; URL in {settings.url_env})"
    if response.status_code >= 300:
        return (f"notify: the webhook answered HTTP {response.status_code} "
                f"(URL in {settings.url_env})")
    return None
