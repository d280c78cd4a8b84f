import factory
from django.utils import timezone

from accounts.models import Membership, Organization, User
from licensing.models import LicenseOption
from provenance.models import Dataset, DatasetVersion, ProvenanceDeclaration

PASSWORD = "a-long-test-password"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.test")
    full_name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organization {n}")
    slug = factory.Sequence(lambda n: f"organization-{n}")
    is_creator = True
    is_buyer = False


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Membership.Role.OWNER


class DatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dataset

    organization = factory.SubFactory(OrganizationFactory)
    title = factory.Sequence(lambda n: f"Dataset {n}")
    slug = factory.Sequence(lambda n: f"dataset-{n}")
    summary = "A dataset for tests."
    modality = Dataset.Modality.TEXT
    languages = factory.LazyFunction(lambda: ["en"])


class DatasetVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DatasetVersion

    dataset = factory.SubFactory(DatasetFactory)
    number = factory.Sequence(lambda n: n + 1)
    created_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def declaration(obj, create, extracted, **kwargs):
        if create:
            ProvenanceDeclaration.objects.get_or_create(version=obj)


class LicenseOptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LicenseOption

    dataset = factory.SubFactory(DatasetFactory)
    name = "Evaluation only"
    permitted_uses = factory.LazyFunction(lambda: ["evaluation"])
    territories = factory.LazyFunction(lambda: ["worldwide"])
    price_minor = 10_000
    currency = "USD"
