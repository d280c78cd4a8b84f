"""The shared cast: a creator organization, a buyer organization, a reviewer and an outsider."""

import importlib
from dataclasses import dataclass

import pytest
from django.apps import apps as django_apps
from django.core.files.base import ContentFile
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import Membership, Organization, User
from accounts.services import create_api_key
from config.celery import app as celery_app
from licensing.services import add_license_option
from marketplace.services import publish_listing
from provenance import services as provenance
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.helpers import IN_CI


def pytest_collection_modifyitems(config, items):
    # PostgreSQL-only tests run in CI's PostgreSQL pass; the SQLite pass leaves them out instead
    # of skipping them, so that in CI nothing is ever skipped.
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    if IN_CI and not on_postgres:
        selected = [item for item in items if "postgres" not in item.keywords]
        deselected = [item for item in items if "postgres" in item.keywords]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = selected


@pytest.fixture(autouse=True)
def _isolated_storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }
    settings.MEDIA_ROOT = str(tmp_path / "media")


DB_BLOCKER = pytest.StashKey()


def _is_transactional(item) -> bool:
    marker = item.get_closest_marker("django_db")
    marked = marker is not None and bool(
        marker.kwargs.get("transaction", marker.args[0] if marker.args else False)
    )
    return marked or {"transactional_db", "live_server"} & set(item.fixturenames) != set()


@pytest.fixture(autouse=True, scope="session")
def _keep_db_blocker(request, django_db_blocker):
    request.config.stash[DB_BLOCKER] = django_db_blocker


FLUSHES = pytest.StashKey()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    result = yield
    # Only a test whose fixtures were all set up has a database that its teardown flushes.
    item.stash[FLUSHES] = _is_transactional(item)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    # A transactional test ends by flushing every table, the rows data migrations wrote
    # included. Once its fixtures are torn down (the flush among them), put the standard
    # license templates back, so that whatever runs next sees a migrated database: pytest
    # reorders tests around parametrized session fixtures, so "transactional tests run last"
    # cannot be relied on.
    result = yield
    blocker = item.config.stash.get(DB_BLOCKER, None)
    # After the last test the session's fixtures are gone, the test database with them.
    if nextitem is not None and blocker is not None and item.stash.get(FLUSHES, False):
        migration = importlib.import_module("licensing.migrations.0002_add_standard_templates")
        with blocker.unblock():
            migration.add_templates(django_apps, None)
    return result


@pytest.fixture(autouse=True, scope="session")
def _eager_celery():
    # Unit tests run tasks in-process; tests/test_worker.py runs a real worker.
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture
def on_postgres():
    return connection.vendor == "postgresql"


@dataclass
class Cast:
    creator: User
    creator_member: User
    creator_org: Organization
    buyer: User
    buyer_org: Organization
    reviewer: User
    outsider: User
    outsider_org: Organization


@pytest.fixture
def cast(db) -> Cast:
    creator_org = OrganizationFactory(name="Creators", slug="creators", is_creator=True)
    buyer_org = OrganizationFactory(name="Buyers", slug="buyers", is_creator=False, is_buyer=True)
    outsider_org = OrganizationFactory(
        name="Outsiders", slug="outsiders", is_creator=True, is_buyer=True
    )
    creator = MembershipFactory(
        organization=creator_org, user=UserFactory(email="creator@example.test")
    ).user
    creator_member = MembershipFactory(
        organization=creator_org,
        user=UserFactory(email="member@example.test"),
        role=Membership.Role.MEMBER,
    ).user
    buyer = MembershipFactory(
        organization=buyer_org, user=UserFactory(email="buyer@example.test")
    ).user
    outsider = MembershipFactory(
        organization=outsider_org, user=UserFactory(email="outsider@example.test")
    ).user
    reviewer = UserFactory(email="reviewer@example.test", is_staff=True)
    return Cast(
        creator, creator_member, creator_org, buyer, buyer_org, reviewer, outsider, outsider_org
    )


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def key_for():
    """`key_for(organization, scopes)`: a raw API key of the organization's first owner."""

    def make(organization: Organization, scopes: list[str] | None = None) -> str:
        owner = Membership.objects.filter(organization=organization, role="owner").first().user
        return create_api_key(actor=owner, organization=organization, name="tests", scopes=scopes)[
            1
        ]

    return make


@pytest.fixture
def make_listing(cast):
    """`make_listing(title=..., ...)`: a dataset of the creator organization, ingested, approved and published."""

    def make(
        title: str = "Coastal tales",
        *,
        modality: str = "text",
        summary: str = "Tales from the coast.",
        description: str = "",
        languages=("en",),
        tags=(),
        files: dict | None = None,
        price_minor: int = 10_000,
        uses=("evaluation",),
        organization: Organization | None = None,
        actor: User | None = None,
        publish: bool = True,
    ):
        organization = organization or cast.creator_org
        actor = actor or cast.creator
        dataset = provenance.create_dataset(
            actor=actor,
            organization=organization,
            title=title,
            modality=modality,
            summary=summary,
            description=description,
            languages=list(languages),
            tags=list(tags),
        )
        version = dataset.versions.get()
        for path, content in (
            files or {"data/records.jsonl": b'{"text": "one"}\n{"text": "two"}\n'}
        ).items():
            provenance.add_file(
                actor=actor, version=version, path=path, content=ContentFile(content)
            )
        provenance.update_declaration(
            actor=actor,
            version=version,
            changes={
                "source_description": "Written by our members.",
                "collection_method": "Typed by hand.",
                "consent_basis": "own_work",
                "rights_holder": organization.name,
                "opt_out_status": "not_applicable",
            },
        )
        provenance.ingest_version(version_id=version.pk)
        version = provenance.submit_version(actor=actor, version=version)
        add_license_option(
            actor=actor,
            organization=organization,
            dataset=dataset,
            name="Standard",
            terms={"permitted_uses": list(uses), "price_minor": price_minor, "currency": "USD"},
        )
        if not publish:
            return version
        version = provenance.approve_version(
            actor=cast.reviewer, version=version, reason="Looks right."
        )
        return publish_listing(actor=cast.reviewer, version=version)

    return make


# --- Stripe: a real localstripe on a free port (checkout, issue 7) ---


@pytest.fixture(scope="session")
def localstripe_url():
    import subprocess
    import sys
    from pathlib import Path

    from tests.helpers import free_port, wait_for_port

    port = free_port()
    exe = Path(sys.executable).with_name("localstripe")
    proc = subprocess.Popen(
        [str(exe), "--port", str(port), "--from-scratch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def stripe_settings(settings, localstripe_url):
    """Settings pointing the Stripe gateway at the session's localstripe."""
    settings.STRIPE_SECRET_KEY = "sk_test_localstripe"
    settings.STRIPE_API_BASE = localstripe_url
    settings.STRIPE_WEBHOOK_SECRET = "whsec_tests"
    settings.STRIPE_TEST_MODE = True
    return settings
