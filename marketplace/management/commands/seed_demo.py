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

_SIGNS = [
    ("A red octagon", "stop", "Only stop signs are octagons."),
    ("A triangle pointing down", "give way", "A downward triangle means give way."),
    ("A red ring around a number", "speed limit", "A number in a red ring is a limit."),
    ("A blue square with a white P", "other", "Parking signs are not in the list."),
]
_SCENES = [
    ("A man riding a bicycle", ["person", "bicycle"], "A rider is a person on a bicycle."),
    ("A dog asleep under a parked car", ["dog", "car"], "Both are in the picture."),
    ("A parked car on an empty road", ["car"], "Only the car is on the list."),
    ("Two children walking a dog", ["person", "dog"], "Children are people."),
    ("A car and a bicycle at a light", ["car", "bicycle"], "Both vehicles count."),
]
_KHMER = ["សួស្តី", "អរគុណ", "ទឹក", "ផ្ទះ", "សាលារៀន", "ភ្នំពេញ"]
_ENGLISH = ["Main Street", "Open 8 to 5", "Bus stop", "No parking", "Exit", "Pharmacy"]
_TYPE_IT = "Type exactly what is shown, letter for letter."
# Every skill the demo offers, one training set each (24 practice tasks: enough for an
# attempt and a retry): label, multi-label, and transcription in each demo language.
TRAININGS = [
    (
        DEMO_TRAINING_TITLE,
        "label",
        "",
        ["stop", "give way", "speed limit", "other"],
        [(f"{_SIGNS[i % 4][0]} (practice {i + 1})", *_SIGNS[i % 4][1:]) for i in range(24)],
    ),
    (
        "Tagging training (demo)",
        "multilabel",
        "",
        ["person", "car", "bicycle", "dog"],
        [(f"{_SCENES[i % 5][0]} (practice {i + 1})", *_SCENES[i % 5][1:]) for i in range(24)],
    ),
    (
        "Khmer typing training (demo)",
        "transcription",
        "km",
        [],
        [(f"{_KHMER[i % 6]} {i + 1}",) * 2 + (_TYPE_IT,) for i in range(24)],
    ),
    (
        "English typing training (demo)",
        "transcription",
        "en",
        [],
        [(f"{_ENGLISH[i % 6]} {i + 1}",) * 2 + (_TYPE_IT,) for i in range(24)],
    ),
]

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
        # Training first: publishing refuses a set no vetted worker could ever reach.
        self._demo_training(self._platform_organization(admin), admin)
        self._demo_task_set(org, requester)
        self._demo_flag()
        self.stdout.write(
            self.style.SUCCESS("Demo data ready. Log in at http://127.0.0.1:8000/accounts/login/")
        )
        self.stdout.write(f"  every demo password: {DEMO_PASSWORD}")
        self.stdout.write("  admin        (staff: vetting queue, Django admin)")
        self.stdout.write("  requester    (Demo Data Co, funded with 500.00 USD, email verified)")
        self.stdout.write("  coordinator  (Siem Reap Youth Centre: enrol workers by CSV)")
        self.stdout.write("  sokha        (vetted worker, new: starts on the training set)")
        self.stdout.write(
            "  dara, sreymom, vibol  (vetted workers who passed training: labels, tags,"
            " typing in Khmer and English; vibol reads English only)"
        )
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
        """Paid platform training, made by staff, for every skill the demo offers: a
        regular set reaches only workers qualified in its skill (tasks.reach), so a
        multi-label or Khmer transcription set made in the demo needs training in it.
        Sokha starts on it, as every newly vetted worker does; the other demo workers
        pass each one they can read here, through the same claim and submit services a
        phone uses, so their standings have real events."""
        from tasks.models import TaskSet

        for title, kind, language, options, practice in TRAININGS:
            if TaskSet.objects.filter(organization=org, title=title).exists():
                continue
            self._training_set(org, staff, title, kind, language, options, practice)

    def _training_set(self, org, staff, title, kind, language, options, practice):
        import uuid

        from tasks import work
        from tasks.models import Task, TaskSet
        from tasks.services import publish_task_set

        task_set = TaskSet.objects.create(
            organization=org,
            created_by=staff,
            title=title,
            instructions=(
                "Practice with known answers, paid as usual. After each answer you see the "
                "right one and why. Get enough right and paid work unlocks."
            ),
            kind=kind,
            language=language,
            label_options=options,
            reward_minor=4,
            expected_seconds_per_task=15,
            is_training=True,
            training_answer_budget=200,
        )
        Task.objects.bulk_create(
            Task(
                task_set=task_set,
                external_id=f"practice-{i}",
                payload_text=text,
                is_gold=True,
                gold_answer=answer,
                gold_explanation=why,
            )
            for i, (text, answer, why) in enumerate(practice)
        )
        publish_task_set(task_set_id=task_set.pk, actor=staff)
        for username in ("dara", "sreymom", "vibol"):
            worker = User.objects.get(username=username)
            # Until the set closes to them (qualified: the training's own rule decides
            # how many checks that takes); the cap only guards against a loop.
            for _ in range(len(practice)):
                assignment = work.claim_next_task(worker=worker, task_set_id=task_set.pk).assignment
                if assignment is None:
                    break
                work.submit_answer(
                    worker=worker,
                    assignment_id=assignment.pk,
                    answer=assignment.task.gold_answer,
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
