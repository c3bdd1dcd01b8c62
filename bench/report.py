"""The Markdown table of a benchmark run (bench/results/latest.md)."""

from __future__ import annotations

from typing import Any


def _f(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def markdown(r: dict[str, Any]) -> str:
    m = r["machine"]
    lines = [
        f"# Benchmark {r['when']}",
        "",
        f"{r['subjects']:,} subjects imported, {r.get('demo_subjects', r['subjects']):,} with"
        f" history behind the worklist, at {r['sites']} sites; {m['cores']} cores ({m['cpu']}),"
        f" {m['memory_gb']} GB, Python {m['python']}. Total {r['seconds'] / 60:.1f} min.",
        "",
        "| measure | value | baseline | ratio (target) |",
        "| --- | --- | --- | --- |",
    ]
    e = r.get("expansion")
    if e:
        lines.append(
            f"| 1. expansion, µs/subject ({e['visits'] / e['subjects']:.1f} visits) |"
            f" {_f(e['engine_us_per_subject'])} | {_f(e['raw_us_per_subject'])} dateutil |"
            f" {e['ratio']:.2f} (≥ 0.5) |")
    for name in ("sqlite", "postgresql"):
        b = r.get(name)
        if not b:
            continue
        lines.append(f"| **{name}** | | | |")
        if "import" in b:
            lines += _import(b["import"])
        if "demo" in b:
            lines.append(
                f"| demo data: {b['demo']['subjects']:,} subjects, {b['demo']['visits']:,}"
                f" visits | {_f(b['demo']['seconds'])} s | | |")
        if "http" in b:
            lines += _http(b["http"])
        dig = b.get("digest")
        if dig:
            lines.append(
                f"| 5. digest, {dig['sites']} sites ({_f(dig.get('rows'))} rows, of which"
                f" {_f(dig.get('newly_missed'))} newly missed): total s; per site ms mean/p95 |"
                f" {_f(dig['total_s'], 2)}; {_f(dig['per_site_ms_mean'])} /"
                f" {_f(dig['per_site_ms_p95'])} | | < 5 s |")
        rep = b.get("reports")
        if rep:
            lines += [
                f"| 8. compliance report, every study ({_f(rep['visits'])} visits): s |"
                f" {_f(rep['compliance_s'], 2)} | raw SQL GROUP BY {_f(rep['raw_s'], 2)} s"
                f" (counts {'agree' if rep['agree'] else 'DIFFER'}) | {rep['ratio']:.2f} |",
                f"| 8. endpoint report, every study ({_f(rep['subjects'])} subjects): s |"
                f" {_f(rep['endpoints_s'], 2)} | | |",
            ]
        small = b.get("import", {}).get("import_small")
        if small:
            big = b["import"]["import"]
            lines.append(
                f"| 6. import peak RSS: {small['subjects']:,} vs {big['subjects']:,} subjects"
                f" ({_f(small['file_mb'])} vs {_f(big['file_mb'])} MB of CSV) |"
                f" {_f(small['peak_rss_mb'], 0)} MB vs {_f(big['peak_rss_mb'], 0)} MB | |"
                " independent of size |")
        lines += _export_lines(b.get("export"))
        done = b.get("completion")
        if done:
            ours, base = done["followup"], done["minimal"]
            lines.append(
                f"| 9. visit completion, 1 client: completions/s (median of rounds); p50/p95 ms;"
                f" server CPU ms per completion"
                f" | {_f(ours['per_s'], 0)}; {_f(ours['p50_ms'])} / {_f(ours['p95_ms'])};"
                f" {_f(ours.get('cpu_ms'), 2)} |"
                f" {_f(base['per_s'], 0)}; {_f(base['p50_ms'])} / {_f(base['p95_ms'])};"
                f" {_f(base.get('cpu_ms'), 2)} raw SQL | {done['ratio']:.2f} (≥ 0.5) |")
        amended = b.get("amendment")
        if amended:
            imp, app = amended["import"], amended["apply"]
            lines.append(
                f"| 10. amendment applied to {amended['subjects']:,} subjects (`protocol apply"
                f" --all`): subjects/s, s | {_f(app['subjects_per_s'], 0)},"
                f" {_f(app['seconds'])} s | import of the same subjects"
                f" {_f(imp['subjects_per_s'], 0)}/s, {_f(imp['seconds'])} s |"
                f" {amended['ratio']:.3f} |")
    errors = sum(v.get("errors", 0) for name in ("sqlite", "postgresql") if name in r
                 for step in ("http", "completion") if step in r[name]
                 for v in r[name][step].values() if isinstance(v, dict))
    lines += ["", f"HTTP errors during the runs: {errors}.", ""]
    return "\n".join(lines)


def _import(imp: dict[str, Any]) -> list[str]:
    big = imp["import"]
    raw_rate = imp["raw"]["rows"] / imp["raw"]["seconds"]
    return [
        f"| 2. import {big['subjects']:,} subjects: subjects/s, visit rows/s |"
        f" {_f(big['subjects_per_s'], 0)}, {_f(big['visits_per_s'], 0)} |"
        f" raw executemany {_f(raw_rate, 0)} rows/s, {_f(imp['raw']['seconds'])} s vs"
        f" {_f(big['seconds'])} s | {imp['ratio']:.2f} (≥ 0.5) |",
    ]


def _http(http: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for key in sorted(k for k in http if k.startswith("followup_")):
        w = key.split("_")[1]
        ours, base = http[key], http[f"minimal_{w}"]
        lines += [
            f"| 3. worklist overdue, {w} worker(s): p50/p95/p99 ms, 1 client |"
            f" {_f(ours['p50_ms'])} / {_f(ours['p95_ms'])} / {_f(ours['p99_ms'])} |"
            f" {_f(base['p50_ms'])} / {_f(base['p95_ms'])} / {_f(base['p99_ms'])} raw SQL |"
            " p95 < 50 ms |",
            f"| 3. worklist overdue, {w} worker(s): req/s, 16 clients (median of rounds) |"
            f" {_f(ours['rps_16'], 0)} (p95 {_f(ours['p95_ms_16'])} ms) |"
            f" {_f(base['rps_16'], 0)} raw SQL | {http[f'ratio_{w}']:.2f} (≥ 0.5) |",
        ]
        missed, missed_base = http.get(f"followup-missed_{w}"), http.get(f"minimal-missed_{w}")
        if missed and missed_base:
            lines += [
                f"| 3. worklist missed, not documented, {w} worker(s): p50/p95/p99 ms,"
                f" 1 client | {_f(missed['p50_ms'])} / {_f(missed['p95_ms'])} /"
                f" {_f(missed['p99_ms'])} | {_f(missed_base['p50_ms'])} /"
                f" {_f(missed_base['p95_ms'])} / {_f(missed_base['p99_ms'])} raw SQL |"
                " p95 < 50 ms |",
                f"| 3. worklist missed, not documented, {w} worker(s): req/s, 16 clients"
                f" (median of rounds) | {_f(missed['rps_16'], 0)} (p95"
                f" {_f(missed['p95_ms_16'])} ms) | {_f(missed_base['rps_16'], 0)} raw SQL |"
                f" {http[f'ratio-missed_{w}']:.2f} (≥ 0.5) |",
            ]
        lines += [
            f"| 6. server peak RSS under load, {w} worker(s): largest process, all |"
            f" {_f(ours['peak_rss_mb'], 0)} MB, {_f(ours['peak_rss_total_mb'], 0)} MB |"
            " | < 300 MB |",
        ]
    cal = http["calendar"]
    lines.append(f"| 4. one subject's calendar: p50/p95 ms | {_f(cal['p50_ms'])} /"
                 f" {_f(cal['p95_ms'])} | | |")
    return lines


EXPORTS = (("csv", "CSV"), ("odm", "ODM 1.3.2"), ("sdtm", "SDTM SV and TV (ZIP of CSV and XPT v5)"),
           ("fhir", "HL7 FHIR R4"))


def _export_lines(export: dict[str, Any] | None) -> list[str]:
    """Step 7: each export's time against the raw dump's, and peak RSS at two sizes."""
    if not export:
        return []
    big, small = export["big"], export.get("small")
    raw = big["raw"]
    done = [(key, title) for key, title in EXPORTS if key in big]  # older runs lack some
    lines = [
        f"| 7. export {title}, {big['subjects']:,} subjects ({raw['rows']:,} visit rows):"
        f" s, MB | {_f(big[key]['seconds'])} s, {_f(big[key]['bytes'] / 2**20)} MB |"
        f" raw SQL dump {_f(raw['seconds'])} s, {_f(raw['bytes'] / 2**20)} MB |"
        f" {raw['seconds'] / big[key]['seconds']:.2f} |"
        for key, title in done
    ]
    if small:
        names = " / ".join([*(key.upper() for key, _ in done), "raw"])
        keys = [*(key for key, _ in done), "raw"]
        lines.append(
            f"| 7. export peak RSS {names}: {small['subjects']:,} vs {big['subjects']:,}"
            f" subjects | {' / '.join(_f(small[k]['peak_rss_mb'], 0) for k in keys)} MB vs"
            f" {' / '.join(_f(big[k]['peak_rss_mb'], 0) for k in keys)} MB | |"
            " independent of size |")
    return lines
