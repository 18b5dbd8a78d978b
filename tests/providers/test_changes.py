"""The shared pieces of "What changes" (``providers.changes``): names, cuts, masks."""

from __future__ import annotations

import pytest

from providers.changes import VALUE_LIMIT, changed, image_pair, looks_like_credential, shorten


@pytest.mark.parametrize(
    "name",
    [
        "DB_PASSWORD",
        "API_TOKEN",
        "SESSION_SECRET",
        "STRIPE_KEY",
        "SECRET_KEY_BASE",
        "dbPassword",
        "SENTRY_DSN",
        "GITHUB_PRIVATE_KEY",
        "AWS_CREDENTIALS",
    ],
)
def test_credential_names(name: str) -> None:
    assert looks_like_credential(name)


@pytest.mark.parametrize("name", ["LOG_LEVEL", "RELEASE", "KEYCLOAK_URL", "PASSTHROUGH", "PORT"])
def test_ordinary_names(name: str) -> None:
    assert not looks_like_credential(name)


def test_long_values_are_cut_where_they_first_differ() -> None:
    base = "x" * 200
    live, target = shorten(base + "-live-tail", base + "-target-tail")
    assert len(live) <= VALUE_LIMIT and len(target) <= VALUE_LIMIT
    assert live.startswith("…") and "-live" in live and "-target" in target
    assert shorten("short", "also short") == ("short", "also short")


def test_a_difference_only_in_a_masked_part_is_still_listed() -> None:
    (found,) = changed("env app CACHE_URL", "redis://u:pw-one@cache/0", "redis://u:pw-two@cache/0")
    assert found.live == found.target == "redis://u:***@cache/0"
    assert "not shown" in found.note
    assert changed("cpu", "256", "256") == []


def test_images_read_as_repo_and_tag_when_only_the_tag_moves() -> None:
    repo = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/web"
    assert image_pair(f"{repo}:v1.3.0", f"{repo}:v1.2.9") == ("web:v1.3.0", "web:v1.2.9")
    digest = "sha256:" + "ab" * 32
    assert image_pair(f"{repo}@{digest}", f"{repo}:v1") == ("web@sha256:abababababab", "web:v1")
    assert image_pair("a/web:v1", "b/web:v1") == ("a/web:v1", "b/web:v1")
