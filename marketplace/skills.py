"""Skill keys as people read them. A skill is stored as a key ("multilabel",
"transcription:km", or an organization's own test "label@org:12"); every page,
notification and e-mail shows it through skill_name, in the reader's language."""

from django.utils.translation import get_language_info, gettext_lazy
from django.utils.translation import gettext as _

from marketplace.models import Organization

# The part of a skill key that names the organization whose own test it is.
ORG_SKILL_MARK = "@org:"

# Keyed by tasks.models.TaskSet.Kind values (this app sits below tasks).
KIND_NAMES = {
    "label": gettext_lazy("Labelling"),
    "multilabel": gettext_lazy("Multi-label"),
    "transcription": gettext_lazy("Transcription"),
}


def skill_name(skill: str) -> str:
    """ "transcription:km" -> "Transcription (Khmer)", in the reader's language; an
    organization's own test ("label@org:12") -> "Labelling: Demo Data Co's own test"."""
    skill, _mark, organization_id = skill.partition(ORG_SKILL_MARK)
    name = _platform_skill_name(skill)
    if not organization_id:
        return name
    organization = Organization.objects.filter(pk=organization_id).only("name").first()
    return _("%(skill)s: %(organization)s's own test") % {
        "skill": name,
        "organization": organization.name if organization else organization_id,
    }


def _platform_skill_name(skill: str) -> str:
    kind, _sep, language = skill.partition(":")
    name = str(KIND_NAMES.get(kind, kind))
    if not language:
        return name
    try:
        language_name = get_language_info(language)["name_translated"]
    except KeyError:
        language_name = language
    return f"{name} ({language_name})"
