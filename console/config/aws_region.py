"""The AWS region when ``[services.ecs]`` names none: the standard chain, with its source.

The AWS CLI and the SDKs take the region from ``AWS_REGION``, then
``AWS_DEFAULT_REGION``, then the profile's ``region`` in the shared config
file (``~/.aws/config``, or ``$AWS_CONFIG_FILE``).  An operator whose shell
already works with ``aws ecs ...`` should not have to repeat it in the
console's config; and when that region is the wrong one, every message about
it says where it came from, so the fix is findable at 02:00.

botocore reads the config file (it knows its format and profile rules) when it
is installed; without it only the environment is read (the ECS provider
cannot run without it anyway, and the config says which extra installs it).
"""

from __future__ import annotations

from collections.abc import Mapping


def default_region(profile: str, env: Mapping[str, str]) -> tuple[str, str]:
    """``(region, where it came from)``, or ``("", what was looked at)`` when none is set."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if env.get(name, "").strip():
            return env[name].strip(), f"${name}"
    shown = f"profile {profile!r}" if profile else "the default profile"
    try:
        from botocore.exceptions import BotoCoreError
        from botocore.session import Session
    except ImportError:
        return "", "not in [services.ecs], $AWS_REGION nor $AWS_DEFAULT_REGION"
    try:
        session = Session(profile=profile or None)
        region = session.get_config_variable("region") or ""
        config_file = session.get_config_variable("config_file") or "~/.aws/config"
    except BotoCoreError as exc:  # an unknown profile, a config file that does not parse
        return "", f"not in [services.ecs], $AWS_REGION nor $AWS_DEFAULT_REGION, and {exc}"
    if region:
        return region, f"the region of {shown} in {config_file}"
    return "", (
        f"not in [services.ecs], $AWS_REGION, $AWS_DEFAULT_REGION nor {shown} in {config_file}"
    )
