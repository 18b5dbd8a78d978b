"""Where the load balancer is and how to reach it: its config, its client, its commands.

One ``AlbApi`` is shared by every piece of the provider.  Reads are retried by
botocore (standard mode); a change (ModifyListener, ModifyRule) is sent
**once**: botocore would resend a request whose answer was lost, and the
part that sends it reads the listener back instead (``providers.alb.run``),
so a switch is never sent twice.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from console.aws import READ_TIMEOUT_S, AwsClients
from console.config import AlbConfig, ServiceConfig
from providers.aws_errors import aws_errors, call

#: A poll made while waiting gets at most a tenth of the wait's limit to be answered
#: (never less than this), and one attempt: the wait polls again by itself.
POLL_READ_TIMEOUT_MIN_S = 2.0


class AlbApi:
    """The service's ``[services.alb]`` section and the ELBv2 client (no I/O here)."""

    def __init__(self, service: ServiceConfig, cfg: AlbConfig) -> None:
        self.service = service
        self.cfg = cfg
        self.aws = AwsClients(cfg.region, cfg.profile, cfg.endpoint_url)
        #: Longest pause between two polls while waiting for the targets.
        self.poll_interval_s = 2.0

    @property
    def label(self) -> str:
        return self.service.label

    @property
    def where(self) -> str:
        """``rule …/9f3c of listener app/web-alb/…`` or ``listener …``: what the service is."""
        listener = self.cfg.listener_arn.split(":listener/", 1)[-1]
        if self.cfg.rule_arn:
            rule = self.cfg.rule_arn.rsplit("/", 1)[-1]
            return f"rule {rule} of listener {listener}"
        return f"listener {listener}"

    def elbv2(self, *, poll: bool = False, write: bool = False) -> Any:
        """The ELBv2 client: ``write`` one attempt (see the module doc), ``poll`` a short leash."""
        with aws_errors("elasticloadbalancing:client", "creating the AWS client"):
            if write:
                return self.aws.client("elbv2", max_attempts=1)
            if poll:
                timeout = min(
                    READ_TIMEOUT_S, max(POLL_READ_TIMEOUT_MIN_S, self.service.ready_timeout_s / 10)
                )
                return self.aws.client("elbv2", read_timeout_s=timeout, max_attempts=1)
            return self.aws.client("elbv2")

    def read(self, operation: str, doing: str, *, poll: bool = False, **kwargs: Any) -> Any:
        """One ELBv2 read (``DescribeListeners``...), its failure one ``ProviderError``."""
        client = self.elbv2(poll=poll)
        method = getattr(client, _snake(operation))
        return call(f"elasticloadbalancing:{operation}", doing, method, **kwargs)

    def command(self, operation: str, *args: str) -> str:
        """A copyable ``aws elbv2 OPERATION ...`` command reaching this load balancer."""
        return shlex.join(["aws", "elbv2", operation, *args, *self.aws.cli_flags()])

    def modify_command(self, actions_json: str) -> str:
        """``aws elbv2 modify-listener --default-actions …`` (a rule: ``modify-rule --actions``)."""
        if self.cfg.rule_arn:
            return self.command(
                "modify-rule", "--rule-arn", self.cfg.rule_arn, "--actions", actions_json
            )
        return self.command(
            "modify-listener",
            "--listener-arn",
            self.cfg.listener_arn,
            "--default-actions",
            actions_json,
        )

    def describe_command(self) -> str:
        """The command that shows where the listener (or rule) forwards now."""
        if self.cfg.rule_arn:
            return self.command("describe-rules", "--rule-arns", self.cfg.rule_arn)
        return self.command("describe-listeners", "--listener-arns", self.cfg.listener_arn)

    def modify_kwargs(self, actions: Sequence[Mapping[str, Any]]) -> tuple[str, dict[str, Any]]:
        """The operation and arguments that send ``actions``."""
        sent = [dict(a) for a in actions]
        if self.cfg.rule_arn:
            return "ModifyRule", {"RuleArn": self.cfg.rule_arn, "Actions": sent}
        return "ModifyListener", {"ListenerArn": self.cfg.listener_arn, "DefaultActions": sent}


def _snake(operation: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")
