"""The host provider's "What changes" (issue 14), on real git repositories and real folders.

git strategy: the commits a rollback takes away (``git log --oneline``, at most
20 named), ``git diff --shortstat``'s summary and the configuration files
changed, checked against git's own answers.  symlink strategy: two release
folders compared by size and content hash, the configuration files named.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from console.changes import with_changes
from console.model import Difference, Revision
from providers.host import diff
from providers.host.diff import folder_differences, is_config
from tests.providers.test_host import git, make_site, provider_for


def lines(found: tuple[Difference, ...]) -> list[str]:
    return [d.line() for d in found]


# --------------------------------------------------------------------------- git


def commit(repo: Path, message: str, files: dict[str, str | None]) -> str:
    """One commit writing (or, for None, deleting) ``files``; its full hash."""
    for name, text in files.items():
        path = repo / name
        if text is None:
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def new_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Release Bot")
    git(path, "config", "user.email", "release@example.invalid")
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """v1.0.0 (app, README, .env, config/app.toml), then 25 commits up to HEAD: the config
    changed, .env deleted, settings.yaml added, the README touched."""
    path = new_repo(tmp_path / "app")
    commit(
        path,
        "release v1.0.0",
        {
            "app.py": "print('v1.0.0')\n",
            "README.md": "# app\n",
            ".env": "LOG_LEVEL=info\n",
            "config/app.toml": "workers = 4\n",
        },
    )
    git(path, "tag", "v1.0.0")
    commit(path, "raise the workers", {"config/app.toml": "workers = 8\n"})
    commit(path, "settings move to yaml", {".env": None, "settings.yaml": "log: debug\n"})
    for n in range(22):
        commit(path, f"feature {n}", {"app.py": f"print('feature {n}')\n" * (n + 1)})
    commit(path, "release v1.1.0", {"README.md": "# app\n\nv1.1.0\n"})
    git(path, "tag", "v1.1.0")
    return path


def test_git_names_the_commits_rolled_back_the_diff_summary_and_the_config_files(
    repo: Path,
) -> None:
    provider = provider_for(repo.parent, strategy="git", repo=str(repo), history_limit=40)
    plan = provider.plan("v1.0.0")
    assert plan.from_revision is not None
    found = lines(provider.differences(plan.from_revision, plan.to_revision))

    # git's own answers, as an operator would type them.
    log = git(repo, "log", "--oneline", "--format=%h %s", "v1.0.0..v1.1.0").splitlines()
    assert len(log) == 25
    shortstat = git(repo, "diff", "--shortstat", "v1.1.0", "v1.0.0")
    assert shortstat.startswith("5 files changed")

    commits = [line for line in found if line.startswith("commit ")]
    assert commits == [f"commit {entry} (rolled back)" for entry in log[:20]]
    assert commits[0].endswith("release v1.1.0 (rolled back)")
    head, base = git(repo, "rev-parse", "v1.1.0"), git(repo, "rev-parse", "v1.0.0")
    assert f"5 more commit(s) rolled back (git log --oneline {base[:12]}..{head[:12]})" in found
    expected_files = shortstat.replace("5 files changed", "files: 5 changed")
    assert f"{expected_files} (v1.1.0 → v1.0.0)" in found
    # Configuration files by name, what the rollback does to each; other files are counted.
    assert [line for line in found if line.startswith("config ")] == [
        "config .env (only in v1.0.0)",
        "config config/app.toml (changed)",
        "config settings.yaml (only in v1.1.0)",
    ]
    assert not any("README" in line or "app.py" in line for line in found)


def test_git_target_off_the_live_history_lists_the_commits_it_brings_in(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "hotfix", "v1.0.0")
    commit(repo, "hotfix the workers", {"config/app.toml": "workers = 6\n"})
    git(repo, "tag", "v1.0.1")
    git(repo, "checkout", "-q", "main")
    provider = provider_for(repo.parent, strategy="git", repo=str(repo), history_limit=40)
    live = provider.snapshot().current
    assert live is not None and live.version == "v1.1.0"
    short = git(repo, "rev-parse", "--short", "v1.0.1")
    target = Revision(id=git(repo, "rev-parse", "v1.0.1"), version="v1.0.1")
    found = lines(provider.differences(live, target))
    assert f"commit {short} hotfix the workers (brought in: not in the live history)" in found
    assert sum(line.endswith("(rolled back)") for line in found) == 20


def test_a_git_object_that_cannot_be_read_is_one_could_not_compare_line(repo: Path) -> None:
    """A damaged repository (a blob of the target gone) never stops the plan: one line."""
    provider = provider_for(repo.parent, strategy="git", repo=str(repo), history_limit=40)
    plan = provider.plan("v1.0.0")
    blob = git(repo, "rev-parse", "v1.0.0:.env")
    (repo / ".git" / "objects" / blob[:2] / blob[2:]).unlink()

    completed = with_changes(plan, provider, None, lambda text: text)
    (only,) = completed.changes
    assert only.line().startswith("could not compare: `git -C ")
    assert "diff" in only.what and "\n" not in only.what
    assert completed.steps == plan.steps and completed.to_revision == plan.to_revision


# --------------------------------------------------------------------------- folders


def release(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


LIVE = Revision("v1.3.0", "v1.3.0")
TARGET = Revision("v1.2.9", "v1.2.9")


def test_release_folders_compare_by_size_then_content_and_name_the_config_files(
    tmp_path: Path,
) -> None:
    common = {"app.py": "print('hi')\n", "static/logo.svg": "<svg/>\n"}
    live = release(
        tmp_path / "v1.3.0",
        {
            **common,
            "config.toml": "workers = 8\n",  # same size as the target's: content decides
            "lib/core.py": "x = 1 + 1\n",
            "deploy/nginx.conf": "listen 80;\n",
            "new-feature.yaml": "enabled: true\n",
            "__pycache__/app.cpython-311.pyc": "live bytes",
            ".git/HEAD": "ref: refs/heads/main\n",
        },
    )
    target = release(
        tmp_path / "v1.2.9",
        {
            **common,
            "config.toml": "workers = 4\n",
            "lib/core.py": "x = 1\n",
            "deploy/nginx.conf": "listen 8080;\n",
            ".env": "LOG_LEVEL=info\n",
            "__pycache__/app.cpython-311.pyc": "other bytes",
        },
    )
    os.symlink("static/logo.svg", live / "logo")
    os.symlink("app.py", target / "logo")  # a link is compared by where it points

    found = lines(folder_differences(live, target, LIVE, TARGET))
    assert found == [
        "files: 4 changed, 1 only in v1.2.9, 1 only in v1.3.0 (2 the same)",
        "config .env (only in v1.2.9)",
        "config config.toml (changed)",
        "config deploy/nginx.conf (changed)",
        "config new-feature.yaml (only in v1.3.0)",
    ]


def test_identical_release_folders_say_none_differ(tmp_path: Path) -> None:
    live = release(tmp_path / "a", {"app.py": "same\n", "conf/x.ini": "[a]\n"})
    target = release(tmp_path / "b", {"app.py": "same\n", "conf/x.ini": "[a]\n"})
    assert lines(folder_differences(live, target, LIVE, TARGET)) == [
        "files: none differ (2 the same)"
    ]


def test_a_huge_release_is_not_walked_past_the_file_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(diff, "MAX_FILES", 50)
    live = release(tmp_path / "a", {f"node_modules/m{i}.js": "x" for i in range(60)})
    target = release(tmp_path / "b", {"app.js": "y"})
    assert lines(folder_differences(live, target, LIVE, TARGET)) == [
        "files: not compared (a release folder holds more than 50 files)"
    ]


def test_contents_past_the_read_budget_are_compared_by_size_and_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(diff, "MAX_HASH_BYTES", 40)
    live = release(tmp_path / "a", {"a.txt": "0123456789", "b.txt": "0123456789", "c": "1"})
    target = release(tmp_path / "b", {"a.txt": "9876543210", "b.txt": "0123456789", "c": "22"})
    # a.txt is hashed (20 bytes of budget), b.txt too (40), nothing is left after that.
    assert lines(folder_differences(live, target, LIVE, TARGET)) == [
        "files: 2 changed (1 the same)"
    ]
    monkeypatch.setattr(diff, "MAX_HASH_BYTES", 25)
    assert lines(folder_differences(live, target, LIVE, TARGET)) == [
        "files: 2 changed (1 the same; 1 compared by size only, past the 0 MiB read limit)"
    ]


def test_the_symlink_provider_compares_its_release_folders(tmp_path: Path) -> None:
    site = make_site(tmp_path / "site")
    (site / "releases" / "v1.2.9" / "app.env").write_text("A=1\n")
    (site / "releases" / "v1.2.9" / ".env").write_text("A=1\n")
    provider = provider_for(site)
    plan = provider.plan("v1.2.9")
    assert plan.from_revision is not None
    found = lines(provider.differences(plan.from_revision, plan.to_revision))
    assert found == [
        "files: 1 changed, 2 only in v1.2.9 (0 the same)",
        "config .env (only in v1.2.9)",
    ]


def test_a_release_folder_gone_since_the_plan_is_one_could_not_compare_line(
    tmp_path: Path,
) -> None:
    site = make_site(tmp_path / "site")
    provider = provider_for(site)
    plan = provider.plan(None)
    shutil.rmtree(site / "releases" / "v1.2.9")  # a clean-up job, between plan and compare
    (only,) = with_changes(plan, provider, None, lambda text: text).changes
    assert only.line() == (
        f"could not compare: release folder {site / 'releases' / 'v1.2.9'} "
        "is not a folder that can be read"
    )


@pytest.mark.parametrize(
    ("name", "config"),
    [
        (".env", True),
        (".env.production", True),
        ("deploy/app.toml", True),
        ("k8s/a.yaml", True),
        ("b.yml", True),
        ("nginx.conf", True),
        ("setup.ini", True),
        ("package.json", True),
        ("app.py", False),
        ("env", False),
        ("toml.md", False),
    ],
)
def test_config_files_are_known_by_their_name(name: str, config: bool) -> None:
    assert is_config(name) is config
