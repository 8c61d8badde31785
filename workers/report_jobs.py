"""The `report-email` job (issue #18 item 1): a report (the master report for large datasets) of a date range,
emailed through the SMTP mailer's server as a CSV attachment - or, above ATTACH_LIMIT bytes, as a link to the
streamed download. Requested by `POST /api/v1/reports/{slug}/email`; runs in the scheduler like every job (retries,
run history). The CSV is spooled to a temporary file, never held whole in memory."""

from __future__ import annotations

import os
import smtplib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import urlencode

import structlog

from adapters.mailer import MailRefused, SmtpMailer
from api.routes.reports import EMAIL_JOB, READ, ReportFilters, report_request
from domain.identity.application import Identity
from domain.jobs.application import JobDefinition
from domain.jobs.job import BatchCounts, JobRun, JobSettings
from projections.report_catalogue import CATALOGUE
from projections.reports import ReportQueries, find

log = structlog.get_logger(__name__)

ATTACH_LIMIT = 10 * 1024 * 1024  # bytes of CSV sent as an attachment; a larger report goes as a link

DEFINITION = JobDefinition(
    name=EMAIL_JOB,
    title="Email a report",
    description="Builds a report (the master report by default) of a date range as CSV and emails it: attached up "
    "to 10 MiB, otherwise a link to the download. Requested from the reports page or the API.",
    defaults=JobSettings(cron=None, batch_size=1, retry_count=2, retry_interval_seconds=60),
    variable_keys=frozenset({"as_of", "slug", "to", "from", "to_date"}),
    required_variables=frozenset({"to", "from", "to_date"}),
    scheduled=False,
    run_needs=READ,  # what POST /api/v1/reports/{slug}/email needs: JOBS WRITE alone mailed any report anywhere
)


@dataclass(frozen=True)
class ReportJobPort:
    """What the job uses (filled by type)."""

    queries: ReportQueries
    identity: Identity
    mailer: SmtpMailer


def run(port: ReportJobPort, job_run: JobRun) -> Iterator[tuple[BatchCounts, str | None]]:
    """Build the CSV, then send one email; one batch of one."""
    v = job_run.settings.variables
    report = find(CATALOGUE, v.get("slug", "master-report"))
    start, end = date.fromisoformat(v["from"]), date.fromisoformat(v["to_date"])
    filters = ReportFilters.model_validate({"from": start, "to": end})
    request = report_request(port.identity, job_run.brand_id, filters)
    name = f"{report.slug}-{start.isoformat()}-{end.isoformat()}.csv"
    with tempfile.SpooledTemporaryFile(max_size=1024 * 1024) as spool:
        size = 0
        for chunk in port.queries.csv(report, request):
            spool.write(chunk)
            size += len(chunk)
        spool.seek(0)
        message = EmailMessage()
        message["From"] = port.mailer.settings.sender
        message["To"] = v["to"]
        message["Subject"] = f"{report.title}: {start.isoformat()} to {end.isoformat()}"
        message["Date"] = formatdate(usegmt=True)
        # One id per run, whichever attempt sends it: a retry after a worker died once the server had taken the email
        # sends it again (at least once), and the copy is the same message to a mail client that drops repeats.
        message["Message-ID"] = f"<report-{job_run.id}@covenant-desk>"
        link = f"{os.environ.get('PUBLIC_BASE_URL', 'http://127.0.0.1:8000')}/api/v1/reports/{report.slug}.csv?" + (
            urlencode({"from": start.isoformat(), "to": end.isoformat()})
        )
        if size <= ATTACH_LIMIT:
            message.set_content(f"{report.title} from {start} to {end} is attached ({name}).\n\n{report.definition}\n")
            # The bytes of the download, base64: attached as text, the mail library re-ended every line (a cell's
            # lone CR arrived as CRLF) and re-encoded the rest, so the file was not the one the download gives.
            message.add_attachment(
                spool.read(), maintype="text", subtype="csv", filename=name, params={"charset": "utf-8"}
            )
        else:
            message.set_content(
                f"{report.title} from {start} to {end} is {size} bytes, too large to attach: download it (signed "
                f"in, with MASTER_REPORTS) at\n{link}\n\n{report.definition}\n"
            )
    _send(port.mailer, v["to"], message)
    log.info(
        "report.emailed", slug=report.slug, brand_id=str(job_run.brand_id), bytes=size, attached=size <= ATTACH_LIMIT
    )
    yield BatchCounts(processed=1, succeeded=1), None


def _send(mailer: SmtpMailer, to: str, message: EmailMessage) -> None:
    """One email through the mailer's SMTP server (its host, port, TLS and login)."""
    s = mailer.settings
    with smtplib.SMTP(s.host, s.port, timeout=60) as conn:
        if s.starttls:
            conn.starttls()
        if s.user:
            conn.login(s.user, s.password or "")
        refused = conn.send_message(message, s.sender, [to])
    if refused:
        raise MailRefused(str(refused))
