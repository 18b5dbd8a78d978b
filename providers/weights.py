"""Traffic shares in whole percents, for any provider that moves traffic in steps.

A *split* is ``[(key, percent), ...]`` adding up to 100 (a Cloud Run revision
or ``LATEST``, a load balancer's target group).  ``gradual_splits`` plans
runbook 004's 10% -> 50% -> 100%: the target gets each step's share and the
rest is spread over what serves now, in proportion to what it serves, in
whole percents adding up to 100 (``spread``).  Plain arithmetic, no SDK:
Cloud Run (``providers.cloudrun.traffic``) and the load balancer
(``providers.alb``) plan their gradual moves with the same rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

Split = list[tuple[str, int]]


def spread(shares: Mapping[str, int], total: int) -> Split:
    """``total`` percent spread over ``shares`` in proportion, whole numbers adding up exactly.

    Largest remainder first; ties go to the bigger share, then the name, so the
    result is the same every time.
    """
    weight = sum(shares.values())
    if total <= 0 or weight <= 0:
        return []
    exact = {key: total * share / weight for key, share in shares.items()}
    whole = {key: int(value) for key, value in exact.items()}
    left = total - sum(whole.values())
    order = sorted(shares, key=lambda k: (-(exact[k] - whole[k]), -shares[k], k))
    for key in order[:left]:
        whole[key] += 1
    return sorted(((k, v) for k, v in whole.items() if v > 0), key=lambda item: (-item[1], item[0]))


def gradual_splits(target: str, serving: Mapping[str, int], steps: Sequence[int]) -> list[Split]:
    """One split per step that gives ``target`` more than it has now; the last is 100%."""
    others = {k: v for k, v in serving.items() if k != target and v > 0}
    has = serving.get(target, 0)
    splits: list[Split] = []
    for percent in steps:
        if percent <= has:
            continue
        if percent >= 100 or not others:
            splits.append([(target, 100)])
            break
        splits.append([(target, percent), *spread(others, 100 - percent)])
    return splits
