"""How a standing's skill is named on the worker's pages: never a raw key."""

from reputation.services import skill_for
from reputation.views import skill_name


def test_a_platform_skill_is_named_by_its_kind_and_language():
    assert skill_name("transcription:km") == "Transcription (Khmer)"
    assert skill_name("multilabel") == "Multi-label"


def test_an_organizations_own_test_is_named_with_its_organization(requester_org):
    skill = skill_for("label", organization_id=requester_org.pk)

    name = skill_name(skill)

    assert "@org:" not in name
    assert name == f"Labelling: {requester_org.name}'s own test"
