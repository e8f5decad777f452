"""Demo data for `make run`: an admin, a funded requester organization, a partner
centre with a coordinator, vetted workers and one pending application. Safe to run
again: existing demo users are left as they are."""

import random
from datetime import timedelta

from allauth.account.models import EmailAddress
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from marketplace.models import Membership, Organization, User, WorkerPresence, WorkerProfile
from payouts.services import credit_organization

DEMO_TRAINING_TITLE = "Road sign training (demo)"
DEMO_SET_TITLE = "Street signs (demo)"
DEMO_PLATFORM_SLUG = "platform-training"
DEMO_SHUFFLE_SEED = 17
DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 - printed for the local demo only

WORKERS = [
    ("sokha", "Sokha Chan", "km", WorkerProfile.Status.VETTED),
    ("dara", "Dara Pich", "km", WorkerProfile.Status.VETTED),
    ("sreymom", "Sreymom Keo", "km", WorkerProfile.Status.VETTED),
    ("vibol", "Vibol Sok", "en", WorkerProfile.Status.VETTED),
    ("applicant", "Channary Lim", "km", WorkerProfile.Status.APPLIED),
]


class Command(BaseCommand):
    help = "Create demo accounts and organizations (idempotent) and print the logins."

    def _user(self, username, *, email="", first="", last="", staff=False, language="en"):
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "email": email,
                "first_name": first,
                "last_name": last,
                "is_staff": staff,
                "is_superuser": staff,
                "preferred_language": language,
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
            if email:
                EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
        return user

    @transaction.atomic
    def handle(self, *args, **options):
        admin = self._user(
            "admin", email="admin@example.org", first="Ada", last="Admin", staff=True
        )
        requester = self._user(
            "requester", email="requester@example.org", first="Rita", last="Requester"
        )
        org, _ = Organization.objects.get_or_create(
            slug="demo-data-co",
            defaults={"name": "Demo Data Co", "kind": Organization.Kind.REQUESTER, "country": "GB"},
        )
        Membership.objects.get_or_create(
            user=requester, organization=org, defaults={"role": Membership.Role.ADMIN}
        )
        # Funded through the ledger like any invoiced customer; the key makes re-runs no-ops.
        credit_organization(
            organization=org,
            amount_minor=500_00,  # USD cents
            currency="USD",
            actor=admin,
            reason="Demo funding (invoice DEMO-001)",
            idempotency_key="seed-demo:funding",
        )
        coordinator = self._user("coordinator", first="Kosal", last="Meas", language="km")
        centre, _ = Organization.objects.get_or_create(
            slug="siem-reap-youth-centre",
            defaults={
                "name": "Siem Reap Youth Centre",
                "kind": Organization.Kind.CENTRE,
                "country": "KH",
                "network_ranges": "203.0.113.0/24",
            },
        )
        Membership.objects.get_or_create(
            user=coordinator, organization=centre, defaults={"role": Membership.Role.COORDINATOR}
        )
        now = timezone.now()
        for username, name, language, status in WORKERS:
            first, _sep, last = name.partition(" ")
            user = self._user(username, first=first, last=last, language=language)
            WorkerProfile.objects.get_or_create(
                user=user,
                defaults={
                    "display_name": name,
                    "country": "KH",
                    "languages": [language] if language == "en" else [language, "en"],
                    "centre": centre,
                    "eligibility": ["first_formal_job", "rural_resident"],
                    "terms_version": "2026-11",
                    "consented_at": now,
                    "status": status,
                    "status_changed_at": now,
                    "applied_at": now,
                },
            )
        self._demo_task_set(org, requester)
        self._demo_training(self._platform_organization(admin), admin)
        self._demo_flag()
        self.stdout.write(
            self.style.SUCCESS("Demo data ready. Log in at http://127.0.0.1:8000/accounts/login/")
        )
        self.stdout.write(f"  every demo password: {DEMO_PASSWORD}")
        self.stdout.write("  admin        (staff: vetting queue, Django admin)")
        self.stdout.write("  requester    (Demo Data Co, funded with 500.00 USD, email verified)")
        self.stdout.write("  coordinator  (Siem Reap Youth Centre: enrol workers by CSV)")
        self.stdout.write("  sokha        (vetted worker, new: starts on the training set)")
        self.stdout.write("  dara, sreymom, vibol  (vetted workers who passed training)")
        self.stdout.write("  applicant    (a pending worker application)")
        self.stdout.write("  a published demo set: log in as a worker and open /work/")
        self.stdout.write("  a fraud flag to review: log in as admin and open /staff/flags/")

    def _demo_task_set(self, org, requester):
        """A small published set, so that a demo worker has work at once."""
        from tasks.models import Task, TaskSet
        from tasks.services import publish_task_set

        if TaskSet.objects.filter(organization=org, title=DEMO_SET_TITLE).exists():
            return
        task_set = TaskSet.objects.create(
            organization=org,
            created_by=requester,
            title=DEMO_SET_TITLE,
            instructions="Read the description and choose the sign it describes.",
            kind=TaskSet.Kind.LABEL,
            label_options=["stop", "give way", "speed limit", "other"],
            reward_minor=4,  # USD cents, for about 15 s of work
            expected_seconds_per_task=15,
            assignments_per_task=3,
            gold_ratio_permille=100,
        )
        descriptions = [
            ("A red octagon with white letters", "stop"),
            ("A white triangle with a red border, point down", "give way"),
            ("A white circle with a red ring and the number 40", "speed limit"),
            ("A blue square with a white letter P", "other"),
        ]
        regular = [(descriptions[i % 4][0], None) for i in range(40)]
        gold = descriptions + descriptions[:2]
        # Checks must look like any other task: one numbering for all, in a shuffled
        # order (seeded, so every demo database is alike), never a block of its own.
        photos = regular + gold
        random.Random(DEMO_SHUFFLE_SEED).shuffle(photos)
        Task.objects.bulk_create(
            Task(
                task_set=task_set,
                external_id=f"sign-{number}",
                payload_text=f"{text} (photo {number})",
                is_gold=answer is not None,
                gold_answer=answer,
                gold_explanation=f"This describes a {answer} sign." if answer else "",
            )
            for number, (text, answer) in enumerate(photos, start=1)
        )
        publish_task_set(task_set_id=task_set.pk, actor=requester)

    def _platform_organization(self, admin):
        """The platform's own organization, which holds and funds platform training:
        training that qualifies workers for every organization's sets is staff's, never
        a requester's (tasks.services.require_member)."""
        platform, _ = Organization.objects.get_or_create(
            slug=DEMO_PLATFORM_SLUG,
            defaults={"name": "Platform training", "kind": Organization.Kind.REQUESTER},
        )
        Membership.objects.get_or_create(
            user=admin, organization=platform, defaults={"role": Membership.Role.ADMIN}
        )
        credit_organization(
            organization=platform,
            amount_minor=100_00,  # USD cents
            currency="USD",
            actor=admin,
            reason="Demo training budget",
            idempotency_key="seed-demo:platform-funding",
        )
        return platform

    def _demo_training(self, org, staff):
        """A paid platform training set for the label skill, made by staff. Sokha
        starts on it, as every newly vetted worker does; the other demo workers pass it
        here, through the same claim and submit services a phone uses, so their
        standings have real events."""
        import uuid

        from tasks import work
        from tasks.models import Task, TaskSet
        from tasks.services import publish_task_set

        if TaskSet.objects.filter(organization=org, title=DEMO_TRAINING_TITLE).exists():
            return
        task_set = TaskSet.objects.create(
            organization=org,
            created_by=staff,
            title=DEMO_TRAINING_TITLE,
            instructions=(
                "Practice with known answers, paid as usual. After each answer you see the "
                "right one and why. Get enough right and paid work unlocks."
            ),
            kind=TaskSet.Kind.LABEL,
            label_options=["stop", "give way", "speed limit", "other"],
            reward_minor=4,
            expected_seconds_per_task=15,
            is_training=True,
            training_answer_budget=200,
        )
        signs = [
            ("A red octagon", "stop", "Only stop signs are octagons."),
            ("A triangle pointing down", "give way", "A downward triangle means give way."),
            ("A red ring around a number", "speed limit", "A number in a red ring is a limit."),
            ("A blue square with a white P", "other", "Parking signs are not in the list."),
        ]
        Task.objects.bulk_create(
            Task(
                task_set=task_set,
                external_id=f"practice-{i}",
                payload_text=f"{signs[i % 4][0]} (practice {i + 1})",
                is_gold=True,
                gold_answer=signs[i % 4][1],
                gold_explanation=signs[i % 4][2],
            )
            for i in range(24)
        )
        publish_task_set(task_set_id=task_set.pk, actor=staff)
        answers = {text: answer for text, answer, _why in signs}
        for username in ("dara", "sreymom", "vibol"):
            worker = User.objects.get(username=username)
            for _ in range(10):
                assignment = work.claim_next_task(worker=worker, task_set_id=task_set.pk).assignment
                text = assignment.task.payload_text.split(" (")[0]
                work.submit_answer(
                    worker=worker,
                    assignment_id=assignment.pk,
                    answer=answers[text],
                    submission_id=uuid.uuid4(),
                    seconds_spent=12,
                )

    def _demo_flag(self):
        """Something for the flag queue: dara's account working on two phones on two
        networks at once (presence as the work sockets record it), found by the scan."""
        from reputation import fraud

        dara = User.objects.get(username="dara")
        start = timezone.now() - timedelta(hours=2)
        for device, address, offset in (
            ("d" * 32, "198.51.100.23", 0),
            ("e" * 32, "192.0.2.77", 15),
        ):
            WorkerPresence.objects.get_or_create(
                worker=dara,
                device_id=device,
                defaults={
                    "ip_address": address,
                    "channel": WorkerPresence.Channel.SOCKET,
                    "first_seen_at": start + timedelta(minutes=offset),
                    "last_seen_at": start + timedelta(minutes=offset + 40),
                },
            )
        fraud.scan()
