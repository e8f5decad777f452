"""Bulk enrolment of a partner centre's cohort from a CSV (name, username, phone,
language). All or nothing: any bad row creates nobody and every problem is reported
with its line and field."""

import csv
import io
import re
from dataclasses import dataclass

from django.conf import settings
from django.conf.locale import LANG_INFO
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _

from marketplace.models import Membership, Organization, User, WorkerProfile
from marketplace.rows import RowError, RowErrors, csv_error, csv_records, decode_text
from marketplace.services import IssuedSetupCode, issue_setup_code, record_audit

REQUIRED_COLUMNS = ("name", "username", "phone", "language")
_PHONE = re.compile(r"^\+?[0-9]{6,15}$")
WORKER_LANGUAGES = sorted(
    code for code, info in LANG_INFO.items() if "-" not in code and "fallback" not in info
)


class EnrolmentError(RowErrors):
    pass


@dataclass(frozen=True)
class EnrolmentRow:
    line: int
    name: str
    username: str
    phone: str
    language: str


def parse_enrolment_csv(data: bytes) -> list[EnrolmentRow]:
    """Validate the whole file; raise EnrolmentError listing every bad row."""
    try:
        text = decode_text(data, max_bytes=settings.ENROLMENT_MAX_BYTES)
    except RowErrors as exc:
        raise EnrolmentError(exc.errors) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        fieldnames = reader.fieldnames
    except csv.Error as exc:
        raise EnrolmentError([csv_error(reader.reader.line_num or 1, exc)]) from None
    header = [(name or "").strip().lower() for name in (fieldnames or [])]
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise EnrolmentError(
            [
                RowError(1, column, _("The header has no %(column)s column.") % {"column": column})
                for column in missing
            ]
        )
    reader.fieldnames = header

    errors: list[RowError] = []
    rows: list[EnrolmentRow] = []
    first_line_of_username: dict[str, int] = {}
    username_validator = UnicodeUsernameValidator()
    for record in csv_records(reader, errors):
        line = reader.line_num
        if len(rows) >= settings.ENROLMENT_MAX_ROWS:
            errors.append(
                RowError(
                    line, "file", _("More than %(n)d rows.") % {"n": settings.ENROLMENT_MAX_ROWS}
                )
            )
            break
        if None in record:
            errors.append(RowError(line, "row", _("This row has more fields than the header.")))
            continue
        values = {key: (record.get(key) or "").strip() for key in REQUIRED_COLUMNS}
        if not any(values.values()):
            continue  # blank line
        if not values["name"]:
            errors.append(RowError(line, "name", _("A name is required.")))
        elif len(values["name"]) > 100:
            errors.append(RowError(line, "name", _("At most 100 characters.")))
        username = values["username"]
        if not username:
            errors.append(RowError(line, "username", _("A username is required.")))
        else:
            try:
                username_validator(username)
                if len(username) > 150:
                    raise ValidationError(_("At most 150 characters."))
            except ValidationError as exc:
                errors.append(RowError(line, "username", " ".join(exc.messages)))
            key = username.lower()
            if key in first_line_of_username:
                errors.append(
                    RowError(
                        line,
                        "username",
                        _("Username %(u)s already appears on line %(l)d.")
                        % {"u": username, "l": first_line_of_username[key]},
                    )
                )
            else:
                first_line_of_username[key] = line
        phone = re.sub(r"[\s().-]", "", values["phone"])
        if phone and not _PHONE.match(phone):
            errors.append(
                RowError(
                    line, "phone", _("Not a phone number: use digits, optionally starting with +.")
                )
            )
        language = values["language"].lower()
        if language not in WORKER_LANGUAGES:
            errors.append(
                RowError(
                    line,
                    "language",
                    _("Unknown language code %(code)r; use an ISO 639-1 code such as km or en.")
                    % {"code": values["language"]},
                )
            )
        rows.append(EnrolmentRow(line, values["name"], username, phone, language))

    # Usernames are unique case-insensitively in practice: "Dara" and "dara" would confuse people.
    taken = set(
        User.objects.annotate(username_lower=Lower("username"))
        .filter(username_lower__in=list(first_line_of_username))
        .values_list("username_lower", flat=True)
    )
    for row in rows:
        if row.username and row.username.lower() in taken:
            errors.append(
                RowError(row.line, "username", _("Username %(u)s is taken.") % {"u": row.username})
            )
    if not rows and not errors:
        errors.append(RowError(1, "file", _("The file has no rows.")))
    if errors:
        raise EnrolmentError(errors)
    return rows


def enrol_cohort(*, centre: Organization, coordinator: User, data: bytes) -> list[IssuedSetupCode]:
    """Create an invited worker per row, each with a one-time set-up code."""
    if (
        centre.kind != Organization.Kind.CENTRE
        or not Membership.objects.filter(
            organization=centre, user=coordinator, role=Membership.Role.COORDINATOR
        ).exists()
    ):
        raise PermissionDenied(_("Only a centre's coordinators may enrol its workers."))
    rows = parse_enrolment_csv(data)
    issued: list[IssuedSetupCode] = []
    now = timezone.now()
    try:
        with transaction.atomic():
            for row in rows:
                first, _sep, last = row.name.partition(" ")
                user = User(
                    username=row.username,
                    first_name=first[:150],
                    last_name=last[:150],
                    phone=row.phone,
                    preferred_language=row.language
                    if row.language in dict(settings.LANGUAGES)
                    else "en",
                )
                user.set_unusable_password()
                user.save()
                WorkerProfile.objects.create(
                    user=user,
                    display_name=row.name,
                    languages=[row.language],
                    centre=centre,
                    status=WorkerProfile.Status.INVITED,
                    status_changed_at=now,
                    enrolled_by=coordinator,
                )
                issued.append(issue_setup_code(user=user, created_by=coordinator))
            record_audit(
                actor=coordinator,
                action="centre.enrol",
                target=centre,
                data={"usernames": [row.username for row in rows]},
            )
    except IntegrityError:
        # A username taken between validation and insert: nothing was created.
        raise EnrolmentError(
            [
                RowError(
                    0,
                    "username",
                    _("A username was taken while enrolling; nobody was created. Try again."),
                )
            ]
        ) from None
    return issued
