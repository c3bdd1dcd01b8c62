"""How `followup protocol` prints a diff and the impact of an amendment."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any

from app.schedule.amendment import ProtocolDiff
from app.schedule.impact import Dates, EndpointImpact, VisitImpact, iso_day
from app.services.amendments.preview import SubjectAmendment

IMPACT_COLUMNS = (
    "subject_id", "site", "from_version", "to_version", "blocked", "item", "code", "effects",
    "target_before", "window_start_before", "window_end_before", "target_after",
    "window_start_after", "window_end_after", "status_before", "status_after", "actual_date",
)


def diff_json(diff: ProtocolDiff) -> dict[str, Any]:
    amendment = diff.amendment
    return {
        "study": diff.study, "from": diff.from_version, "to": diff.to_version,
        "amendment": None if amendment is None else {
            "number": amendment.number, "date": amendment.approved.isoformat(),
            "summary": amendment.summary, "reconsent": amendment.reconsent,
            "consent_version": amendment.consent_version,
        },
        "changes": [
            {"section": c.section.value, "code": c.code, "change": c.kind.value,
             "field": c.field, "before": c.before, "after": c.after}
            for c in diff.changes
        ],
    }


def diff_table(diff: ProtocolDiff) -> str:
    lines = [f"{diff.study}: {diff.from_version} -> {diff.to_version}"]
    if diff.amendment is not None:
        a = diff.amendment
        consent = (f"; re-consent to version {a.consent_version or diff.to_version} required"
                   if a.reconsent else "")
        lines.append(f"amendment {a.number} of {a.approved.isoformat()}{consent}")
        lines.append(f"  {a.summary}")
    if not diff.changes:
        lines.append("no changes")
        return "\n".join(lines)
    rows = [("SECTION", "CODE", "CHANGE", "FIELD", "BEFORE", "AFTER")] + [
        (c.section.value, c.code, c.kind.value, c.field or "-", c.before or "-", c.after or "-")
        for c in diff.changes
    ]
    lines += _aligned(rows)
    return "\n".join(lines)


def _aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in rows]


def _dates(d: Dates | None) -> dict[str, str | None] | None:
    return None if d is None else d.record()


def _span(d: Dates | None) -> str:
    if d is None:
        return "-"
    if d.target is None:
        return "(undated)"
    window = ("" if d.window_start == d.window_end == d.target
              else f" [{iso_day(d.window_start)} .. {iso_day(d.window_end)}]")
    return f"{d.target.isoformat()}{window}"


def _items(a: SubjectAmendment) -> Iterable[tuple[str, VisitImpact | EndpointImpact]]:
    yield from (("visit", v) for v in a.impact.visits)
    yield from (("endpoint", e) for e in a.impact.endpoints)


def _states(item: VisitImpact | EndpointImpact) -> tuple[str | None, str | None]:
    pair: tuple[StrEnum | None, StrEnum | None] = (
        (item.state_before, item.state_after) if isinstance(item, VisitImpact)
        else (item.status_before, item.status_after))
    before, after = pair
    return (None if before is None else before.value, None if after is None else after.value)


def impact_json(amendments: Sequence[SubjectAmendment]) -> list[dict[str, Any]]:
    out = []
    for a in amendments:
        items = []
        for kind, item in _items(a):
            before, after = _states(item)
            items.append({
                "item": kind, "code": item.code, "effects": [e.value for e in item.effects],
                "before": _dates(item.before), "after": _dates(item.after),
                "status_before": before, "status_after": after,
                "actual_date": iso_day(item.actual_date) if isinstance(item, VisitImpact) else None,
            })
        out.append({"subject_id": a.subject_id, "site": a.site, "from": a.from_version,
                    "to": a.to_version, "blocked": a.impact.blocked, "changes": items})
    return out


def impact_rows(amendments: Sequence[SubjectAmendment]) -> list[dict[str, Any]]:
    """One CSV row per visit or endpoint window changed; one for a subject with none."""
    rows = []
    for a in amendments:
        head = {"subject_id": a.subject_id, "site": a.site, "from_version": a.from_version,
                "to_version": a.to_version, "blocked": a.impact.blocked or ""}
        items = list(_items(a))
        if not items:
            rows.append({**head, **dict.fromkeys(IMPACT_COLUMNS[5:], "")})
        for kind, item in items:
            before, after = _states(item)
            b, f = _dates(item.before) or {}, _dates(item.after) or {}
            rows.append({
                **head, "item": kind, "code": item.code,
                "effects": "+".join(e.value for e in item.effects),
                "target_before": b.get("target_date") or "",
                "window_start_before": b.get("window_start") or "",
                "window_end_before": b.get("window_end") or "",
                "target_after": f.get("target_date") or "",
                "window_start_after": f.get("window_start") or "",
                "window_end_after": f.get("window_end") or "",
                "status_before": before or "", "status_after": after or "",
                "actual_date": (iso_day(item.actual_date) or "")
                if isinstance(item, VisitImpact) else "",
            })
    return rows


def impact_table(amendments: Sequence[SubjectAmendment]) -> str:
    lines: list[str] = []
    for a in amendments:
        head = f"{a.subject_id} ({a.site}) {a.from_version} -> {a.to_version}"
        if a.already:
            lines.append(f"{head}: already on {a.to_version}")
            continue
        if a.impact.blocked:
            head += f": BLOCKED, {a.impact.blocked}"
        elif not a.impact.changes_anything:
            head += ": no visit changes"
        lines.append(head)
        rows = []
        for kind, item in _items(a):
            before, after = _states(item)
            state = before if before == after else f"{before or '-'} -> {after or '-'}"
            note = (f" (done {iso_day(item.actual_date)})"
                    if isinstance(item, VisitImpact) and item.actual_date else "")
            rows.append(("  " + ("" if kind == "visit" else "endpoint ") + item.code,
                         ", ".join(e.value for e in item.effects),
                         f"{_span(item.before)} -> {_span(item.after)}",
                         (state or "-") + note))
        if rows:
            lines += _aligned(rows)
    blocked = sum(1 for a in amendments if a.impact.blocked and not a.already)
    lines.append(f"{len(amendments)} subject(s); {blocked} blocked by a missing re-consent")
    return "\n".join(lines)
