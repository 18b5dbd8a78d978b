"""A release folder's change cause: what it changed (its notes, its commit), not its path.

The Revisions column showed ``/srv/app/releases/v1.3.0`` for every release of
the host provider.  The change cause now comes from the folder's own notes
(``CHANGELOG.md`` and kin, Capistrano's ``REVISION``); the path is the
revision's detail.  Real folders, real files; the demo sandbox as the
console shows it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from console.config import load_config
from console.demo import CHANGES, build_sandbox
from console.model import Revision
from console.widgets.formatting import change_summary, image_label
from providers import load_provider
from providers.ecs.read import registered_by
from providers.host.release_notes import change_of


def release(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "releases" / "v1.3.0"
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        # Keep a Changelog: the title, the version heading, the section are skipped.
        (
            {
                "CHANGELOG.md": "# Changelog\n\n## [1.3.0] - 2026-01-15\n### Added\n"
                "- New one-page checkout flow (#482)\n\n## [1.2.9] - 2026-01-14\n- Cache\n"
            },
            "New one-page checkout flow (#482)",
        ),
        # A heading that says the change after the version.
        ({"CHANGELOG": "v1.3.0: new checkout flow\n\nv1.2.9: cache\n"}, "new checkout flow"),
        ({"RELEASE_NOTES.md": "\n\n* Faster search\n"}, "Faster search"),
        # Capistrano's REVISION: the commit the release was built from.
        ({"REVISION": "3f9a2c1d7e4b5a6978c0d1e2f3a4b5c6d7e8f9a0\n"}, "commit 3f9a2c1d7e4b"),
        # Notes win over the commit.
        ({"REVISION": "3f9a2c1d7e4b\n", "CHANGES.md": "- Hotfix\n"}, "Hotfix"),
        # Nothing said: nothing shown (never the path).
        ({"app.py": "print('hi')\n"}, ""),
        ({"REVISION": "not a commit\n"}, ""),
        ({"CHANGELOG.md": "# Changelog\n\n## v1.3.0\n"}, ""),
    ],
)
def test_change_of_a_release_folder(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    folder = release(tmp_path, files)
    assert change_of(folder, "v1.3.0", folder.stat().st_mtime) == expected


def test_a_long_note_is_kept_short(tmp_path: Path) -> None:
    folder = release(tmp_path, {"CHANGELOG.md": "- " + "word " * 60})
    note = change_of(folder, "v1.3.0", folder.stat().st_mtime)
    assert len(note) == 120 and note.endswith("…")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_notes_are_no_notes(tmp_path: Path) -> None:
    folder = release(tmp_path, {"CHANGELOG.md": "- Secret\n"})
    (folder / "CHANGELOG.md").chmod(0)
    assert change_of(folder, "v1.3.0", folder.stat().st_mtime) == ""


def test_the_demo_releases_say_what_they_changed(tmp_path: Path) -> None:
    """The Revisions column of ``make demo``: each release's change, the path in detail."""
    box = build_sandbox(tmp_path / "demo")
    snap = load_provider(load_config(box.config_path).service("web")).snapshot()
    assert [r.version for r in snap.revisions] == ["v1.3.0", "v1.2.9", "v1.2.8"]
    for rev in snap.revisions:
        assert rev.change_cause == CHANGES[rev.version]
        assert rev.detail == str(box.root.absolute() / "releases" / rev.id)
        assert change_summary(rev) == CHANGES[rev.version]


def test_change_summary_is_never_a_path() -> None:
    path_only = Revision("v1", "v1", detail="/srv/app/releases/v1")
    assert change_summary(path_only) == ""
    image = Revision("4", "v1.3.0", image="registry.example.com:5000/shop/web:v1.3.0")
    assert change_summary(image) == "image web:v1.3.0"
    cause = Revision("4", "v1.3.0", change_cause="deploy\n v1.3.0", image="web:v1.3.0")
    assert change_summary(cause) == "deploy v1.3.0"
    assert image_label("web@sha256:" + "a" * 64) == "web@sha256:aaaaaaaaaaaa…"


@pytest.mark.parametrize(
    ("arn", "expected"),
    [
        ("arn:aws:iam::123456789012:user/deployer", "registered by deployer"),
        ("arn:aws:iam::123456789012:role/ci/deploy-role", "registered by deploy-role"),
        ("arn:aws:sts::123456789012:assumed-role/ci-deploy/run-42", "registered by ci-deploy"),
        ("arn:aws:iam::123456789012:root", "registered by root"),
        ("", ""),
    ],
)
def test_ecs_change_cause_names_who_registered_it(arn: str, expected: str) -> None:
    assert registered_by(arn) == expected
