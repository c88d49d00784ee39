"""Rules of the project module, each named after what it forbids."""

from __future__ import annotations

from cloudtaskhub.errors import Conflict, Forbidden, NotFound, PreconditionFailed, QuotaExceeded, RuleViolated

__all__ = [
    "AlreadyMember",
    "AssigneeNotMember",
    "MemberLimitReached",
    "MemberNotFound",
    "NotProjectManager",
    "NotProjectOwner",
    "OwnerCannotBeRemoved",
    "ProjectLimitReached",
    "ProjectNotFound",
    "StaleProject",
    "StaleTask",
    "TaskLimitReached",
    "TaskNotFound",
    "UnknownCursor",
    "UnregisteredEmail",
]


class ProjectNotFound(NotFound):
    """Also what a non-member gets: existence is not revealed."""

    template = "project not found"


class TaskNotFound(NotFound):
    template = "task not found"


class MemberNotFound(NotFound):
    template = "this user is not a member of the project"


class UnregisteredEmail(NotFound):
    template = "no registered user has the email {email}"


class AlreadyMember(Conflict):
    template = "{email} is already a member of this project"


class NotProjectOwner(Forbidden):
    template = "only the project owner may {action}"


class NotProjectManager(Forbidden):
    template = "only the project owner or an admin may {action}"


class OwnerCannotBeRemoved(Forbidden):
    template = "the project owner cannot be removed; delete the project instead"


class ProjectLimitReached(QuotaExceeded):
    template = "project limit reached: the {plan} plan allows {limit} projects; upgrade to create more"
    extensions = ("limit", "plan")


class MemberLimitReached(QuotaExceeded):
    template = "member limit reached: the owner's {plan} plan allows {limit} members per project"
    extensions = ("limit", "plan")


class TaskLimitReached(QuotaExceeded):
    template = (
        "task limit reached: the {plan} plan allows {limit} new tasks per billing period "
        "(this one ends {ends}); upgrade to create more now"
    )
    extensions = ("limit", "plan", "period_end")


class StaleProject(PreconditionFailed):
    template = "the project was changed by someone else (now version {current}); reload and retry"


class StaleTask(PreconditionFailed):
    template = "the task was changed by someone else (now version {current}); reload and retry"


class AssigneeNotMember(RuleViolated):
    def __init__(self) -> None:
        super().__init__(field="assignee_id", message="the assignee must be a member of the project")


class UnknownCursor(RuleViolated):
    def __init__(self) -> None:
        super().__init__(field="cursor", message="not a cursor this list issued (was the sort changed?)")
