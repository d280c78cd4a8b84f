import pytest
from django.core.files.base import ContentFile

from accounts.errors import Conflict, InvalidInput, PermissionDenied
from provenance.models import DataFile, DatasetVersion, FrozenVersionError
from provenance.services import add_file, create_dataset, normalize_member_path, submit_version


def test_an_approved_version_refuses_changes_to_its_files_and_root(make_listing):
    listing = make_listing("Frozen")
    version = DatasetVersion.objects.get(pk=listing.version.pk)
    version.merkle_root = "0" * 64
    with pytest.raises(FrozenVersionError):
        version.save()
    data_file = DataFile.objects.filter(version=version).first()
    data_file.sha256 = "f" * 64
    with pytest.raises(FrozenVersionError):
        data_file.save()
    with pytest.raises(FrozenVersionError):
        data_file.delete()
    with pytest.raises(FrozenVersionError):
        version.delete()


def test_submitting_needs_files_ingest_and_a_complete_declaration(cast):
    dataset = create_dataset(
        actor=cast.creator, organization=cast.creator_org, title="New", modality="text"
    )
    version = dataset.versions.get()
    with pytest.raises(Conflict, match="at least one file"):
        submit_version(actor=cast.creator, version=version)
    add_file(actor=cast.creator, version=version, path="a.jsonl", content=ContentFile(b'{"a":1}\n'))
    with pytest.raises(Conflict, match="processed"):
        submit_version(actor=cast.creator, version=version)


@pytest.mark.parametrize(
    "path", ["../etc/passwd", "/etc/passwd", "a/../../b", "C:/windows", "a\x00b", ""]
)
def test_unsafe_paths_are_refused(path):
    with pytest.raises(InvalidInput):
        normalize_member_path(path)


def test_paths_are_normalized():
    assert normalize_member_path("./a//b\\c.txt") == "a/b/c.txt"


def test_buyer_organizations_cannot_create_datasets(cast):
    with pytest.raises(PermissionDenied, match="creator organizations"):
        create_dataset(actor=cast.buyer, organization=cast.buyer_org, title="Nope", modality="text")
