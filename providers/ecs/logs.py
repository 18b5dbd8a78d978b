"""A task's last log lines, from the CloudWatch Logs stream its awslogs driver writes."""

from __future__ import annotations

from console.errors import InvalidTarget, NotFound
from providers.ecs.client import EcsApi
from providers.ecs.errors import call
from providers.ecs.read import EcsReader
from providers.ecs.refs import td_key


def task_logs(api: EcsApi, reader: EcsReader, unit: str, lines: int = 50) -> tuple[str, ...]:
    """The last ``lines`` log lines of task ``unit``'s main container (awslogs driver).

    ECS's awslogs driver writes each container to the stream
    ``PREFIX/CONTAINER/TASK_ID`` of the group its ``logConfiguration`` names.
    ``NotFound`` when the task or its stream is gone; ``InvalidTarget`` when
    the container does not log to CloudWatch Logs.
    """
    cfg = api.cfg
    found = call(
        "ecs:DescribeTasks",
        f"reading task {unit} of {api.where}",
        api.ecs().describe_tasks,
        cluster=cfg.cluster,
        tasks=[unit],
    )
    tasks = found.get("tasks", [])
    if not tasks:
        raise NotFound(f"task {unit} not found in cluster {cfg.cluster}")
    task = tasks[0]
    td = reader.task_definition(str(task.get("taskDefinitionArn", "")))
    container = reader.main_or_first(td)
    name = str(container.get("name"))
    config = container.get("logConfiguration") or {}
    driver = config.get("logDriver", "")
    if driver != "awslogs":
        raise InvalidTarget(
            f"container {name} of {td_key(str(td['taskDefinitionArn']))} logs with "
            f"{driver or 'no log driver'}, not awslogs: its logs are not in CloudWatch Logs"
        )
    options = config.get("options") or {}
    group = str(options.get("awslogs-group", ""))
    prefix = str(options.get("awslogs-stream-prefix", ""))
    if not group or not prefix:
        raise InvalidTarget(
            f"container {name} has no awslogs-group / awslogs-stream-prefix: "
            "its log stream cannot be named"
        )
    task_id = str(task.get("taskArn", unit)).rsplit("/", 1)[-1]
    stream = f"{prefix}/{name}/{task_id}"
    region = str(options.get("awslogs-region") or cfg.region)
    missing = NotFound(f"log stream {stream} not found in {group} (nothing logged yet?)")
    events = call(
        "logs:GetLogEvents",
        f"reading {group}/{stream}",
        api.client("logs", region).get_log_events,
        missing={"ResourceNotFoundException": missing},
        logGroupName=group,
        logStreamName=stream,
        limit=max(1, lines),
        startFromHead=False,
    )
    return tuple(str(e.get("message", "")).rstrip("\n") for e in events.get("events", []))[-lines:]
