"""Message templates in English and Japanese (``[console] language``).

The runbooks' wording lives here, not in code: ``start.*.md`` and
``completion.*.md`` are the team notifications of runbook 001
("ロールバック開始時" / "ロールバック完了時") with runbook 003's report fields
(対象環境, 対象サービス, ロールバック先), and ``postmortem.*.md`` is the draft of
runbook 001's ポストモーテム作成 with runbook 002's incident-report headings.
Templates are ``string.Template`` text: ``${name}`` is replaced, ``$$`` is a
dollar sign, and a value is never parsed again (a reason containing ``$`` or
``${x}`` stays as typed).  ``LABELS`` holds the short words the templates'
values are made of (outcomes, headlines, "not measured").
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from string import Template

LANGUAGES = ("en", "ja")

#: Per language: the words used inside template values.
LABELS: dict[str, dict[str, str]] = {
    "en": {
        "headline.rolled back and verified": "[Rollback complete: service recovered]",
        "headline.rolled back, not verified": "[Rollback done: recovery NOT verified]",
        "headline.rollback failed": "[Rollback FAILED]",
        "headline.aborted": "[Rollback aborted]",
        "headline.dry run": "[Dry run: nothing changed]",
        "headline.restored": "[Database restored from a backup]",
        "outcome.rolled back and verified": "service healthy and verified",
        "outcome.rolled back, not verified": "rolled back, recovery not verified",
        "outcome.rollback failed": "rollback failed",
        "outcome.aborted": "aborted before anything changed",
        "outcome.dry run": "dry run, nothing changed",
        "headline.not rolled back: the switch was undone": (
            "[NOT rolled back: the switch was undone]"
        ),
        "outcome.not rolled back: the switch was undone": (
            "not rolled back: the switch was undone after the console stopped"
        ),
        "outcome.restored": "database restored from a backup (no service verification)",
        "time.recovered": "Recovered",
        "time.finished": "Finished",
        "not measured": "not measured",
        "not recovered": "not recovered",
        "unknown": "(unknown)",
        "none": "(none)",
        "no events": "- (no events recorded)",
        "no checklist": "- (no checklist)",
        "undone_by": "Who will undo it: ",
    },
    "ja": {
        "headline.rolled back and verified": "【ロールバック完了・復旧】",
        "headline.rolled back, not verified": "【ロールバック完了・復旧未確認】",
        "headline.rollback failed": "【ロールバック失敗】",
        "headline.aborted": "【ロールバック中止】",
        "headline.dry run": "【ドライラン（変更なし）】",
        "headline.restored": "【データベース復元完了】",
        "outcome.rolled back and verified": "サービス正常稼働中（確認済み）",
        "outcome.rolled back, not verified": "ロールバック済み、正常性は未確認",
        "outcome.rollback failed": "ロールバック失敗",
        "outcome.aborted": "変更前に中止",
        "outcome.dry run": "ドライラン（変更なし）",
        "headline.not rolled back: the switch was undone": "【ロールバック未完了・切替が戻された】",
        "outcome.not rolled back: the switch was undone": (
            "切替がコンソール停止後に戻されたため未ロールバック"
        ),
        "outcome.restored": "バックアップから復元済み（サービスの正常性は未確認）",
        "action.rolled back and verified": "{action} 完了・正常性確認済み",
        "action.rolled back, not verified": "{action} 実施済み、正常性は未確認",
        "action.rollback failed": "{action} 失敗",
        "action.aborted": "{action} 中止（変更なし）",
        "action.dry run": "{action} ドライラン（変更なし）",
        "action.restored": "{action} 復元完了",
        "time.recovered": "復旧時刻",
        "time.finished": "終了時刻",
        "not measured": "未計測",
        "not recovered": "未復旧",
        "unknown": "（不明）",
        "none": "（なし）",
        "no events": "- （記録なし）",
        "no checklist": "- （チェックリストなし）",
        "undone_by": "ロールバックを打ち消しうるもの: ",
    },
}


def label(language: str, key: str) -> str:
    """The word for ``key`` in ``language``; English when the language lacks it."""
    return LABELS.get(language, LABELS["en"]).get(key) or LABELS["en"].get(key, key)


@cache
def load(name: str, language: str) -> Template:
    """The template ``<name>.<language>.md`` shipped with the console.

    ``ValueError`` names an unknown language; a missing file is a packaging
    bug and raises ``FileNotFoundError``.
    """
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r} (known: {', '.join(LANGUAGES)})")
    text = resources.files(__name__).joinpath(f"{name}.{language}.md").read_text("utf-8")
    return Template(text)
