"""Fraud signals evaluation: a seeded synthetic crowd, with timing, works through a
simulated claim queue; the rows it leaves (answers, claims, presences, payout keys) go
through reputation.fraud.find_all, exactly as the periodic scan would pass them, and
the findings are scored against who really cheated.

The crowd:
- honest workers: accuracy 75-98%, time per task log-normal around a kind-dependent
  median (label ~6 s, multi-label ~10 s, transcription ~25 s) times a personal speed,
  skips up to 10%, rare reports and expiries. About 40% are a centre's cohort: they work
  its morning or afternoon shift behind the centre's address range on the centre's
  shared phones (some on their own phone on the centre's Wi-Fi), and some also work
  from home in the evening. The others work at home on their own phone: on their own
  broadband, on mobile data (a new carrier address each session), or behind one
  carrier-grade NAT address shared by many. Some switch between Wi-Fi and mobile data
  in a session (same phone, new address), some use a phone and a laptop at different
  times of the day;
- fraud, --per-type instances of each: speeders (0.5-1.5 s a label, accuracy near
  chance), random clickers (uniform answers at normal-ish speed), straight-liners (one
  answer ~always), copy pairs (two accounts side by side: they tap "next" together and,
  whenever the queue gives them the same task, the copier types the leader's answer a
  few seconds later, typos included), duplicate accounts (one person, two accounts, used
  at different times: same personal phone and/or the same mobile money number; some at
  a centre), impossible activity (one account used at once by two people on two
  devices on two networks) and churners (claim, look, skip 70%+).

The queue is the real claim rule: the first open regular task by id with a free slot
(3 answers a task; live claims hold a slot) not yet seen by the worker, and, on 10% of
claims, a random gold task the worker has not seen instead. A regular task's reference
is the weighted vote of its 3 answers (weights: each worker's smoothed gold pass rate),
a gold task's its gold answer; gold credit is scoring.credit_permille.

It prints, per fraud type, instances, detected by the intended signal and by any
signal, recall; over honest workers with answers in the window, flagged per signal and
overall (false-positive rate), and honest centre workers flagged for sharing the
centre's address or phones; and the time find_all took over how many rows.
Deterministic for a seed (~30 s with the defaults: 200 honest workers, 12 instances of
each fraud type, 3 days):
    .venv/bin/python bench/fraud_eval.py
    .venv/bin/python bench/fraud_eval.py --seed 1 --seeds 3 --verbose
    .venv/bin/python bench/fraud_eval.py --workers 1000          # ~1.3M answers
    .venv/bin/python bench/fraud_eval.py --workers 150 --per-type 8 --days 14
No database: the settings are loaded only so reputation.fraud imports.

The size of the crowd matters for copying: the fewer workers on a set at once (a
centre's cohort on one set, a small marketplace), the more tasks two honest workers
share. Copying's baseline is what two independent workers of the pair's accuracy
would agree on; against each one's agreement with everyone else instead (the first
version), 12-20% of honest workers were flagged at --workers 200 and 0.5% at 1000.
"""

import argparse
import heapq
import math
import os
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
# Without DEBUG the settings demand a SECRET_KEY; nothing here serves or signs anything.
os.environ.setdefault("DEBUG", "1")

import django

django.setup()

from reputation import fraud, scoring  # noqa: E402
from reputation.aggregation import transcription_consensus  # noqa: E402

Signal = fraud.Signal

START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday; clock hours are the workers' own
HOUR = 3600.0
DAY = 86400.0
ANSWERS_PER_TASK = 3
GOLD_PERMILLE = 100
GOLD_POOL = 200  # gold tasks per set
TIME_LIMIT = 600.0  # seconds a claim is held
MEDIAN_SECONDS = {"label": 6.0, "multilabel": 10.0, "transcription": 25.0}
CENTRE_RANGES = {1: "203.0.113.0/24", 2: "198.51.100.0/24"}
CENTRE_UPLINKS = {1: ["203.0.113.10", "203.0.113.11"], 2: ["198.51.100.7"]}
CARRIER_POOLS = ["175.100.10", "175.100.11", "117.20.112", "117.20.113", "27.109.116"]
CGNAT_ADDRESS = "117.20.112.5"  # one carrier address many home users sit behind

FRAUD_TYPES = (
    "speeder",
    "random_clicker",
    "straight_liner",
    "copy_pair",
    "duplicate_account",
    "impossible_activity",
    "churner",
)
INTENDED = {
    "speeder": {Signal.TOO_FAST},
    "random_clicker": {Signal.LOW_AGREEMENT, Signal.GOLD_FAILURES},
    "straight_liner": {Signal.STRAIGHT_LINING},
    "copy_pair": {Signal.COPYING},
    "duplicate_account": {Signal.DUPLICATE_ACCOUNT},
    "impossible_activity": {Signal.IMPOSSIBLE_ACTIVITY},
    "churner": {Signal.CHURN},
}
PAIR_TYPES = ("copy_pair", "duplicate_account")
SHARING_SIGNALS = {Signal.DUPLICATE_ACCOUNT, Signal.IMPOSSIBLE_ACTIVITY}
SIGNALS = [s.value for s in Signal if s != Signal.QUALITY_FLOOR]

LATIN_ONSETS = [*"bcdhklmnprstvy", "ch", "ph", "th", "s", "k"]
LATIN_VOWELS = ["a", "e", "i", "o", "u", "ea", "ou", "ey"]
LATIN_CODAS = ["", "", "", "n", "m", "k", "ng", "t", "r"]
LATIN_LETTERS = "abcdefghijklmnopqrstuvwxyz"
KHMER_CONSONANTS = [chr(c) for c in range(0x1780, 0x17A3)]
KHMER_VOWEL_SIGNS = [chr(c) for c in range(0x17B6, 0x17C6)]
KHMER_LETTERS = KHMER_CONSONANTS + KHMER_VOWEL_SIGNS


# --- Sets and tasks -----------------------------------------------------------------


@dataclass
class Task:
    id: int
    set_id: int
    is_gold: bool
    truth: object
    confusable: str | None  # the label a wrong answer most often picks
    ease: float  # added to a worker's accuracy on this task
    submitted: int = 0
    active: int = 0
    seen: set[int] = field(default_factory=set)


@dataclass
class BenchSet:
    id: int
    name: str
    kind: str
    options: list[str]
    prior: list[float]
    weight: float  # share of sessions spent on it
    info: fraud.SetInfo
    script_share: float = 0.0  # transcription: share of Khmer strings
    tasks: list[Task] = field(default_factory=list)
    gold: list[Task] = field(default_factory=list)
    front: int = 0  # tasks before it are full


def make_sets() -> dict[int, BenchSet]:
    return {
        1: BenchSet(
            1,
            "animal in photo",
            "label",
            ["cat", "dog", "bird", "fish"],
            [0.50, 0.25, 0.15, 0.10],
            0.35,
            fraud.SetInfo(kind="label", option_count=4, gold_pass_permille=800),
        ),
        2: BenchSet(
            2,
            "road sign visible",
            "label",
            ["no", "yes"],
            [0.85, 0.15],
            0.15,
            fraud.SetInfo(kind="label", option_count=2, gold_pass_permille=800),
        ),
        3: BenchSet(
            3,
            "what is in the picture",
            "multilabel",
            ["person", "car", "tree", "sign", "animal"],
            [0.50, 0.35, 0.25, 0.15, 0.10],
            0.25,
            fraud.SetInfo(kind="multilabel", option_count=5, gold_pass_permille=800),
        ),
        4: BenchSet(
            4,
            "shop sign text",
            "transcription",
            [],
            [],
            0.25,
            fraud.SetInfo(kind="transcription", option_count=0, gold_pass_permille=800),
            script_share=0.5,
        ),
    }


def latin_word(rng: random.Random) -> str:
    syllables = rng.choice([1, 2, 2, 3])
    word = "".join(
        rng.choice(LATIN_ONSETS) + rng.choice(LATIN_VOWELS) + rng.choice(LATIN_CODAS)
        for _ in range(syllables)
    )
    return word.capitalize()


def khmer_word(rng: random.Random) -> str:
    return "".join(
        rng.choice(KHMER_CONSONANTS) + (rng.choice(KHMER_VOWEL_SIGNS) if rng.random() < 0.7 else "")
        for _ in range(rng.choice([2, 2, 3, 4]))
    )


def make_truth(bset: BenchSet, rng: random.Random):
    if bset.kind == "label":
        return rng.choices(bset.options, weights=bset.prior)[0]
    if bset.kind == "multilabel":
        return [tag for tag, p in zip(bset.options, bset.prior, strict=True) if rng.random() < p]
    word = khmer_word if rng.random() < bset.script_share else latin_word
    return " ".join(word(rng) for _ in range(rng.choice([1, 2, 2, 3])))


class Queue:
    """The claim rule over the sets' tasks; regular tasks are made as the front needs."""

    def __init__(self, sets: dict[int, BenchSet], rng: random.Random):
        self.sets = sets
        self.rng = rng
        self.next_id = 1
        self.tasks: dict[int, Task] = {}
        for bset in sets.values():
            bset.gold = [self._new(bset, is_gold=True) for _ in range(GOLD_POOL)]

    def _new(self, bset: BenchSet, *, is_gold: bool) -> Task:
        truth = make_truth(bset, self.rng)
        confusable = None
        if bset.kind == "label":
            others = [o for o in bset.options if o != truth]
            weights = [bset.prior[bset.options.index(o)] for o in others]
            confusable = self.rng.choices(others, weights=weights)[0]
        # Most items are easy, some are hard for everybody (errors then coincide).
        ease = 0.03 if self.rng.random() < 0.8 else -0.15
        task = Task(self.next_id, bset.id, is_gold, truth, confusable, ease)
        self.tasks[task.id] = task
        self.next_id += 1
        if not is_gold:
            bset.tasks.append(task)
        return task

    def claim(self, set_id: int, worker_id: int) -> Task:
        bset = self.sets[set_id]
        while bset.front < len(bset.tasks) and bset.tasks[bset.front].submitted >= ANSWERS_PER_TASK:
            bset.front += 1
        wants_gold = self.rng.random() < GOLD_PERMILLE / 1000
        task = None
        tasks = bset.tasks
        for i in range(bset.front, len(tasks)):
            candidate = tasks[i]
            if (
                worker_id not in candidate.seen
                and candidate.submitted + candidate.active < ANSWERS_PER_TASK
            ):
                task = candidate
                break
        if task is None:
            task = self._new(bset, is_gold=False)
        if wants_gold:
            unseen = [g for g in bset.gold if worker_id not in g.seen]
            if unseen:
                task = self.rng.choice(unseen)
        task.seen.add(worker_id)
        task.active += 1
        return task


# --- Workers ---------------------------------------------------------------------------


@dataclass
class Persona:
    """How one person answers and how fast."""

    role: str
    accuracy: float
    speed: float  # multiplies the kind's median time
    skip: float
    char_error: float
    set_weights: dict[int, float]
    straight_keys: dict[int, object] = field(default_factory=dict)
    straight_share: float = 0.0


@dataclass
class Session:
    start: float
    end: float
    device: str
    ips: list[tuple[float, str]]  # (from, address); the first from is the start
    sets: list[tuple[float, int]]  # (from, set id)

    def ip_at(self, t: float) -> str:
        address = self.ips[0][1]
        for since, ip in self.ips:
            if t >= since:
                address = ip
        return address

    def set_at(self, t: float) -> int:
        set_id = self.sets[0][1]
        for since, sid in self.sets:
            if t >= since:
                set_id = sid
        return set_id


@dataclass
class Actor:
    """One person at one device stream, answering under one account (or, for a copy
    pair, two people side by side under two)."""

    id: int
    account: int
    persona: Persona
    sessions: list[Session]
    copier_account: int | None = None
    copier: Persona | None = None
    copier_device: str = ""
    index: int = 0
    done: bool = False


@dataclass
class Account:
    id: int
    role: str  # "honest" or a fraud type
    instance: int | None = None
    centre: int | None = None
    payout: str = ""
    tags: set[str] = field(default_factory=set)  # honest: centre, cgnat, switcher, two_devices


class Crowd:
    def __init__(self, args, rng: random.Random, sets: dict[int, BenchSet]):
        self.args = args
        self.rng = rng
        self.sets = sets
        self.accounts: dict[int, Account] = {}
        self.actors: list[Actor] = []
        self.instances: dict[str, list[tuple[int, ...]]] = defaultdict(list)
        self.devices = 0
        self.next_account = 1001
        self.centre_phones = {
            1: [self.device() for _ in range(max(2, args.workers // 12))],
            2: [self.device() for _ in range(max(2, args.workers // 18))],
        }

    # identities

    def device(self) -> str:
        self.devices += 1
        return f"{self.rng.getrandbits(128):032x}"

    def account(self, role: str, instance=None, centre=None) -> Account:
        account = Account(self.next_account, role, instance, centre)
        self.next_account += 1
        if self.rng.random() < 0.9:
            account.payout = fraud.payout_key(self.phone_number(), "")
        else:
            account.payout = fraud.payout_key("", f"acct_{self.rng.getrandbits(48):012x}")
        self.accounts[account.id] = account
        return account

    def phone_number(self) -> str:
        return f"+855 {self.rng.randrange(10, 99)} {self.rng.randrange(100000, 999999)}"

    def home_ip(self) -> str:
        r = self.rng
        return f"36.{r.randrange(32, 40)}.{r.randrange(0, 256)}.{r.randrange(2, 255)}"

    def mobile_ip(self) -> str:
        return f"{self.rng.choice(CARRIER_POOLS)}.{self.rng.randrange(2, 255)}"

    # personas

    def set_weights(self, base: dict[int, float] | None = None) -> dict[int, float]:
        base = base or {s.id: s.weight for s in self.sets.values()}
        return {sid: w * self.rng.uniform(0.3, 1.7) for sid, w in base.items()}

    def honest_persona(self, role="honest", low=0.75, high=0.98) -> Persona:
        r = self.rng
        return Persona(
            role=role,
            accuracy=r.uniform(low, high),
            speed=math.exp(r.gauss(0, 0.25)),
            skip=r.uniform(0.0, 0.10),
            char_error=r.uniform(0.003, 0.02),
            set_weights=self.set_weights(),
        )

    # schedules

    def pick_sets(self, start: float, end: float, weights: dict[int, float]):
        ids = sorted(weights)
        segments = self.rng.choice([1, 1, 2, 3])
        bounds = sorted(self.rng.uniform(start, end) for _ in range(segments - 1))
        froms = [start, *bounds]
        return [(t, self.rng.choices(ids, weights=[weights[i] for i in ids])[0]) for t in froms]

    def home_sessions(self, persona, device, network, *, days=None, evenings=False, p_day=0.8):
        """network: a callable giving a session's address plan from its start and end."""
        sessions = []
        for day in range(self.args.days) if days is None else days:
            if self.rng.random() > p_day:
                continue
            count = self.rng.choice([1, 1, 1, 2, 2])
            t = (
                day * DAY
                + (self.rng.uniform(18, 21) if evenings else self.rng.uniform(6, 16)) * HOUR
            )
            for _ in range(1 if evenings else count):
                length = min(180, max(10, self.rng.lognormvariate(math.log(50), 0.5))) * 60
                end = t + length
                if end > (day + 1) * DAY - 0.5 * HOUR:
                    break
                sessions.append(
                    Session(
                        t,
                        end,
                        device(),
                        network(t, end),
                        self.pick_sets(t, end, persona.set_weights),
                    )
                )
                t = end + self.rng.uniform(0.5, 5) * HOUR
        return sessions

    def centre_sessions(self, persona, centre, shift, own_phone, *, p_day=0.85):
        sessions = []
        for day in range(self.args.days):
            if day % 7 == 6 or self.rng.random() > p_day:
                continue
            shift_start = day * DAY + (8 if shift == 0 else 13) * HOUR
            start = shift_start + self.rng.uniform(0, 0.5) * HOUR
            end = shift_start + 4 * HOUR - self.rng.uniform(0.1, 1.0) * HOUR
            sessions.append(
                Session(
                    start,
                    end,
                    ("centre", centre, shift, own_phone),  # resolved to a phone per day below
                    [(start, self.rng.choice(CENTRE_UPLINKS[centre]))],
                    self.pick_sets(start, end, persona.set_weights),
                )
            )
        return sessions

    def assign_centre_phones(self) -> None:
        """Each shift, the members present take the centre's phones (shuffled daily);
        when there are more members than phones, the rest use their own phone."""
        by_shift = defaultdict(list)
        for actor in self.actors:
            for session in actor.sessions:
                if isinstance(session.device, tuple):
                    _tag, centre, shift, _own = session.device
                    by_shift[(centre, shift, int(session.start // DAY))].append(session)
        for (centre, _shift, _day), sessions in sorted(by_shift.items()):
            phones = list(self.centre_phones[centre])
            self.rng.shuffle(phones)
            for i, session in enumerate(sessions):
                own = session.device[3]
                session.device = phones[i] if i < len(phones) else own

    def network_home(self, kind: str, home: str):
        def plan(start, end):
            if kind == "broadband":
                return [(start, home)]
            if kind == "cgnat":
                return [(start, CGNAT_ADDRESS)]
            if kind == "switcher":
                if self.rng.random() < 0.5:
                    switch = self.rng.uniform(start, end)
                    return [(start, home), (switch, self.mobile_ip())]
                return [(start, home)]
            return [(start, self.mobile_ip())]

        return plan

    # the crowd

    def build(self) -> None:
        args, r = self.args, self.rng
        for i in range(args.workers):
            persona = self.honest_persona()
            if i < round(0.4 * args.workers):
                centre = 1 if r.random() < 0.6 else 2
                account = self.account("honest", centre=centre)
                account.tags.add("centre")
                own = self.device()
                sessions = self.centre_sessions(persona, centre, r.randrange(2), own)
                if r.random() < 0.3:  # also works some evenings at home, on their own phone
                    sessions += self.home_sessions(
                        persona,
                        lambda own=own: own,
                        self.network_home("mobile", ""),
                        evenings=True,
                        p_day=0.4,
                    )
                    account.tags.add("home_too")
                self.add_actor(account, persona, sessions)
                continue
            account = self.account("honest")
            home = self.home_ip()
            draw = r.random()
            kind = (
                "cgnat"
                if draw < 0.10
                else "switcher"
                if draw < 0.35
                else "broadband"
                if draw < 0.65
                else "mobile"
            )
            if kind in ("cgnat", "switcher"):
                account.tags.add(kind)
            phone = self.device()
            if r.random() < 0.12:  # a phone by day, a laptop at home in the evening
                account.tags.add("two_devices")
                laptop = self.device()
                sessions = self.home_sessions(
                    persona, lambda phone=phone: phone, self.network_home("mobile", "")
                )
                sessions += self.home_sessions(
                    persona,
                    lambda laptop=laptop: laptop,
                    self.network_home("broadband", home),
                    evenings=True,
                    p_day=0.6,
                )
            else:
                sessions = self.home_sessions(
                    persona, lambda phone=phone: phone, self.network_home(kind, home)
                )
            self.add_actor(account, persona, sessions)
        for fraud_type in FRAUD_TYPES:
            for n in range(args.per_type):
                getattr(self, f"add_{fraud_type}")(n)
        self.assign_centre_phones()

    def some(self, make):
        """A fraudster's schedule with at least one session: one who did not work in the
        window is not in the scan's data at all."""
        for _ in range(50):
            sessions = make()
            if sessions:
                return sessions
        return sessions

    def add_actor(self, account: Account, persona: Persona, sessions, **kw) -> Actor:
        sessions.sort(key=lambda s: s.start)
        actor = Actor(len(self.actors), account.id, persona, sessions, **kw)
        self.actors.append(actor)
        return actor

    def solo_fraud(self, role: str, n: int, persona: Persona) -> None:
        """A fraudster working like anyone else: a quarter of them in a centre's cohort."""
        if self.rng.random() < 0.25:
            centre = 1 if self.rng.random() < 0.6 else 2
            account = self.account(role, n, centre=centre)
            own, shift = self.device(), self.rng.randrange(2)
            sessions = self.some(lambda: self.centre_sessions(persona, centre, shift, own))
        else:
            account = self.account(role, n)
            phone, home = self.device(), self.home_ip()
            kind = self.rng.choice(["broadband", "mobile", "switcher"])
            plan = self.network_home(kind, home)
            sessions = self.some(lambda: self.home_sessions(persona, lambda: phone, plan))
        self.instances[role].append((account.id,))
        self.add_actor(account, persona, sessions)

    def add_speeder(self, n: int) -> None:
        # Accuracy here is the share of answers that got a glance; the rest are random.
        persona = self.honest_persona("speeder", 0.10, 0.35)
        persona.set_weights = self.set_weights({1: 0.45, 2: 0.3, 3: 0.2, 4: 0.05})
        self.solo_fraud("speeder", n, persona)

    def add_random_clicker(self, n: int) -> None:
        persona = self.honest_persona("random_clicker")
        persona.speed = self.rng.uniform(0.4, 1.0)
        self.solo_fraud("random_clicker", n, persona)

    def add_straight_liner(self, n: int) -> None:
        persona = self.honest_persona("straight_liner")
        persona.set_weights = self.set_weights({1: 0.45, 2: 0.2, 3: 0.35})
        persona.speed = self.rng.uniform(0.4, 1.0)
        persona.straight_share = self.rng.uniform(0.88, 1.0)
        for bset in self.sets.values():
            if bset.kind == "label":
                # Often the first button, else any.
                key = bset.options[0] if self.rng.random() < 0.5 else self.rng.choice(bset.options)
                persona.straight_keys[bset.id] = key
            elif bset.kind == "multilabel":
                persona.straight_keys[bset.id] = self.rng.choice([[], [bset.options[0]]])
        self.solo_fraud("straight_liner", n, persona)

    def add_churner(self, n: int) -> None:
        persona = self.honest_persona("churner")
        persona.skip = self.rng.uniform(0.70, 0.90)
        self.solo_fraud("churner", n, persona)

    def add_copy_pair(self, n: int) -> None:
        leader = self.honest_persona("copy_pair", 0.75, 0.95)
        copier = self.honest_persona("copy_pair", 0.60, 0.85)
        leader.skip = copier.skip = self.rng.uniform(0.0, 0.05)
        first, second = self.account("copy_pair", n), self.account("copy_pair", n)
        place = self.rng.choice(["broadband", "cgnat", "mobile"])
        plan = self.network_home(place, self.home_ip())
        leader_phone, copier_phone = self.device(), self.device()
        # Both phones on the same network, side by side: one session list, two devices.
        sessions = self.some(lambda: self.home_sessions(leader, lambda: leader_phone, plan))
        self.instances["copy_pair"].append((first.id, second.id))
        actor = self.add_actor(first, leader, sessions, copier_account=second.id, copier=copier)
        actor.copier_device = copier_phone

    def add_duplicate_account(self, n: int) -> None:
        persona = self.honest_persona("duplicate_account", 0.75, 0.95)
        first, second = self.account("duplicate_account", n), self.account("duplicate_account", n)
        how = ["device", "payout", "both", "centre"][n % 4]
        days = list(range(self.args.days))
        if how == "centre":
            # Both accounts in one centre's cohort, on its phones: only the payout tells.
            centre = 1 if self.rng.random() < 0.6 else 2
            first.centre = second.centre = centre
            second.payout = first.payout
            own = self.device()
            shift = self.rng.randrange(2)
            a = self.some(lambda: self.centre_sessions(persona, centre, shift, own))
            b = self.some(lambda: self.centre_sessions(persona, centre, 1 - shift, own))
        else:
            phone = self.device()
            other = phone if how in ("device", "both") else self.device()
            if how in ("payout", "both"):
                second.payout = first.payout
            home = self.home_ip()
            a = self.some(
                lambda: self.home_sessions(
                    persona, lambda: phone, self.network_home("broadband", home)
                )
            )
            b = self.some(
                lambda: self.home_sessions(
                    persona,
                    lambda: other,
                    self.network_home("switcher", home),
                    days=days,
                    evenings=True,
                    p_day=0.7,
                )
            )
        self.instances["duplicate_account"].append((first.id, second.id))
        self.add_actor(first, persona, a)
        self.add_actor(second, persona, b)

    def add_impossible_activity(self, n: int) -> None:
        """The owner at home; a second person on another phone on mobile data elsewhere,
        at the same time on some days (an account lent or sold)."""
        owner = self.honest_persona("impossible_activity", 0.75, 0.95)
        helper = self.honest_persona("impossible_activity", 0.70, 0.90)
        account = self.account("impossible_activity", n)
        phone, other = self.device(), self.device()
        home = self.home_ip()
        plan = self.network_home("broadband", home)
        sessions = self.some(lambda: self.home_sessions(owner, lambda: phone, plan))
        helper_sessions = []
        for i, s in enumerate(sessions):
            # The first session always overlaps (that is what makes the instance), later
            # ones half the time.
            if i == 0 or self.rng.random() < 0.5:
                start = s.start + self.rng.uniform(-0.3, 0.6) * (s.end - s.start)
                end = start + self.rng.uniform(20, 90) * 60
                helper_sessions.append(
                    Session(
                        start,
                        end,
                        other,
                        [(start, self.mobile_ip())],
                        self.pick_sets(start, end, helper.set_weights),
                    )
                )
        self.instances["impossible_activity"].append((account.id,))
        self.add_actor(account, owner, sessions)
        self.add_actor(account, helper, helper_sessions)


# --- Answering ---------------------------------------------------------------------------


def duration(rng: random.Random, persona: Persona, kind: str) -> float:
    if persona.role == "speeder":
        low, high = {"label": (0.5, 1.5), "multilabel": (0.8, 2.2), "transcription": (1.5, 4.0)}[
            kind
        ]
        return rng.uniform(low, high)
    return rng.lognormvariate(math.log(MEDIAN_SECONDS[kind] * persona.speed), 0.45)


def typo(rng: random.Random, text: str, rate: float) -> str:
    out = []
    for char in text:
        draw = rng.random()
        if char == " " or draw >= rate:
            out.append(char)
            continue
        letters = KHMER_LETTERS if "\u1780" <= char <= "\u17ff" else LATIN_LETTERS
        if draw < rate * 0.5:
            out.append(rng.choice(letters))  # substitution
        elif draw < rate * 0.75:
            out.append(char + rng.choice(letters))  # insertion
        # else: deletion
    return "".join(out).strip() or text


def answer_for(rng: random.Random, persona: Persona, bset: BenchSet, task: Task):
    role, kind = persona.role, bset.kind
    if role == "random_clicker":
        if kind == "label":
            return rng.choice(bset.options)
        if kind == "multilabel":
            return [t for t in bset.options if rng.random() < 0.4]
        word = khmer_word if rng.random() < 0.5 else latin_word
        return " ".join(word(rng) for _ in range(rng.choice([1, 2, 3])))
    if role == "straight_liner" and bset.id in persona.straight_keys:
        if rng.random() < persona.straight_share:
            return persona.straight_keys[bset.id]
        return answer_for(rng, Persona("random_clicker", 0, 1, 0, 0, {}), bset, task)
    if role == "speeder" and rng.random() >= persona.accuracy:
        # No time to look: a random answer, unless the glance happened to catch it.
        return answer_for(rng, Persona("random_clicker", 0, 1, 0, 0, {}), bset, task)
    p = min(0.995, max(0.05, persona.accuracy + task.ease))
    correct = role == "speeder" or rng.random() < p
    if kind == "label":
        if correct:
            return task.truth
        if rng.random() < 0.6:
            return task.confusable
        return rng.choice([o for o in bset.options if o != task.truth])
    if kind == "multilabel":
        chosen = set(task.truth)
        if not correct:
            for _ in range(1 if rng.random() < 0.75 else 2):
                present = sorted(chosen)
                if present and rng.random() < 0.5:
                    chosen.discard(rng.choice(present))
                else:
                    chosen.add(rng.choice(bset.options))
            if chosen == set(task.truth):
                chosen ^= {rng.choice(bset.options)}
        return [t for t in bset.options if t in chosen]
    if role == "speeder":  # a glance at a sign: its first word, roughly
        return typo(rng, task.truth.split()[0], 0.1)
    words = task.truth.split()
    if not correct:  # a misread: one word wrong, or one word left out
        i = rng.randrange(len(words))
        if len(words) > 1 and rng.random() < 0.3:
            del words[i]
        else:
            words[i] = typo(rng, words[i], 0.5)
    text = typo(rng, " ".join(words), persona.char_error)
    if rng.random() < 0.1:
        text = text.lower() if rng.random() < 0.5 else text.upper()
    return text


# --- The simulation ---------------------------------------------------------------------


class Simulation:
    def __init__(self, args, rng: random.Random, crowd: Crowd, queue: Queue):
        self.args = args
        self.rng = rng
        self.crowd = crowd
        self.queue = queue
        self.events: list = []
        self.seq = 0
        self.answers: list[tuple] = []  # (id, account, task, claimed, submitted, answer)
        self.claims: list[fraud.Claim] = []
        self.presence: dict[tuple, list[float]] = {}

    def at(self, t: float, fn, *args) -> None:
        self.seq += 1
        heapq.heappush(self.events, (t, self.seq, fn, args))

    def run(self) -> None:
        for actor in self.crowd.actors:
            if actor.sessions:
                self.at(actor.sessions[0].start, self.ask, actor)
        while self.events:
            t, _seq, fn, args = heapq.heappop(self.events)
            fn(t, *args)

    def seen(self, actor: Actor, account: int, device: str, t: float) -> None:
        session = actor.sessions[actor.index]
        key = (account, actor.id, actor.index, device, session.ip_at(t))
        span = self.presence.get(key)
        if span is None:
            self.presence[key] = [t, t]
        else:
            span[1] = max(span[1], t)

    def next_ask(self, actor: Actor, t: float) -> None:
        gap = self.rng.uniform(0.3, 2.0)
        if self.rng.random() < 0.03:
            gap += self.rng.uniform(10, 180)  # a pause
        self.at(t + gap, self.ask, actor)

    def ask(self, t: float, actor: Actor) -> None:
        session = actor.sessions[actor.index]
        if t >= session.end:
            if actor.copier is None and self.rng.random() < 0.03:
                # Closed the app with a task still claimed: it expires.
                task = self.queue.claim(session.set_at(t), actor.account)
                self.seen(actor, actor.account, session.device, t)
                self.at(t + TIME_LIMIT, self.release, task, actor.account, "expired")
            actor.index += 1
            if actor.index < len(actor.sessions):
                self.at(max(t, actor.sessions[actor.index].start), self.ask, actor)
            else:
                actor.index -= 1  # keep a valid index for late events
                actor.done = True
            return
        set_id = session.set_at(t)
        bset = self.queue.sets[set_id]
        task = self.queue.claim(set_id, actor.account)
        self.seen(actor, actor.account, session.device, t)
        outcome, done, answer = self.decide(actor.persona, bset, task, t)
        self.finish(actor, actor.account, session.device, task, outcome, t, done, answer)
        if actor.copier is not None:
            delay = self.rng.uniform(0.2, 2.0)
            self.at(t + delay, self.copier_claim, actor, task, outcome, done, answer)
            return
        if outcome == "expired":
            # Away (a call, a power cut): back after the claim has lapsed.
            self.at(done + self.rng.uniform(30, 900), self.ask, actor)
        else:
            self.next_ask(actor, done)

    def decide(self, persona: Persona, bset: BenchSet, task: Task, t: float):
        r = self.rng
        if not task.is_gold and r.random() < persona.skip:
            return "skipped", t + r.uniform(2, 10), None
        if bset.kind == "transcription" and r.random() < 0.005:
            return "reported", t + r.uniform(3, 15), None
        if persona.role == "honest" and r.random() < 0.002:
            return "expired", t + TIME_LIMIT, None
        return "answered", t + duration(r, persona, bset.kind), answer_for(r, persona, bset, task)

    def finish(self, actor, account, device, task, outcome, t, done, answer) -> None:
        if outcome == "answered":
            self.at(done, self.submit, actor, account, device, task, t, answer)
        else:
            self.at(done, self.release, task, account, outcome)
            if outcome != "expired":
                self.at(done, lambda when, *a: self.seen(*a, when), actor, account, device)

    def submit(self, t, actor, account, device, task, claimed, answer) -> None:
        task.active -= 1
        task.submitted += 1
        self.answers.append((len(self.answers) + 1, account, task, claimed, t, answer))
        self.claims.append(fraud.Claim(account, "answered"))
        self.seen(actor, account, device, t)

    def release(self, t, task, account, outcome) -> None:
        task.active -= 1
        self.claims.append(fraud.Claim(account, outcome))

    def copier_claim(self, t, actor, leader_task, leader_outcome, leader_done, leader_answer):
        """The copier taps "next" a moment after the leader. Same task: types the leader's
        answer a few seconds after it; another task: answers it alongside, quickly."""
        session = actor.sessions[actor.index]
        device = actor.copier_device
        account = actor.copier_account
        bset = self.queue.sets[session.set_at(t)]
        task = self.queue.claim(bset.id, account)
        self.seen(actor, account, device, t)
        if task is leader_task and leader_outcome == "answered":
            outcome, done, answer = "answered", leader_done + self.rng.uniform(2, 15), leader_answer
        elif task is leader_task:
            outcome, done, answer = "skipped", t + self.rng.uniform(1, 4), None
        else:
            outcome, done, answer = self.decide(actor.copier, bset, task, t)
            if outcome == "answered":
                done = max(done, leader_done + self.rng.uniform(1, 8))
        self.finish(actor, account, device, task, outcome, t, done, answer)
        self.next_ask(actor, max(done, leader_done))

    # rows for find_all

    def rows(self, crowd: Crowd):
        sets = {sid: s.info for sid, s in self.queue.sets.items()}
        by_task = defaultdict(list)
        for row in self.answers:
            by_task[row[2].id].append(row)
        # Weights: each worker's smoothed gold pass rate, as reputation would have it.
        gold_tally = defaultdict(lambda: [0, 0])
        credits = {}
        for row in self.answers:
            task = row[2]
            if task.is_gold:
                info = sets[task.set_id]
                credit = scoring.credit_permille(info, row[5], task.truth)
                credits[row[0]] = credit
                gold_tally[row[1]][0] += scoring.passes(info, credit)
                gold_tally[row[1]][1] += 1
        weight = {w: (p + 1) / (n + 2) for w, (p, n) in gold_tally.items()}
        references = {}
        for task_id, rows in by_task.items():
            task = rows[0][2]
            if task.is_gold:
                references[task_id] = task.truth
            elif len(rows) >= ANSWERS_PER_TASK:
                references[task_id] = consensus(
                    self.queue.sets[task.set_id], rows, [weight.get(r[1], 0.5) for r in rows]
                )
        answers = [
            fraud.Answer(
                id=aid,
                worker_id=account,
                task_id=task.id,
                set_id=task.set_id,
                is_gold=task.is_gold,
                claimed_at=START + timedelta(seconds=claimed),
                submitted_at=START + timedelta(seconds=submitted),
                answer=answer,
                reference=references.get(task.id),
                gold_credit_permille=credits.get(aid),
            )
            for aid, account, task, claimed, submitted, answer in self.answers
        ]
        presences = []
        for (account, _actor, _index, device, ip), (first, last) in self.presence.items():
            # The socket's row is stamped at most once a minute while messages flow.
            last = max(first, last - self.rng.uniform(0, 60))
            presences.append(
                fraud.Presence(
                    account,
                    device,
                    ip,
                    START + timedelta(seconds=first),
                    START + timedelta(seconds=last),
                )
            )
        centre_of = {a.id: a.centre for a in crowd.accounts.values()}
        payout_keys = {a.id: a.payout for a in crowd.accounts.values()}
        return answers, sets, presences, centre_of, payout_keys, weight


def consensus(bset: BenchSet, rows, weights):
    if bset.kind == "label":
        score = defaultdict(float)
        for row, w in zip(rows, weights, strict=True):
            score[row[5]] += w
        best = max(score.values())
        return next(row[5] for row in rows if score[row[5]] == best)
    if bset.kind == "multilabel":
        total = sum(weights)
        return [
            tag
            for tag in bset.options
            if sum(w for row, w in zip(rows, weights, strict=True) if tag in row[5]) > total / 2
        ]
    texts = [scoring.normalised(bset.info, row[5]) for row in rows]
    return transcription_consensus(texts, weights)[0]


# --- Scoring -----------------------------------------------------------------------------


def simulate(*, seed: int, workers: int, days: int, per_type: int) -> dict:
    args = argparse.Namespace(seed=seed, workers=workers, days=days, per_type=per_type)
    rng = random.Random(seed)
    sets = make_sets()
    crowd = Crowd(args, rng, sets)
    crowd.build()
    queue = Queue(sets, random.Random(seed + 1))
    began = time.perf_counter()
    sim = Simulation(args, random.Random(seed + 2), crowd, queue)
    sim.run()
    answers, set_infos, presences, centre_of, payout_keys, weight = sim.rows(crowd)
    simulated = time.perf_counter() - began
    centre_ranges = fraud.parse_ranges("\n".join(CENTRE_RANGES.values()))
    began = time.perf_counter()
    findings = fraud.find_all(
        answers=answers,
        sets=set_infos,
        claims=sim.claims,
        presences=presences,
        centre_of=centre_of,
        centre_ranges=centre_ranges,
        payout_keys=payout_keys,
    )
    seconds = time.perf_counter() - began
    return score(crowd, answers, sim, findings, presences, weight) | {
        "seed": seed,
        "workers": workers,
        "days": days,
        "per_type": per_type,
        "find_all_seconds": seconds,
        "simulate_seconds": simulated,
        "rows": {
            "answers": len(answers),
            "claims": len(sim.claims),
            "presences": len(presences),
            "accounts": len(crowd.accounts),
            "tasks": len(queue.tasks),
            "findings": len(findings),
        },
    }


def score(crowd: Crowd, answers, sim, findings, presences, weight) -> dict:
    flagged: dict[int, set[str]] = defaultdict(set)
    pairs: dict[tuple[int, int], set[str]] = defaultdict(set)
    for f in findings:
        flagged[f.worker_id].add(f.signal)
        if f.other_worker_id is not None:
            flagged[f.other_worker_id].add(f.signal)
            pairs[tuple(sorted((f.worker_id, f.other_worker_id)))].add(f.signal)
    types = {}
    for fraud_type in FRAUD_TYPES:
        instances = crowd.instances[fraud_type]
        detected = anyway = 0
        missed = []
        for ids in instances:
            if fraud_type in PAIR_TYPES:
                hit = bool(pairs[tuple(sorted(ids))] & INTENDED[fraud_type])
            else:
                hit = bool(flagged[ids[0]] & INTENDED[fraud_type])
            detected += hit
            anyway += any(flagged[i] for i in ids)
            if not hit:
                missed.append(ids)
        types[fraud_type] = {
            "instances": len(instances),
            "detected": detected,
            "any": anyway,
            "recall": detected / len(instances) if instances else 1.0,
            "missed": missed,
        }
    per_account = Counter(a.worker_id for a in answers)
    # Honest workers with answers in the window (one who did not work cannot be flagged).
    honest = [a for a in crowd.accounts.values() if a.role == "honest" and per_account[a.id]]
    per_signal = Counter()
    for a in honest:
        for s in flagged[a.id]:
            per_signal[s] += 1
    flagged_honest = [a for a in honest if flagged[a.id]]
    groups = {}
    for tag in ("centre", "home_too", "cgnat", "switcher", "two_devices"):
        members = [a for a in honest if tag in a.tags]
        groups[tag] = (len(members), sum(1 for a in members if flagged[a.id]))
    centre_sharing = sum(
        1 for a in honest if "centre" in a.tags and flagged[a.id] & SHARING_SIGNALS
    )
    # Context: how much there was to see.
    gold_rates = [weight[a.id] for a in honest if a.id in weight and per_account[a.id] >= 20]
    copy_common = []
    by_task = defaultdict(dict)
    for a in answers:
        by_task[a.task_id][a.worker_id] = a
    for first, second in crowd.instances["copy_pair"]:
        common = [t for t in by_task.values() if first in t and second in t]
        same = sum(
            1
            for t in common
            if fraud.answer_key(crowd.sets[t[first].set_id].info, t[first].answer)
            == fraud.answer_key(crowd.sets[t[first].set_id].info, t[second].answer)
        )
        copy_common.append((len(common), same))
    return {
        "types": types,
        "honest": len(honest),
        "honest_flagged": len(flagged_honest),
        "fpr": len(flagged_honest) / len(honest) if honest else 0.0,
        "per_signal": dict(per_signal),
        "groups": groups,
        "centre_sharing": centre_sharing,
        "honest_answers_median": statistics.median(per_account[a.id] for a in honest),
        "honest_gold_rate_median": statistics.median(gold_rates) if gold_rates else 0.0,
        "copy_common": copy_common,
        "flagged_honest_detail": [
            (a.id, sorted(flagged[a.id]), sorted(a.tags)) for a in flagged_honest[:10]
        ],
        "findings_by_signal": dict(Counter(f.signal for f in findings)),
    }


def percent(x: float) -> str:
    return f"{100 * x:5.1f}%"


def report(result: dict, *, verbose: bool = False) -> None:
    rows = result["rows"]
    print("=" * 78)
    print(
        f"seed {result['seed']}: {result['workers']} honest workers, {result['per_type']} "
        f"instances per fraud type, {result['days']} days"
    )
    print(
        f"rows: {rows['answers']:,} answers, {rows['claims']:,} claims, "
        f"{rows['presences']:,} presences, {rows['accounts']:,} accounts, "
        f"{rows['tasks']:,} tasks; {rows['findings']} findings"
    )
    print(
        f"find_all: {result['find_all_seconds']:.2f} s "
        f"(simulation {result['simulate_seconds']:.1f} s); honest median "
        f"{result['honest_answers_median']:.0f} answers, smoothed gold pass "
        f"{percent(result['honest_gold_rate_median']).strip()}"
    )
    print()
    print(
        f"{'fraud type':<22}{'instances':>10}{'detected':>10}{'recall':>9}{'any signal':>12}   aim"
    )
    for fraud_type, t in result["types"].items():
        print(
            f"{fraud_type:<22}{t['instances']:>10}{t['detected']:>10}{percent(t['recall']):>9}"
            f"{t['any']:>12}   >= 90%"
        )
    common = result["copy_common"]
    if common:
        print(
            "  copy pairs' common tasks (median / min): "
            f"{statistics.median(c for c, _ in common):.0f} / {min(c for c, _ in common)}, "
            f"identical {statistics.median(s for _, s in common):.0f} / "
            f"{min(s for _, s in common)}"
        )
    print()
    print(f"honest workers with answers in the window: {result['honest']}")
    print(f"{'signal':<22}{'flagged':>10}{'rate':>9}   aim")
    for signal in SIGNALS:
        n = result["per_signal"].get(signal, 0)
        print(f"{signal:<22}{n:>10}{percent(n / result['honest']):>9}")
    print(f"{'any signal':<22}{result['honest_flagged']:>10}{percent(result['fpr']):>9}   <= 1%")
    groups = ", ".join(f"{tag} {flagged} of {n}" for tag, (n, flagged) in result["groups"].items())
    print(f"  flagged by group: {groups}")
    print(
        "honest centre workers flagged for sharing the centre's address or phones: "
        f"{result['centre_sharing']}   aim 0"
    )
    if verbose:
        for fraud_type, t in result["types"].items():
            if t["missed"]:
                print(f"  missed {fraud_type}: {t['missed']}")
        for detail in result["flagged_honest_detail"]:
            print(f"  honest flagged: {detail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--seeds", type=int, default=1, help="run this many seeds from --seed")
    parser.add_argument("--workers", type=int, default=200, help="honest workers")
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--per-type", type=int, default=12, help="instances of each fraud type")
    parser.add_argument("--verbose", action="store_true", help="list misses and honest flags")
    args = parser.parse_args()
    results = []
    for seed in range(args.seed, args.seed + args.seeds):
        result = simulate(seed=seed, workers=args.workers, days=args.days, per_type=args.per_type)
        report(result, verbose=args.verbose)
        results.append(result)
    if len(results) > 1:
        print("=" * 78)
        print(f"over {len(results)} seeds (min - max):")
        for fraud_type in FRAUD_TYPES:
            recalls = [r["types"][fraud_type]["recall"] for r in results]
            print(f"  {fraud_type:<22} recall {percent(min(recalls))} - {percent(max(recalls))}")
        fprs = [r["fpr"] for r in results]
        print(f"  {'honest any signal':<22} FPR    {percent(min(fprs))} - {percent(max(fprs))}")


if __name__ == "__main__":
    main()
