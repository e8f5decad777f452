import factory
from django.utils import timezone

from marketplace.models import Organization, User, WorkerProfile


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = "Test"
    last_name = factory.Sequence(lambda n: f"Person{n}")
    email = ""
    password = factory.django.Password("a-Strong-test-pass-42")


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organization {n}")
    slug = factory.LazyAttribute(lambda o: o.name.lower().replace(" ", "-"))
    kind = Organization.Kind.REQUESTER


class WorkerProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WorkerProfile

    user = factory.SubFactory(UserFactory)
    display_name = factory.LazyAttribute(lambda p: p.user.get_full_name())
    country = "KH"
    languages = factory.LazyFunction(lambda: ["km", "en"])
    eligibility = factory.LazyFunction(lambda: ["first_formal_job"])
    terms_version = "2026-11"
    consented_at = factory.LazyFunction(timezone.now)
    applied_at = factory.LazyFunction(timezone.now)
    status = WorkerProfile.Status.APPLIED
