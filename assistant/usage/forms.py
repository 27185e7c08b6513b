"""Forms of the usage pages: the report's period, and a group's AI policy (daily token budget
and model subset)."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib.auth.models import Group
from django.db import transaction

from ai_settings import audit
from ai_settings.current import CurrentSettings
from ai_settings.models import GroupAIPolicy
from assistant.usage.report import Period
from prompts.request_numbers import WholeNumberField
from prompts.users import User

MAX_DAYS = 366
MAX_POSITIVE = 2_147_483_647  # fits a PositiveIntegerField on every supported database
DEFAULT_PERIOD = "30"
CUSTOM = "custom"


class PeriodForm(forms.Form):
    period = forms.ChoiceField(
        label="Period",
        choices=[
            ("7", "Last 7 days"),
            ("30", "Last 30 days"),
            ("90", "Last 90 days"),
            (CUSTOM, "From … to …"),
        ],
    )
    start = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, data: Any = None, **kwargs: Any) -> None:
        # No query string at all: the default period, already valid.
        super().__init__(data or {"period": DEFAULT_PERIOD}, **kwargs)

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if cleaned.get("period") != CUSTOM:
            return cleaned
        start, end = cleaned.get("start"), cleaned.get("end")
        if not start and "start" not in self.errors:
            self.add_error("start", "Enter the first day of the period.")
        if not end and "end" not in self.errors:
            self.add_error("end", "Enter the last day of the period.")
        if start and end:
            if start > end:
                self.add_error("end", "The last day cannot be before the first day.")
            elif (end - start).days + 1 > MAX_DAYS:
                self.add_error("end", f"Choose at most {MAX_DAYS} days.")
        return cleaned

    def chosen_period(self) -> Period:
        """The period asked for, or the default one when the form has errors."""
        if not self.is_valid():
            return Period.last_days(int(DEFAULT_PERIOD))
        if self.cleaned_data["period"] == CUSTOM:
            return Period(self.cleaned_data["start"], self.cleaned_data["end"])
        return Period.last_days(int(self.cleaned_data["period"]))


ALL_MODELS, ONLY_THESE = "all", "only"


def policy_of(group: Group) -> GroupAIPolicy | None:
    try:
        return group.ai_policy
    except GroupAIPolicy.DoesNotExist:
        return None


def _describe_models(keys: list[str] | None) -> str:
    return "all allowed models" if keys is None else ", ".join(keys)


class GroupPolicyForm(forms.Form):
    """One group's daily budget override and model subset. Models stored for the group that
    are not allowed right now stay listed (and checked) so that saving does not drop them."""

    daily_token_budget = WholeNumberField(
        label="Daily token budget",
        required=False,
        min_value=1,
        max_value=MAX_POSITIVE,
        help_text="Tokens per member per day. Blank: the site-wide budget applies.",
    )
    model_access = forms.ChoiceField(
        label="Models",
        choices=[
            (ALL_MODELS, "All allowed models (no restriction)"),
            (ONLY_THESE, "Only these models"),
        ],
        widget=forms.RadioSelect,
    )
    models = forms.MultipleChoiceField(
        label="Models this group may use", required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(
        self, data: Any = None, *, group: Group, current: CurrentSettings, **kwargs: Any
    ) -> None:
        self.group = group
        policy = policy_of(group)
        self.old_budget = policy.daily_token_budget if policy else None
        self.old_models = policy.allowed_models if policy else None
        kwargs.setdefault(
            "initial",
            {
                "daily_token_budget": self.old_budget,
                "model_access": ALL_MODELS if self.old_models is None else ONLY_THESE,
                "models": self.old_models or [],
            },
        )
        super().__init__(data, prefix=f"group-{group.pk}", **kwargs)
        by_provider: dict[str, list[tuple[str, str]]] = {}
        for model in current.models:
            by_provider.setdefault(model.provider_label, []).append((model.key, model.display_name))
        allowed_now = {model.key for model in current.models}
        gone = [key for key in self.old_models or [] if key not in allowed_now]
        if gone:
            by_provider["Not allowed now"] = [(key, key) for key in gone]
        models_field = cast(forms.MultipleChoiceField, self.fields["models"])
        models_field.choices = list(by_provider.items())
        self.order = [key for choices in by_provider.values() for key, _ in choices]

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if cleaned.get("model_access") == ONLY_THESE and not cleaned.get("models"):
            self.add_error("models", "Pick at least one model, or choose “All allowed models”.")
        return cleaned

    def save(self, user: User) -> bool:
        """Store the policy and log what changed; True when something changed."""
        budget = self.cleaned_data["daily_token_budget"]
        models = None
        if self.cleaned_data["model_access"] == ONLY_THESE:
            chosen = set(self.cleaned_data["models"])
            models = [key for key in self.order if key in chosen]
        name = self.group.name
        changes = []
        if budget != self.old_budget:
            change = audit.number_change(self.old_budget, budget)
            changes.append(audit.entry(f"Group “{name}” daily token budget", change))
        if models != self.old_models:
            if models is None or self.old_models is None:
                change = f"{_describe_models(self.old_models)} → {_describe_models(models)}"
            else:
                change = audit.list_change(self.old_models, models)
            changes.append(audit.entry(f"Group “{name}” models", change))
        if not changes:
            return False
        with transaction.atomic():
            if budget is None and models is None:
                GroupAIPolicy.objects.filter(group=self.group).delete()
            else:
                GroupAIPolicy.objects.update_or_create(
                    group=self.group,
                    defaults={"daily_token_budget": budget, "allowed_models": models},
                )
            audit.record(user, changes)
        return True
