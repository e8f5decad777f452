"""Task uploads from CSV or JSON Lines. All or nothing: a file with any bad row
creates no task, and every problem is reported by line and field (the first 100).

CSV columns: external_id (required), text (the payload), gold (true/false, optional),
gold_answer, gold_explanation; any other column is kept as task metadata.
Multi-label answers in CSV separate labels with "|". JSON Lines: one object per line
with the same keys; gold_answer for multilabel is a list, metadata an object.
ZIP: images plus manifest.csv at the top level, whose `image` column names each
task's image inside the archive (text is then optional)."""

import csv
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils.translation import gettext as _

from marketplace.models import User
from marketplace.rows import (
    RowError,
    RowErrors,
    csv_error,
    csv_records,
    decode_text,
    nul_message,
    require_size,
)
from marketplace.services import record_audit
from tasks.images import ImageRejected, ProcessedImage, process_image
from tasks.models import Task, TaskSet
from tasks.services import require_member

MANIFEST = "manifest.csv"

KNOWN_FIELDS = {"external_id", "text", "gold", "gold_answer", "gold_explanation", "metadata"}
_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n", ""}


@dataclass
class TaskRow:
    line: int
    external_id: str
    text: str
    is_gold: bool
    gold_answer: object
    gold_explanation: str
    metadata: dict = field(default_factory=dict)
    image_name: str = ""  # stored original, in default_storage
    derivative_name: str = ""


def _rows_from_csv(text: str, errors: list[RowError]):
    # Strict: a quote left open is an error (at the end of the file) instead of the rest
    # of the file silently becoming one field; and a stray quote inside a field too.
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        fieldnames = reader.fieldnames
    except csv.Error as exc:
        errors.append(csv_error(reader.reader.line_num or 1, exc))
        return
    header = [(name or "").strip() for name in (fieldnames or [])]
    if "external_id" not in header:
        errors.append(RowError(1, "external_id", _("The header has no external_id column.")))
        return
    reader.fieldnames = header
    for record in csv_records(reader, errors):
        if None in record:
            errors.append(
                RowError(reader.line_num, "row", _("This row has more fields than the header."))
            )
            continue
        values = {key: (value or "").strip() for key, value in record.items()}
        if not any(values.values()):
            continue
        gold_raw = values.pop("gold", "").lower()
        if gold_raw not in _TRUE | _FALSE:
            errors.append(RowError(reader.line_num, "gold", _("Use true or false.")))
            continue
        answer = values.pop("gold_answer", "")
        yield (
            reader.line_num,
            {
                "external_id": values.pop("external_id", ""),
                "text": values.pop("text", ""),
                # A gold column left empty means: gold exactly when an answer is given.
                "gold": gold_raw in _TRUE or (gold_raw == "" and answer != ""),
                "gold_answer": answer if answer != "" else None,
                "gold_explanation": values.pop("gold_explanation", ""),
                "image": values.pop("image", ""),
                "metadata": {key: value for key, value in values.items() if value != ""},
                "_csv": True,
            },
        )


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def _rows_from_jsonl(text: str, errors: list[RowError]):
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(
                RowError(line_number, "json", _("Not valid JSON: %(e)s") % {"e": exc.msg})
            )
            continue
        if not isinstance(record, dict):
            errors.append(RowError(line_number, "json", _("Each line must be a JSON object.")))
            continue
        if _has_nul(record):
            # "\u0000" is valid JSON, but PostgreSQL stores no NUL in text or jsonb.
            errors.append(RowError(line_number, "json", nul_message()))
            continue
        unknown = set(record) - KNOWN_FIELDS
        if unknown:
            errors.append(
                RowError(
                    line_number,
                    sorted(unknown)[0],
                    _("Unknown field; put extra data under metadata."),
                )
            )
            continue
        if not isinstance(record.get("metadata", {}), dict):
            errors.append(RowError(line_number, "metadata", _("metadata must be an object.")))
            continue
        gold = record.get("gold")
        if gold is not None and not isinstance(gold, bool):
            errors.append(RowError(line_number, "gold", _("Use true or false.")))
            continue
        answer = record.get("gold_answer")
        yield (
            line_number,
            {
                "external_id": str(record.get("external_id", "")).strip(),
                "text": record.get("text", ""),
                "gold": gold if gold is not None else answer is not None,
                "gold_answer": answer,
                "gold_explanation": record.get("gold_explanation", "") or "",
                "metadata": record.get("metadata", {}),
                "image": "",
                "_csv": False,
            },
        )


def _check_answer(task_set: TaskSet, answer, *, from_csv: bool):
    """The answer normalised for the set's kind, or a message saying what is wrong."""
    options = task_set.label_options
    if task_set.kind == TaskSet.Kind.LABEL:
        if not isinstance(answer, str) or answer not in options:
            return None, _("%(a)r is not one of the label options.") % {"a": answer}
        return answer, None
    if task_set.kind == TaskSet.Kind.MULTILABEL:
        labels = (
            [part.strip() for part in answer.split("|")]
            if from_csv and isinstance(answer, str)
            else answer
        )
        if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
            return None, _("A multi-label answer is a list of labels.")
        outside = [label for label in labels if label not in options]
        if outside:
            return None, _("%(a)r is not one of the label options.") % {"a": outside[0]}
        if len(set(labels)) != len(labels):
            return None, _("A label is repeated.")
        return sorted(labels, key=options.index), None
    if not isinstance(answer, str) or not answer.strip():
        return None, _("A transcription answer is non-empty text.")
    return answer, None


def _open_archive(data: bytes) -> zipfile.ZipFile:
    require_size(data, max_bytes=settings.TASK_UPLOAD_MAX_BYTES)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise RowErrors([RowError(0, "file", _("Not a readable ZIP file."))]) from None
    # Declared sizes, checked before anything is decompressed (a ZIP bomb never expands);
    # reads below are bounded too, in case the declarations lie.
    if sum(info.file_size for info in archive.infolist()) > settings.ZIP_MAX_UNCOMPRESSED_BYTES:
        raise RowErrors([RowError(0, "file", _("The ZIP expands beyond the size limit."))])
    if MANIFEST not in archive.namelist():
        raise RowErrors([RowError(0, "file", _("The ZIP has no manifest.csv at its top level."))])
    return archive


def _read_member(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    with archive.open(name) as member:
        return member.read(limit + 1)


def parse_task_file(
    task_set: TaskSet,
    data: bytes,
    *,
    filename: str,
    keep_image: Callable[[ProcessedImage], tuple[str, str]] | None = None,
) -> list[TaskRow]:
    """Validate a whole file. `keep_image` stores each processed image as it goes (so a
    large ZIP never sits in memory) and returns the stored names."""
    errors: list[RowError] = []
    archive = None
    lowered = filename.lower()
    if lowered.endswith(".zip"):
        archive = _open_archive(data)
        text = decode_text(
            _read_member(archive, MANIFEST, settings.TASK_UPLOAD_MAX_BYTES),
            max_bytes=settings.TASK_UPLOAD_MAX_BYTES,
        )
        records = _rows_from_csv(text, errors)
    elif lowered.endswith((".jsonl", ".ndjson")):
        records = _rows_from_jsonl(
            decode_text(data, max_bytes=settings.TASK_UPLOAD_MAX_BYTES), errors
        )
    elif lowered.endswith(".csv"):
        records = _rows_from_csv(
            decode_text(data, max_bytes=settings.TASK_UPLOAD_MAX_BYTES), errors
        )
    else:
        raise RowErrors(
            [
                RowError(
                    0,
                    "file",
                    _("“%(name)s” cannot be read here: upload a .csv, .jsonl or .zip file.")
                    % {"name": filename},
                )
            ]
        )

    rows: list[TaskRow] = []
    first_line: dict[str, int] = {}
    for line, record in records:
        if len(rows) >= settings.TASK_UPLOAD_MAX_ROWS:
            errors.append(
                RowError(
                    line, "file", _("More than %(n)d rows.") % {"n": settings.TASK_UPLOAD_MAX_ROWS}
                )
            )
            break
        external_id = record["external_id"]
        if not external_id:
            errors.append(RowError(line, "external_id", _("An external_id is required.")))
        elif len(external_id) > 200:
            errors.append(RowError(line, "external_id", _("At most 200 characters.")))
        elif external_id in first_line:
            errors.append(
                RowError(
                    line,
                    "external_id",
                    _("Duplicate of line %(l)d.") % {"l": first_line[external_id]},
                )
            )
        else:
            first_line[external_id] = line
        image_names = ("", "")
        if record["image"]:
            if archive is None:
                errors.append(RowError(line, "image", _("Images come in a ZIP with manifest.csv.")))
            elif record["image"] not in archive.namelist():
                errors.append(
                    RowError(
                        line, "image", _("No file named %(n)s in the ZIP.") % {"n": record["image"]}
                    )
                )
            else:
                try:
                    processed = process_image(
                        _read_member(archive, record["image"], settings.IMAGE_MAX_BYTES)
                    )
                except ImageRejected as exc:
                    errors.append(RowError(line, "image", str(exc)))
                else:
                    if keep_image is not None and not errors:
                        image_names = keep_image(processed)
        elif task_set.kind == TaskSet.Kind.TRANSCRIPTION:
            errors.append(RowError(line, "image", _("Transcription tasks need an image.")))
        elif not isinstance(record["text"], str) or not record["text"].strip():
            errors.append(RowError(line, "text", _("Each task needs its text or an image.")))
        answer = None
        if record["gold"]:
            if record["gold_answer"] is None:
                errors.append(RowError(line, "gold_answer", _("A gold task needs its answer.")))
            else:
                answer, problem = _check_answer(
                    task_set, record["gold_answer"], from_csv=record["_csv"]
                )
                if problem:
                    errors.append(RowError(line, "gold_answer", problem))
        elif record["gold_answer"] is not None:
            errors.append(
                RowError(line, "gold_answer", _("An answer is given but the row is not gold."))
            )
        rows.append(
            TaskRow(
                line=line,
                external_id=external_id,
                text=record["text"] if isinstance(record["text"], str) else "",
                is_gold=bool(record["gold"]),
                gold_answer=answer,
                gold_explanation=str(record["gold_explanation"]),
                metadata=record["metadata"],
                image_name=image_names[0],
                derivative_name=image_names[1],
            )
        )
    existing = set(
        Task.objects.filter(task_set=task_set, external_id__in=list(first_line)).values_list(
            "external_id", flat=True
        )
    )
    for row in rows:
        if row.external_id in existing:
            errors.append(RowError(row.line, "external_id", _("Already in this set.")))
    if not rows and not errors:
        errors.append(RowError(0, "file", _("The file has no tasks.")))
    if errors:
        raise RowErrors(errors)
    return rows


def require_draft(task_set: TaskSet) -> None:
    if task_set.status != TaskSet.Status.DRAFT:
        raise RowErrors(
            [RowError(0, "file", _("Tasks can be added only while the set is a draft."))]
        )


def upload_tasks(*, task_set: TaskSet, actor: User, data: bytes, filename: str) -> int:
    """Validate the whole file, then create every task in one transaction."""
    require_member(actor=actor, task_set=task_set)
    require_draft(task_set)
    stored: list[str] = []

    def keep_image(processed: ProcessedImage) -> tuple[str, str]:
        names = (
            default_storage.save(processed.original_name, ContentFile(processed.original)),
            default_storage.save(processed.derivative_name, ContentFile(processed.derivative)),
        )
        stored.extend(names)
        return names

    try:
        rows = parse_task_file(task_set, data, filename=filename, keep_image=keep_image)
        with transaction.atomic():
            # Parsing (images above all) takes time: the set may have been published
            # meanwhile, with escrow for the tasks it had then. Lock it and look again.
            require_draft(TaskSet.objects.select_for_update().get(pk=task_set.pk))
            Task.objects.bulk_create(
                (
                    Task(
                        task_set=task_set,
                        external_id=row.external_id,
                        payload_text=row.text,
                        image=row.image_name,
                        image_derivative=row.derivative_name,
                        is_gold=row.is_gold,
                        gold_answer=row.gold_answer,
                        gold_explanation=row.gold_explanation,
                        metadata=row.metadata,
                    )
                    for row in rows
                ),
                batch_size=2000,
            )
            record_audit(
                actor=actor,
                action="task_set.upload",
                target=task_set,
                data={
                    "filename": filename[:200],
                    "tasks": len(rows),
                    "gold": sum(row.is_gold for row in rows),
                },
            )
    except BaseException:
        # All or nothing, files included.
        for name in stored:
            default_storage.delete(name)
        raise
    return len(rows)
