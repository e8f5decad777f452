"""The partner-centre rail's files. Per run and centre: a CSV of the lines the
centre pays (line id, the worker's centre reference, mobile-money number if any,
amount, currency) and a manifest in `sha256sum` format, kept in default_storage for
the centre's coordinators and staff. The centre sends back a return file
(line_id,status,reference) that is validated whole before anything is applied."""

import csv
import hashlib
import io
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from marketplace import csvsafe
from marketplace.models import Organization, User
from payouts.currency import plain_amount
from payouts.models import PartnerBatch, PayoutDestination, PayoutLine, PayoutRun
from payouts.runs import mark_line_failed, mark_line_paid

CSV_HEADER = ["line_id", "centre_reference", "worker", "mobile_money_number", "amount", "currency"]
RETURN_HEADER = ["line_id", "status", "reference"]
MAX_RETURN_BYTES = 2_000_000


def write_batches(*, run: PayoutRun) -> list[PartnerBatch]:
    """One file per centre with lines in the run; written once (a re-run of the
    same run keeps the first file, which the centre may already hold)."""
    lines = (
        PayoutLine.objects.filter(
            run=run, rail=PayoutDestination.Rail.PARTNER_CENTRE, destination_centre__isnull=False
        )
        .exclude(status=PayoutLine.Status.PENDING)
        .select_related("worker", "destination_centre")
        .order_by("destination_centre_id", "pk")
    )
    by_centre: dict[int, list[PayoutLine]] = {}
    for line in lines:
        by_centre.setdefault(line.destination_centre_id, []).append(line)
    batches = []
    for centre_id, centre_lines in by_centre.items():
        existing = PartnerBatch.objects.filter(run=run, centre_id=centre_id).first()
        if existing:
            batches.append(existing)
            continue
        centre = centre_lines[0].destination_centre
        buffer = io.StringIO()
        writer = csvsafe.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for line in centre_lines:
            writer.writerow(
                [
                    line.pk,
                    line.destination_reference or line.worker.username,
                    line.worker.username,
                    line.destination_mobile_money,
                    plain_amount(line.amount_minor, line.currency),
                    line.currency,
                ]
            )
        data = buffer.getvalue().encode()
        digest = hashlib.sha256(data).hexdigest()
        base = f"payouts/partner/run-{run.pk}-{centre.slug}"
        csv_name = default_storage.save(f"{base}.csv", ContentFile(data))
        manifest = f"{digest}  {csv_name.rsplit('/', 1)[-1]}\n".encode()
        manifest_name = default_storage.save(f"{base}.csv.sha256", ContentFile(manifest))
        batch, _created = PartnerBatch.objects.get_or_create(
            run=run,
            centre=centre,
            defaults={
                "csv_name": csv_name,
                "manifest_name": manifest_name,
                "sha256": digest,
                "line_count": len(centre_lines),
                "total_minor": sum(line.amount_minor for line in centre_lines),
            },
        )
        batches.append(batch)
    return batches


def can_handle(user: User, centre: Organization) -> bool:
    return user.is_staff or centre.memberships.filter(user=user, role="coordinator").exists()


@dataclass(frozen=True)
class RowError:
    line: int  # line of the file, the header being line 1
    field: str
    message: str

    def __str__(self) -> str:
        return _("Line %(line)d, %(field)s: %(message)s") % {
            "line": self.line,
            "field": self.field,
            "message": self.message,
        }


class ReturnFileRejected(ValidationError):
    def __init__(self, errors: list[RowError]):
        self.row_errors = errors
        super().__init__([str(error) for error in errors])


def _parse_return(data: bytes, batch: PartnerBatch) -> list[tuple[int, str, str]]:
    errors: list[RowError] = []
    if len(data) > MAX_RETURN_BYTES:
        raise ReturnFileRejected([RowError(1, "file", _("The file is too large."))])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ReturnFileRejected([RowError(1, "file", _("The file is not UTF-8 text."))]) from None
    reader = csv.reader(io.StringIO(text))
    header = [cell.strip().lower() for cell in next(reader, [])]
    if header != RETURN_HEADER:
        raise ReturnFileRejected(
            [
                RowError(
                    1,
                    "header",
                    _("The first line must be: %(h)s.") % {"h": ",".join(RETURN_HEADER)},
                )
            ]
        )
    lines = {
        line.pk: line
        for line in PayoutLine.objects.filter(run=batch.run, destination_centre=batch.centre)
    }
    rows, seen = [], set()
    for number, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(RETURN_HEADER):
            errors.append(RowError(number, "row", _("Expected 3 columns.")))
            continue
        raw_id, status, reference = (cell.strip() for cell in row)
        if not raw_id.isdigit() or int(raw_id) not in lines:
            errors.append(
                RowError(number, "line_id", _("Not a line of this file: %(v)s.") % {"v": raw_id})
            )
            continue
        line_id = int(raw_id)
        if line_id in seen:
            errors.append(
                RowError(number, "line_id", _("Line %(v)s appears twice.") % {"v": raw_id})
            )
            continue
        seen.add(line_id)
        if status not in ("paid", "failed"):
            errors.append(RowError(number, "status", _("Must be paid or failed.")))
            continue
        current = lines[line_id].status
        if current in (PayoutLine.Status.PAID, PayoutLine.Status.FAILED) and current != status:
            errors.append(
                RowError(number, "status", _("Line already settled as %(s)s.") % {"s": current})
            )
            continue
        if len(reference) > 100:
            errors.append(RowError(number, "reference", _("At most 100 characters.")))
            continue
        rows.append((line_id, status, reference))
    if errors:
        raise ReturnFileRejected(errors)
    if not rows:
        raise ReturnFileRejected([RowError(2, "file", _("The file has no lines."))])
    return rows


def import_return_file(*, batch_id: int, data: bytes, actor: User) -> dict[str, int]:
    """Mark the batch's lines paid or failed: all of them or, if any row is bad,
    none (ReturnFileRejected names each bad row and field)."""
    with transaction.atomic():
        batch = (
            PartnerBatch.objects.select_for_update()
            .select_related("run", "centre")
            .get(pk=batch_id)
        )
        if not can_handle(actor, batch.centre):
            raise ValidationError(_("Only the centre's coordinators and staff may do this."))
        rows = _parse_return(data, batch)
        counts = {"paid": 0, "failed": 0}
        for line_id, status, reference in rows:
            if status == "paid":
                mark_line_paid(line_id=line_id, reference=reference)
            else:
                mark_line_failed(line_id=line_id, reason=reference or _("not paid by the centre"))
            counts[status] += 1
        batch.returned_at = timezone.now()
        batch.returned_by = actor
        batch.save(update_fields=["returned_at", "returned_by"])
    return counts
