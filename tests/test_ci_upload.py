"""The ``upload-to`` setting: which store a value names, and the URL reported for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyrelease.ci.artifact import Artifact
from pyrelease.ci.upload import Destination, UploadError, destination, object_url

ARTIFACT = Artifact(
    "demo", "1.2.3", "x86_64-unknown-linux-gnu", Path("/w/demo.tar.gz"), "0" * 64, 10
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", Destination("none")),
        ("none", Destination("none")),
        ("artifact", Destination("artifact")),
        ("github-release", Destination("store", "github://octo-org/service")),
        ("s3://bucket/prefix", Destination("store", "s3://bucket/prefix")),
        ("https://store.example/demo", Destination("store", "https://store.example/demo")),
        ("file:///srv/store", Destination("store", "file:///srv/store")),
        (" github://o/r ", Destination("store", "github://o/r")),
    ],
)
def test_upload_to_values(value: str, expected: Destination) -> None:
    assert destination(value, {"GITHUB_REPOSITORY": "octo-org/service"}) == expected


@pytest.mark.parametrize("value", ["artefact", "ftp://host/x", "s3://", "/srv/store"])
def test_a_value_it_does_not_know_says_what_it_takes(value: str) -> None:
    with pytest.raises(UploadError) as info:
        destination(value, {})
    assert "artifact, github-release, none" in info.value.message
    assert "s3://, https://, http://, file://, github://" in info.value.message


def test_github_release_needs_the_repository() -> None:
    with pytest.raises(UploadError) as info:
        destination("github-release", {})
    assert "GITHUB_REPOSITORY" in info.value.message


def test_reported_urls() -> None:
    name = "demo/1.2.3/demo-1.2.3-x86_64-unknown-linux-gnu.tar.gz"
    assert object_url("s3://b/p/", ARTIFACT, {}) == f"s3://b/p/{name}"
    assert object_url("https://h/r", ARTIFACT, {}) == f"https://h/r/{name}"
    assert object_url("github://o/r", ARTIFACT, {"GITHUB_SERVER_URL": "https://ghe.corp"}) == (
        "https://ghe.corp/o/r/releases/download/demo-1.2.3/demo-1.2.3-x86_64-unknown-linux-gnu.tar.gz"
    )
    assert object_url("github://o/r", ARTIFACT, {}).startswith("https://github.com/o/r/releases/")
