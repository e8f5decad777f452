import json

import pytest

from marketplace.models import AuditLog
from marketplace.rows import RowErrors
from tasks.models import Task, TaskSet
from tasks.uploads import upload_tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def label_set(requester, requester_org):
    return TaskSet.objects.create(
        organization=requester_org,
        created_by=requester,
        title="Sentiment",
        kind=TaskSet.Kind.LABEL,
        label_options=["positive", "negative", "neutral"],
        reward_minor=5,
    )


def problems(caught) -> set[tuple[int, str]]:
    return {(error.line, error.field) for error in caught.value.errors}


def test_csv_upload_creates_tasks_gold_and_metadata(requester, label_set):
    data = (
        b"external_id,text,gold,gold_answer,gold_explanation,source\n"
        b"t1,I love it,,,,web\n"
        b"t2,Awful service,true,negative,Clearly unhappy,app\n"
        b"t3,It is a chair,,neutral,,\n"  # answer given, gold column empty: gold
    )
    assert upload_tasks(task_set=label_set, actor=requester, data=data, filename="x.csv") == 3
    tasks = {t.external_id: t for t in Task.objects.all()}
    assert not tasks["t1"].is_gold and tasks["t1"].metadata == {"source": "web"}
    assert tasks["t2"].is_gold and tasks["t2"].gold_answer == "negative"
    assert tasks["t2"].gold_explanation == "Clearly unhappy"
    assert tasks["t3"].is_gold and tasks["t3"].gold_answer == "neutral"
    assert AuditLog.objects.get(action="task_set.upload").data["tasks"] == 3


def test_bad_csv_names_every_line_and_field_and_creates_nothing(requester, label_set):
    Task.objects.create(task_set=label_set, external_id="old", payload_text="x")
    data = (
        b"external_id,text,gold,gold_answer\n"
        b"a,fine,,\n"  # 2: fine
        b",no id,,\n"  # 3: external_id
        b"a,duplicate,,\n"  # 4: duplicate of line 2
        b"b,,,\n"  # 5: text
        b"c,x,true,\n"  # 6: gold without answer
        b"d,x,true,angry\n"  # 7: answer outside options
        b"e,x,false,positive\n"  # 8: answer on a non-gold row
        b"f,x,maybe,\n"  # 9: bad gold flag
        b"old,x,,\n"  # 10: already in the set
    )
    with pytest.raises(RowErrors) as caught:
        upload_tasks(task_set=label_set, actor=requester, data=data, filename="x.csv")
    assert problems(caught) == {
        (3, "external_id"),
        (4, "external_id"),
        (5, "text"),
        (6, "gold_answer"),
        (7, "gold_answer"),
        (8, "gold_answer"),
        (9, "gold"),
        (10, "external_id"),
    }
    assert Task.objects.count() == 1  # only the one that was there


def test_jsonl_multilabel_answers_are_lists_of_options(requester, requester_org):
    task_set = TaskSet.objects.create(
        organization=requester_org,
        created_by=requester,
        title="Objects",
        kind=TaskSet.Kind.MULTILABEL,
        label_options=["car", "bike", "person"],
        reward_minor=5,
    )
    lines = [
        {"external_id": "1", "text": "street", "gold_answer": ["person", "car"]},
        {"external_id": "2", "text": "lane", "metadata": {"camera": 3}},
    ]
    data = "\n".join(json.dumps(line) for line in lines).encode()
    upload_tasks(task_set=task_set, actor=requester, data=data, filename="x.jsonl")
    assert Task.objects.get(external_id="1").gold_answer == ["car", "person"]  # option order
    assert Task.objects.get(external_id="2").metadata == {"camera": 3}


def test_bad_jsonl_lines_are_reported(requester, requester_org):
    task_set = TaskSet.objects.create(
        organization=requester_org,
        created_by=requester,
        title="Objects",
        kind=TaskSet.Kind.MULTILABEL,
        label_options=["car", "bike"],
        reward_minor=5,
    )
    data = (
        b'{"external_id": "1", "text": "a", "gold_answer": "car"}\n'  # 1: not a list
        b"{not json}\n"  # 2
        b'["a list"]\n'  # 3
        b'{"external_id": "4", "text": "a", "colour": "red"}\n'  # 4: unknown field
        b'{"external_id": "5", "text": "a", "gold_answer": ["car", "car"]}\n'  # 5: repeated
        b'{"external_id": "6", "text": "a", "gold_answer": ["boat"]}\n'  # 6: outside options
    )
    with pytest.raises(RowErrors) as caught:
        upload_tasks(task_set=task_set, actor=requester, data=data, filename="x.jsonl")
    assert problems(caught) == {
        (1, "gold_answer"),
        (2, "json"),
        (3, "json"),
        (4, "colour"),
        (5, "gold_answer"),
        (6, "gold_answer"),
    }
    assert not Task.objects.exists()


def test_transcription_gold_must_be_text(requester, requester_org):
    task_set = TaskSet.objects.create(
        organization=requester_org,
        created_by=requester,
        title="Forms",
        kind=TaskSet.Kind.TRANSCRIPTION,
        reward_minor=8,
    )
    data = b'{"external_id": "1", "text": "scan", "gold": true, "gold_answer": "  "}\n'
    with pytest.raises(RowErrors) as caught:
        upload_tasks(task_set=task_set, actor=requester, data=data, filename="x.jsonl")
    # And transcription tasks show an image, which only a ZIP can carry.
    assert problems(caught) == {(1, "gold_answer"), (1, "image")}


@pytest.mark.parametrize(
    ("filename", "data", "line"),
    [
        ("x.csv", b"external_id,text\nt1,fine\nt2,bad\x00text\n", 3),
        ("x.csv", b'external_id,text\nt1,fine\nt2,"' + b"x" * 200_000 + b'"\n', 3),
        ("x.csv", b"external_id,text" + b"x" * 200_000 + b'"\nt1,fine\n', 1),
        (
            "x.jsonl",
            b'{"external_id": "t1", "text": "fine"}\n{"external_id": "t2", "text": "a\x00"}\n',
            2,
        ),
        (
            "x.jsonl",
            b'{"external_id": "t1", "text": "fine"}\n{"external_id": "t2", "text": "a\\u0000"}\n',
            2,
        ),
        ("x.jsonl", b'{"external_id": "t1", "text": "x", "metadata": {"k": ["\\u0000"]}}\n', 1),
    ],
)
def test_nul_characters_and_unreadable_csv_are_row_errors(
    requester, label_set, filename, data, line
):
    with pytest.raises(RowErrors) as caught:
        upload_tasks(task_set=label_set, actor=requester, data=data, filename=filename)
    assert [error.line for error in caught.value.errors] == [line]
    assert not Task.objects.exists()


def test_limits_are_settings(requester, label_set, settings):
    settings.TASK_UPLOAD_MAX_ROWS = 1
    with pytest.raises(RowErrors) as caught:
        upload_tasks(
            task_set=label_set,
            actor=requester,
            data=b"external_id,text\na,x\nb,y\n",
            filename="x.csv",
        )
    assert problems(caught) == {(3, "file")}
    settings.TASK_UPLOAD_MAX_BYTES = 5
    with pytest.raises(RowErrors) as caught:
        upload_tasks(
            task_set=label_set, actor=requester, data=b"external_id,text\n", filename="x.csv"
        )
    assert problems(caught) == {(0, "file")}


def test_unknown_format_and_published_sets_are_refused(requester, label_set):
    with pytest.raises(RowErrors):
        upload_tasks(task_set=label_set, actor=requester, data=b"x", filename="x.xlsx")
    label_set.status = TaskSet.Status.PUBLISHED
    label_set.save()
    with pytest.raises(RowErrors, match="draft"):
        upload_tasks(
            task_set=label_set, actor=requester, data=b"external_id,text\na,x\n", filename="x.csv"
        )


def test_outsider_cannot_upload(outsider, label_set):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        upload_tasks(
            task_set=label_set, actor=outsider, data=b"external_id,text\na,x\n", filename="x.csv"
        )
    assert not Task.objects.exists()
