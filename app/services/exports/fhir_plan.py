"""HL7 FHIR R4: the study, its sites and its schedule (one PlanDefinition per protocol
version), following the HL7 Clinical Study Schedule of Activities conventions.

Each anchor of the protocol (the infusion, the transplant ...) is an action ``anchor-<name>``;
each visit an action ``visit-<code>`` with one ``relatedAction`` to the action it is timed
from (its anchor, or the earlier visit): relationship ``after``, ``before`` or
``concurrent``, ``offsetDuration`` the distance (days, or calendar months), and the
acceptable range of that distance as the IG's ``AcceptableOffsetRangeSoa`` extension when
the distance is in days. The window itself (days before and after the target) is on every
visit action as the ``visit-window`` extension, which also holds for month offsets.
"""

from __future__ import annotations

from collections.abc import Iterable

from app.schedule.plan import MAIN_PHASE, VisitDef
from app.services.exports.fhir_base import (
    ACCEPTABLE_RANGE_EXT,
    CLINICALTRIALS_GOV,
    JSON,
    PLAN_TYPE,
    SITE_SYSTEM,
    STUDY_SYSTEM,
    WINDOW_EXT,
    Ref,
    Unit,
    days_range,
    duration,
    entry,
    fhir_id,
    visit_system,
)
from app.services.exports.rows import ExportScope, ExportSite, ExportVersion


def study_ref(scope: ExportScope) -> Ref:
    return Ref("ResearchStudy", fhir_id(scope.study))


def plan_ref(scope: ExportScope, version: str) -> Ref:
    return Ref("PlanDefinition", fhir_id(scope.study, version))


def location_ref(site: str) -> Ref:
    return Ref("Location", fhir_id(site))


def site_identifier(site: str) -> JSON:
    return {"system": SITE_SYSTEM, "value": site}


def location(site: ExportSite) -> JSON:
    return entry(location_ref(site.code), {
        "identifier": [site_identifier(site.code)], "status": "active", "name": site.name,
        "mode": "instance",
    })


def research_study(scope: ExportScope, versions: Iterable[ExportVersion],
                   sites: Iterable[ExportSite]) -> JSON:
    identifiers = [{"use": "official", "system": STUDY_SYSTEM, "value": scope.study}]
    if scope.registry_id:
        identifiers.append({"use": "secondary", "system": CLINICALTRIALS_GOV,
                            "value": scope.registry_id})
    return entry(study_ref(scope), {
        "identifier": identifiers,
        "title": scope.title,
        "protocol": [plan_ref(scope, v.version).reference(f"Protocol version {v.version}")
                     for v in versions],
        "status": "active",
        "site": [location_ref(s.code).reference(s.name) for s in sites],
    })


def anchor_action_id(anchor: str) -> str:
    return f"anchor-{anchor}"


def visit_action_id(code: str) -> str:
    return f"visit-{code}"


def related_action(visit: VisitDef) -> JSON:
    """The visit's distance from what it is timed from, with its acceptable range."""
    target = (visit_action_id(visit.after_visit) if visit.after_visit is not None
              else anchor_action_id(visit.anchor or ""))
    # The language resolves a time point to months or to days, never both.
    months, days = visit.offset.months, visit.offset.days
    amount, unit = (months, Unit.MONTH) if months else (days, Unit.DAY)
    out: JSON = {"actionId": target}
    if amount == 0:
        out["relationship"] = "concurrent"
        low, high = -visit.before_days, visit.after_days
    elif amount > 0:
        out["relationship"] = "after"
        out["offsetDuration"] = duration(amount, unit)
        low, high = amount - visit.before_days, amount + visit.after_days
    else:
        out["relationship"] = "before"
        out["offsetDuration"] = duration(-amount, unit)
        low, high = -amount - visit.after_days, -amount + visit.before_days
    if unit is Unit.DAY and (visit.before_days or visit.after_days):
        out["extension"] = [{"url": ACCEPTABLE_RANGE_EXT, "valueRange": days_range(low, high)}]
    return out


def visit_action(study: str, visit: VisitDef) -> JSON:
    notes = [visit.timing]
    if visit.phase != MAIN_PHASE:
        notes.append(f"phase {visit.phase}, only when it opens")
    if visit.assessments:
        notes.append("assessments: " + ", ".join(visit.assessments))
    action: JSON = {
        "id": visit_action_id(visit.code),
        "title": visit.name,
        "description": "; ".join(notes),
        "code": [{"coding": [{"system": visit_system(study), "code": visit.code,
                              "display": visit.name}]}],
        "requiredBehavior": "could" if visit.optional or visit.phase != MAIN_PHASE
        else "must",
        "relatedAction": [related_action(visit)],
    }
    if visit.before_days or visit.after_days:
        action["extension"] = [{"url": WINDOW_EXT,
                                "valueRange": days_range(-visit.before_days, visit.after_days)}]
    return action


def plan_definition(scope: ExportScope, version: ExportVersion) -> JSON:
    plan = version.plan
    labels = {a.name: a.label for a in plan.protocol.anchors}
    anchors = list(dict.fromkeys(v.anchor for v in plan.visits if v.anchor is not None))
    actions = [
        {"id": anchor_action_id(name), "title": labels.get(name, name),
         "description": f"Anchor {name}: the visits are timed from its date"}
        for name in anchors
    ] + [visit_action(scope.study, v) for v in plan.visits]
    return entry(plan_ref(scope, version.version), {
        "identifier": [{"system": STUDY_SYSTEM, "value": f"{scope.study}:{version.version}"}],
        "version": version.version,
        "name": fhir_id(scope.study, version.version).replace("-", "_").replace(".", "_"),
        "title": f"{scope.title}, schedule of activities (protocol version {version.version})",
        "type": {"coding": [{"system": PLAN_TYPE, "code": "clinical-protocol"}]},
        "status": "active",
        "date": version.loaded_at.date().isoformat(),
        "action": actions,
    })
