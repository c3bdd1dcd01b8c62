"""Which visits cover a visit that ``skip_within`` skips (``covered_by``).

A yearly long-term follow-up visit is not applicable while a main-schedule clinic visit
is dated close to its target, but a survival phone call in the same weeks does not
replace it. ``covered_by`` says which visits count: those of some phases, of some kinds,
or some named visits. A visit covers when it matches every list given (``{phases:
[main], kinds: [clinic]}``: a clinic visit of the main schedule). Without ``covered_by``
any visit without ``skip_within`` covers, as before the key existed.

The model checks the shape; :func:`check_covered_by` checks the names against the file.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from app.schedule.check_context import CheckContext, as_text, did_you_mean, entries
from app.schedule.names import Code, Strict

VisitKind = Literal["clinic", "phone", "procedure", "inpatient", "home"]

WITHOUT_SKIP = "covered_by applies to a visit with skip_within (it names the visits that cover it)"
MAIN_PHASE = "main"  # the phase code of the main schedule


class CoveredBy(Strict):
    phases: tuple[Code, ...] | None = Field(
        default=None,
        description='Phase codes whose visits cover ("main": the main schedule)',
    )
    kinds: tuple[VisitKind, ...] | None = Field(
        default=None, description="Visit kinds that cover (e.g. clinic)"
    )
    visits: tuple[Code, ...] | None = Field(
        default=None, description="Visit codes that cover (e.g. M12, M24)"
    )

    @model_validator(mode="after")
    def _some(self) -> CoveredBy:
        if self.phases is None and self.kinds is None and self.visits is None:
            raise ValueError("give at least one of phases, kinds or visits")
        if () in (self.phases, self.kinds, self.visits):
            raise ValueError("an empty list lets no visit cover (leave the key out to let any)")
        return self

    def covers(self, phase: str, kind: str, code: str) -> bool:
        """Whether a visit of this phase, kind and code covers (matches every list)."""
        return ((self.phases is None or phase in self.phases)
                and (self.kinds is None or kind in self.kinds)
                and (self.visits is None or code in self.visits))


def check_covered_by(ctx: CheckContext) -> None:
    """``covered_by`` comes with ``skip_within`` and names phases and visits that exist;
    a named visit with ``skip_within`` itself never covers, so it is refused too."""
    phases = {MAIN_PHASE} | {code for _, p in entries(ctx.root, "phases")
                             if (code := as_text(p.get("code"))) is not None}
    skipping = {code for e in ctx.visits if "skip_within" in e.raw for code in e.codes}
    for entry in ctx.visits:
        rule = entry.raw.get("covered_by")
        if rule is None:
            continue
        path = entry.path + ("covered_by",)
        if "skip_within" not in entry.raw:
            ctx.add(path, WITHOUT_SKIP)
        if not isinstance(rule, dict):
            continue
        named = rule.get("phases")
        for i, phase in enumerate(named if isinstance(named, list) else []):
            if as_text(phase) is not None and phase not in phases:
                ctx.add(path + ("phases", i),
                        f'unknown phase "{phase}"{did_you_mean(phase, phases)}; phases: '
                        f"{', '.join(sorted(phases))}")
        named = rule.get("visits")
        for i, code in enumerate(named if isinstance(named, list) else []):
            if as_text(code) is None:
                continue
            if code not in ctx.codes:
                ctx.add(path + ("visits", i),
                        f'unknown visit "{code}"{did_you_mean(code, ctx.codes)}')
            elif code in skipping:
                ctx.add(path + ("visits", i),
                        f"visit {code} has skip_within itself, so it never covers")
