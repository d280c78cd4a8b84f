"""Cursor pages of the long lists: licenses and a license's deliveries page by cursor, stay
stable while rows are added between fetches (even when rows share a timestamp), keep
`page_size`, still answer `page=N`, and show other organizations nothing."""

import hashlib
from datetime import UTC, datetime

import pytest

from licensing.models import Delivery
from licensing.services import build_deliveries, change_license_status, grant_license

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
LICENSES = "/api/v1/licenses/"
FILES = {f"data/part-{n}.csv": b"id,text\n%d,row %d\n" % (n, n) for n in range(1, 8)}


@pytest.fixture
def version(make_listing):
    return make_listing(files=FILES).version


@pytest.fixture
def grant(cast, version):
    """`grant(n)`: n more licenses of the buyer organization, all granted at the same instant."""
    made = []

    def make(count: int):
        for _ in range(count):
            made.append(
                grant_license(
                    organization=cast.buyer_org,
                    version=version,
                    terms={"permitted_uses": ["evaluation"], "price_minor": 0, "currency": "USD"},
                    source=f"test:{len(made)}",
                    now=NOW,
                )
            )
        return made

    return make


@pytest.fixture
def buyer_api(api_client, cast, key_for):
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.buyer_org)}")
    return api_client


def follow(client, url, params=None) -> list[dict]:
    """Every page from `url` on, by `next`; returns the pages' bodies."""
    pages = [client.get(url, params or {}).json()]
    while pages[-1]["next"]:
        pages.append(client.get(pages[-1]["next"]).json())
    return pages


def test_licenses_page_by_cursor_with_the_list_shape_and_page_size(buyer_api, grant):
    licenses = grant(5)
    first = buyer_api.get(LICENSES, {"page_size": 2})
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 5 and len(body["results"]) == 2
    assert "cursor=" in body["next"] and body["previous"] is None
    pages = follow(buyer_api, LICENSES, {"page_size": 2})
    ids = [item["id"] for page in pages for item in page["results"]]
    # Same instant for all: newest first falls back to the id, ascending, as the list always did.
    assert ids == sorted(license.pk for license in licenses)
    assert [len(page["results"]) for page in pages] == [2, 2, 1]


def test_license_pages_stay_stable_while_licenses_are_added_between_fetches(buyer_api, grant):
    before = {license.pk for license in grant(6)}
    first = buyer_api.get(LICENSES, {"page_size": 2}).json()
    seen = [item["id"] for item in first["results"]]
    following, fetches = first["next"], 0
    while following:
        if fetches < 2:
            grant(2)  # granted meanwhile, at the very same instant as the others
        page = buyer_api.get(following).json()
        seen += [item["id"] for item in page["results"]]
        following, fetches = page["next"], fetches + 1
    assert len(seen) == len(set(seen)), "a license was repeated"
    assert before <= set(seen), "a license was skipped"
    # Sharing the instant, the new ones sort after by id, so this walk met them too.
    assert len(seen) == 10


def test_newer_licenses_come_first_and_arrive_on_the_first_page_only(buyer_api, grant, cast):
    old = grant(3)
    first = buyer_api.get(LICENSES, {"page_size": 2}).json()
    newer = grant_license(
        organization=cast.buyer_org,
        version=old[0].version,
        terms=old[0].terms,
        source="test:newer",
        now=datetime(2026, 11, 21, tzinfo=UTC),
    )
    rest = buyer_api.get(first["next"]).json()
    assert newer.pk not in [item["id"] for item in first["results"] + rest["results"]]
    assert buyer_api.get(LICENSES).json()["results"][0]["id"] == newer.pk


def test_previous_leads_back_to_the_page_before(buyer_api, grant):
    grant(5)
    first = buyer_api.get(LICENSES, {"page_size": 2}).json()
    second = buyer_api.get(first["next"]).json()
    back = buyer_api.get(second["previous"]).json()
    assert [item["id"] for item in back["results"]] == [item["id"] for item in first["results"]]
    assert back["previous"] is None


def test_page_numbers_still_answer_the_nth_page_by_offset(buyer_api, grant):
    grant(5)
    ids = [item["id"] for item in buyer_api.get(LICENSES).json()["results"]]
    second = buyer_api.get(LICENSES, {"page": 2, "page_size": 2}).json()
    assert [item["id"] for item in second["results"]] == ids[2:4]
    assert "page=" not in second["next"] and "page=" not in second["previous"]
    third = buyer_api.get(second["next"]).json()
    assert [item["id"] for item in third["results"]] == ids[4:]
    assert [item["id"] for item in buyer_api.get(LICENSES, {"page": 1}).json()["results"]] == ids


@pytest.mark.parametrize("page", ["0", "-1", "abc", "²", "4", "99999999999999999999999"])
def test_a_page_past_the_end_or_not_a_number_answers_404_problem_json(buyer_api, grant, page):
    grant(5)
    response = buyer_api.get(LICENSES, {"page": page, "page_size": 2})
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("cursor", ["garbage", "eyJwIjoiMSJ9", "eyJwIjpbMSwyXX0=", "%%%"])
def test_an_unreadable_cursor_answers_404_problem_json(buyer_api, grant, cursor):
    grant(1)
    response = buyer_api.get(LICENSES, {"cursor": cursor})
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert "cursor" in response.json()["detail"].lower()


def test_page_size_is_capped_at_100(buyer_api, grant):
    grant(1)
    body = buyer_api.get(LICENSES, {"page_size": 1000}).json()
    assert body["count"] == 1 and len(body["results"]) == 1


def test_other_organizations_see_none_of_the_licenses(api_client, cast, key_for, grant):
    grant(3)
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.outsider_org)}")
    body = api_client.get(LICENSES, {"page_size": 1}).json()
    assert body == {"count": 0, "next": None, "previous": None, "results": []}


# --- A license's deliveries ---------------------------------------------------------------


@pytest.fixture
def delivered(grant):
    license = grant(1)[0]
    build_deliveries(license=license, now=NOW)
    return license


def deliveries_url(license) -> str:
    return f"{LICENSES}{license.pk}/deliveries/"


def test_deliveries_page_by_path_with_signed_links_matching_files(buyer_api, delivered):
    pages = follow(buyer_api, deliveries_url(delivered), {"page_size": 3})
    assert [len(page["results"]) for page in pages] == [3, 3, 1]
    assert all(page["count"] == 7 for page in pages)
    items = [item for page in pages for item in page["results"]]
    assert [item["path"] for item in items] == sorted(FILES)
    files = {
        item["path"]: item
        for item in buyer_api.get(f"{LICENSES}{delivered.pk}/files/").json()["files"]
    }
    for item in items:
        assert item["id"].startswith("dlv_")
        assert (item["sha256"], item["size"]) == (
            files[item["path"]]["sha256"],
            files[item["path"]]["size"],
        )
        download = buyer_api.get(item["download_url"])
        assert download.status_code == 200
        content = b"".join(download.streaming_content)
        assert hashlib.sha256(content).hexdigest() == item["sha256"]


def test_delivery_pages_stay_stable_while_deliveries_are_added(buyer_api, delivered):
    # Three files not yet delivered: they arrive between two page fetches.
    Delivery.objects.filter(
        license=delivered,
        data_file__path__in=["data/part-1.csv", "data/part-4.csv", "data/part-7.csv"],
    ).delete()
    first = buyer_api.get(deliveries_url(delivered), {"page_size": 2}).json()
    assert first["count"] == 4
    build_deliveries(license=delivered)
    seen = [item["path"] for item in first["results"]]
    following = first["next"]
    while following:
        page = buyer_api.get(following).json()
        seen += [item["path"] for item in page["results"]]
        following = page["next"]
    assert len(seen) == len(set(seen))
    assert {"data/part-2.csv", "data/part-3.csv", "data/part-5.csv", "data/part-6.csv"} <= set(seen)
    assert seen == sorted(seen)


def test_another_organization_gets_404_on_the_deliveries(api_client, cast, key_for, delivered):
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.outsider_org)}")
    response = api_client.get(deliveries_url(delivered))
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.creator_org)}")
    assert api_client.get(deliveries_url(delivered)).status_code == 404


def test_the_deliveries_of_a_suspended_license_answer_409(buyer_api, delivered):
    change_license_status(license=delivered, status="suspended", reason="Disputed.")
    response = buyer_api.get(deliveries_url(delivered))
    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"


def test_a_key_without_the_licenses_scope_gets_403_on_the_deliveries(
    api_client, cast, key_for, delivered
):
    api_client.credentials(
        HTTP_AUTHORIZATION=f"Api-Key {key_for(cast.buyer_org, ['catalog:read'])}"
    )
    assert api_client.get(deliveries_url(delivered)).status_code == 403


# --- Events: many share an instant (one transaction emits several) ------------------------


def walk_events_while_more_arrive(api_client, organization, raw_key) -> tuple[set, list]:
    from accounts.services import emit_event

    def emit(count):
        return {
            emit_event(organization=organization, type="order.paid", data={}, now=NOW).pk
            for _ in range(count)
        }

    before = emit(6)
    auth = {"HTTP_AUTHORIZATION": f"Api-Key {raw_key}"}
    page = api_client.get("/api/v1/events/", {"page_size": 2}, **auth).json()
    seen = [event["id"] for event in page["results"]]
    fetches = 0
    while page["next"]:
        if fetches < 2:
            emit(2)  # emitted meanwhile, at the same instant: newest first puts them in front
        page = api_client.get(page["next"], **auth).json()
        seen += [event["id"] for event in page["results"]]
        fetches += 1
    return before, seen


def test_event_pages_stay_stable_while_events_of_the_same_instant_arrive(api_client, cast, key_for):
    before, seen = walk_events_while_more_arrive(
        api_client, cast.buyer_org, key_for(cast.buyer_org, ["webhooks:manage"])
    )
    assert len(seen) == len(set(seen)), "an event was repeated"
    assert set(seen) == before, "an event was skipped, or a newer one slipped in"


def test_an_offset_cursor_would_repeat_events_that_share_an_instant(
    api_client, cast, key_for, monkeypatch
):
    """The twin: DRF's stock cursor keeps one field and an offset, and repeats rows here."""
    from rest_framework.pagination import CursorPagination

    from accounts.api import EventViewSet

    class OffsetCursor(CursorPagination):
        ordering = ("-created_at", "-id")
        page_size_query_param = "page_size"

    monkeypatch.setattr(EventViewSet, "pagination_class", OffsetCursor)
    _, seen = walk_events_while_more_arrive(
        api_client, cast.buyer_org, key_for(cast.buyer_org, ["webhooks:manage"])
    )
    assert len(seen) > len(set(seen))
