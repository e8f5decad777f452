"""Which vetted workers a set reaches: how many could work on it now, and why the rest
cannot. The requester reads it before publishing and on the set page; publishing
refuses a set that no vetted worker could ever reach (tasks.services.publish_task_set).

It asks tasks.work.closed_reason, the rule claims and broadcasts use, of every vetted
worker: no second copy of who may work on what."""

from collections import Counter
from dataclasses import dataclass, field

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from marketplace.models import Organization, WorkerProfile
from marketplace.skills import skill_name
from reputation.models import WorkerSkill
from reputation.services import skill_for
from tasks import work
from tasks.models import TaskSet

# Reasons a worker may yet get past: by passing training (when there is training they
# can take), after a cooldown, or by raising their score. The others (language, centre,
# required skill, already qualified for a training set) do not change by working.
_FOR_NOW = {work.CLOSED_COOLING_DOWN, work.CLOSED_BELOW_MINIMUM}


@dataclass(frozen=True)
class Reason:
    code: str  # a tasks.work.CLOSED_* code
    count: int  # vetted workers it keeps out
    text: str  # for the requester: what it is, and what would change it


@dataclass(frozen=True)
class Reach:
    vetted: int  # vetted workers with active accounts
    open_now: int  # of them, those the set is (or, published, would be) open to now
    could_later: int  # the rest who could get in: training, a cooldown, a better score
    reasons: list[Reason] = field(default_factory=list)

    @property
    def never(self) -> bool:
        """Nobody vetted could ever work on it. With no vetted worker at all the
        platform is just starting: that is no reason to refuse a set."""
        return self.vetted > 0 and self.open_now == 0 and self.could_later == 0

    @property
    def partial(self) -> bool:
        return self.open_now < self.vetted

    def summary(self) -> str:
        if self.vetted == 0:
            return _("There are no vetted workers yet.")
        return ngettext(
            "%(open)d of %(vetted)d vetted worker can work on this set now.",
            "%(open)d of %(vetted)d vetted workers can work on this set now.",
            self.vetted,
        ) % {"open": self.open_now, "vetted": self.vetted}

    def explanation(self) -> str:
        """The summary and every reason, one sentence: for errors and warnings."""
        return " ".join([self.summary(), *(reason.text for reason in self.reasons)])


def _vetted_profiles() -> list[WorkerProfile]:
    return list(
        WorkerProfile.objects.filter(status=WorkerProfile.Status.VETTED, user__is_active=True)
    )


def _standings(worker_ids: list[int], skills: set[str]) -> dict[int, dict[str, WorkerSkill]]:
    """Only the standings the sets read: one query, whatever the number of workers."""
    by_worker: dict[int, dict[str, WorkerSkill]] = {worker_id: {} for worker_id in worker_ids}
    for row in WorkerSkill.objects.filter(worker_id__in=worker_ids, skill__in=skills):
        by_worker[row.worker_id][row.skill] = row
    return by_worker


def _skills_read(task_set: TaskSet) -> set[str]:
    return {
        skill_for(task_set.kind, task_set.language),
        skill_for(task_set.kind, task_set.language, organization_id=task_set.organization_id),
    }


def _qualifying_sets(task_set: TaskSet) -> list[TaskSet]:
    """Published training that could let a worker in: the platform's training in the
    set's skill, and for a set that requires it (or an organization's test, whose
    takers need the platform's) its organization's own test."""
    training = TaskSet.objects.filter(
        status=TaskSet.Status.PUBLISHED, is_training=True, kind=task_set.kind
    ).exclude(pk=task_set.pk)
    if task_set.kind == TaskSet.Kind.TRANSCRIPTION:
        training = training.filter(language=task_set.language)
    return [
        candidate
        for candidate in training
        if not candidate.is_org_test or candidate.organization_id == task_set.organization_id
    ]


def reach_of(task_set: TaskSet) -> Reach:
    """Counts every vetted worker by tasks.work.closed_reason, as if the set were
    published. A worker not qualified yet could get in later only if training they can
    take (by the same rule) is published."""
    profiles = _vetted_profiles()
    qualifying = _qualifying_sets(task_set)
    skills = _skills_read(task_set).union(*(_skills_read(q) for q in qualifying))
    standings = _standings([p.user_id for p in profiles], skills)
    counts: Counter[str] = Counter()
    trainable: Counter[str] = Counter()
    open_now = could_later = 0
    for profile in profiles:
        mine = standings[profile.user_id]
        reason = work.closed_reason(task_set, profile, mine)
        if reason is None:
            open_now += 1
            continue
        counts[reason] += 1
        if reason in _FOR_NOW:
            could_later += 1
        elif reason in (work.CLOSED_NOT_QUALIFIED, work.CLOSED_ORG_TEST) and any(
            work.closed_reason(q, profile, mine) in (None, work.CLOSED_COOLING_DOWN)
            for q in qualifying
            if q.is_org_test == (reason == work.CLOSED_ORG_TEST)
        ):
            could_later += 1
            trainable[reason] += 1
    return Reach(
        vetted=len(profiles),
        open_now=open_now,
        could_later=could_later,
        reasons=[_reason(task_set, code, n, trainable[code]) for code, n in counts.most_common()],
    )


def _reason(task_set: TaskSet, code: str, count: int, trainable: int) -> Reason:
    # The platform skill the set exercises, named as on the worker's quality page.
    skill = skill_name(skill_for(task_set.kind, task_set.language))
    values = {"n": count, "skill": skill, "trainable": trainable}
    if code == work.CLOSED_LANGUAGE:
        values["language"] = task_set.language
        text = ngettext(
            "%(n)d does not read %(language)s.", "%(n)d do not read %(language)s.", count
        )
    elif code == work.CLOSED_CENTRE:
        values["centre"] = _centre_name(task_set)
        text = ngettext(
            "%(n)d is not enrolled by %(centre)s.", "%(n)d are not enrolled by %(centre)s.", count
        )
    elif code == work.CLOSED_REQUIRED_SKILL:
        values["skill"] = task_set.required_skill
        text = ngettext(
            "%(n)d does not have the skill %(skill)s.",
            "%(n)d do not have the skill %(skill)s.",
            count,
        )
    elif code == work.CLOSED_ALREADY_QUALIFIED:
        text = ngettext(
            "%(n)d is already qualified in %(skill)s.",
            "%(n)d are already qualified in %(skill)s.",
            count,
        )
    elif code == work.CLOSED_COOLING_DOWN:
        text = ngettext(
            "%(n)d failed training in %(skill)s recently and may try again later.",
            "%(n)d failed training in %(skill)s recently and may try again later.",
            count,
        )
    elif code == work.CLOSED_BELOW_MINIMUM:
        values["minimum"] = task_set.min_reputation_permille // 10
        text = ngettext(
            "%(n)d has a score in %(skill)s below the set's minimum (%(minimum)d%%).",
            "%(n)d have a score in %(skill)s below the set's minimum (%(minimum)d%%).",
            count,
        )
    elif code == work.CLOSED_ORG_TEST:
        text = (
            ngettext(
                "%(n)d has not passed your organization's own test in %(skill)s; it is open.",
                "%(n)d have not passed your organization's own test in %(skill)s; it is open.",
                count,
            )
            if trainable
            else ngettext(
                "%(n)d has not passed your organization's own test in %(skill)s, and no "
                "such test is published.",
                "%(n)d have not passed your organization's own test in %(skill)s, and no "
                "such test is published.",
                count,
            )
        )
    elif trainable:
        text = ngettext(
            "%(n)d is not qualified in %(skill)s yet: training for it is open "
            "(%(trainable)d can take it).",
            "%(n)d are not qualified in %(skill)s yet: training for it is open "
            "(%(trainable)d can take it).",
            count,
        )
    else:
        text = ngettext(
            "%(n)d is not qualified in %(skill)s yet, and there is no training for it they "
            "can take: ask the platform's staff to publish some.",
            "%(n)d are not qualified in %(skill)s yet, and there is no training for it they "
            "can take: ask the platform's staff to publish some.",
            count,
        )
    return Reason(code=code, count=count, text=text % values)


def _centre_name(task_set: TaskSet) -> str:
    centre = Organization.objects.filter(pk=task_set.centre_id).first()
    return centre.name if centre else str(task_set.centre_id)
