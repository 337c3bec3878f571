"""Tenant quotas: what a user may make the platform mint and run (staff may exceed them).

A deployment's settings are checked against the platform's limits before anything is recorded
(400, naming the field): its reward base, the tokens one of its trainings may mint (its budget,
or base × rounds without one), each client's sample ceiling. The trainings a user has created or
running are counted under a lock on the user's row, in the transaction that records the new
ones, so two deployments sent at once cannot both slip under the limit (429).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework.exceptions import ValidationError

from backend.api.environment import quotas
from backend.api.models import TrainingResult
from kafkaml.rewards import format_token_amount, parse_token_amount, reward_budget
from kafkaml.services.api import QuotaExceeded

ACTIVE = (TrainingResult.Status.CREATED, TrainingResult.Status.RUNNING)


def check_settings(*, user, base: str, budget: str, rounds: int, clients: dict[str, int]) -> None:
    """Refuse (400, by field) a deployment whose money or ceilings exceed the platform's limits
    (``base`` and ``budget``: its reward base and budget, in tokens; an empty budget is base × rounds)."""
    if user.is_staff:
        return
    limits = quotas()
    errors: dict[str, list[str]] = {}
    if parse_token_amount(base) > limits.max_reward_base:
        errors["reward_base"] = [f"at most {format_token_amount(limits.max_reward_base)} tokens on this platform"]
    minted = reward_budget(budget, base, rounds)
    if minted > limits.max_reward_budget:
        what = "the reward budget" if budget else f"the reward base times {rounds} rounds (no budget set)"
        errors["reward_budget"] = [f"{what} is {format_token_amount(minted)} tokens; a training may mint at most "
                                   f"{format_token_amount(limits.max_reward_budget)} on this platform"]
    above = sorted(identity for identity, ceiling in clients.items() if ceiling > limits.max_sample_ceiling)
    if above:
        errors["clients"] = [f"the sample ceiling of {', '.join(above[:5])}{' ...' if len(above) > 5 else ''} is "
                             f"above this platform's limit of {limits.max_sample_ceiling}"]
    if errors:
        raise ValidationError(errors)


def reserve_trainings(*, user, count: int) -> None:
    """Within the transaction that records ``count`` new trainings of ``user``: 429 when they
    would take the user past the trainings it may have created or running at once."""
    if user.is_staff:
        return
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()  # one deployment at a time per user
    limit = quotas().max_running_trainings
    running = TrainingResult.objects.filter(owner=user, status__in=ACTIVE).count()
    if running + count > limit:
        raise QuotaExceeded(f"you have {running} training(s) created or running and this deployment adds {count}; "
                            f"at most {limit} at once on this platform: wait for one to end, or stop one")
