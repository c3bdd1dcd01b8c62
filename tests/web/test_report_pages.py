"""The reports page: the hand-counted study of tests/helpers_reports.py in its tables and
chart, scoped to the signed-in token, its CSV downloads, and where it is linked from."""

from __future__ import annotations

import csv
import io
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.helpers_reports import REPORT_NOW, seed_report_study
from tests.helpers_subjects import MM, SLE, make_token
from tests.helpers_web import stand_at
from tests.web.helpers import sign_in

PAGE = f"/studies/{SLE}/reports"


@pytest.fixture
def tokens(session: Session, client: TestClient) -> dict[str, str]:
    seed_report_study(session)
    stand_at(client, REPORT_NOW)
    return {
        "monitor": make_token(session, "monitor", studies=[SLE], name="monitor-sle"),
        "mm-monitor": make_token(session, "monitor", studies=[MM], name="monitor-mm"),
        "nurse": make_token(session, "coordinator", ["YC3H"], name="coord-yc3h"),
    }


def row(html: str, table: str, **attrs: str) -> list[str]:
    """The cells of the row of ``table`` with these data- attributes."""
    part = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    marks = "".join(f' data-{k}="{v}"' for k, v in attrs.items())
    found = re.search(rf"<tr{re.escape(marks)}[^>]*>(.*?)</tr>", part, re.S)
    assert found, (table, attrs)
    return [" ".join(re.sub(r"<[^>]+>", " ", c).split())
            for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", found.group(1), re.S)]


def test_the_page_shows_the_hand_counts(client: TestClient, tokens: dict[str, str]) -> None:
    sign_in(client, tokens["monitor"])
    page = client.get(PAGE)
    assert page.status_code == 200
    html = page.text
    # Expected, in window, early, late, missed documented, not documented, overdue.
    assert row(html, "compliance-by-site", site="YC3H") == [
        "YC3H", "15", "8 (53.3%)", "1 (6.7%)", "2 (13.3%)", "1 (6.7%)", "1 (6.7%)",
        "2 (13.3%)"]
    assert row(html, "compliance-by-site", site="*")[:2] == ["All sites", "24"]
    assert row(html, "compliance-rows", site="WTCH", visit="D14")[2:] == [
        "2", "0 (0.0%)", "0 (0.0%)", "0 (0.0%)", "0 (0.0%)", "2 (100.0%)", "0 (0.0%)"]
    assert row(html, "compliance-rows", site="YC3H", visit="M9")[2:4] == ["0", "0"]
    # Met, open, scheduled, missed, pending, cancelled, met rate.
    assert row(html, "endpoints-rows", site="YC3H", code="DORIS@6 months")[2:] == [
        "1", "0", "0", "2", "1", "0", "33.3%"]
    assert row(html, "endpoints-by-time-point", code="DORIS@12 months")[1:] == [
        "0", "0", "5", "0", "1", "1", "–"]


def test_the_chart_draws_each_class_as_its_share(
    client: TestClient, tokens: dict[str, str]
) -> None:
    sign_in(client, tokens["monitor"])
    html = client.get(PAGE).text
    svg = html.split('<svg id="compliance-chart"', 1)[1].split("</svg>", 1)[0]
    assert "<script" not in html.split("</main>")[0].split("<main", 1)[1]
    wtch = svg.split('data-site="WTCH"', 1)[1].split("</g>", 1)[0]
    # WTCH: 9 expected, 3 in window, 1 early, 4 missed not documented, 1 overdue; the bar
    # is 440 wide from x=120.
    segments = re.findall(r'<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)" height="20" '
                          r'class="seg seg-(\w+)" data-count="(\d+)"', wtch)
    assert [(kind, int(n)) for _, _, kind, n in segments] == [
        ("in_window", 3), ("early", 1), ("missed_undocumented", 4), ("overdue", 1)]
    widths = [float(w) for _, w, _, _ in segments]
    assert widths == pytest.approx([440 * 3 / 9, 440 / 9, 440 * 4 / 9, 440 / 9], abs=0.01)
    assert float(segments[1][0]) == pytest.approx(120 + 440 * 3 / 9, abs=0.01)
    assert 'data-site="All sites"' in svg


def test_a_coordinator_sees_only_its_sites(client: TestClient, tokens: dict[str, str]) -> None:
    sign_in(client, tokens["nurse"])
    html = client.get(PAGE).text
    assert 'data-site="YC3H"' in html and "WTCH" not in html
    assert row(html, "compliance-by-site", site="*")[:2] == ["All sites", "15"]


def test_another_studys_monitor_gets_not_found(
    client: TestClient, tokens: dict[str, str]
) -> None:
    sign_in(client, tokens["mm-monitor"])
    assert client.get(PAGE).status_code == 404
    assert client.get(f"{PAGE}/compliance.csv").status_code == 404


def test_as_of_and_bad_dates(client: TestClient, tokens: dict[str, str]) -> None:
    sign_in(client, tokens["monitor"])
    html = client.get(PAGE, params={"as_of": "2026-08-10"}).text
    assert row(html, "endpoints-rows", site="YC3H", code="DORIS@6 months")[2:4] == ["1", "2"]
    assert 'value="2026-08-10"' in html
    assert client.get(PAGE, params={"as_of": "10/08/2026"}).status_code == 422
    assert client.get(PAGE, params={"sort": "x"}).status_code == 422


def test_csv_downloads(client: TestClient, tokens: dict[str, str]) -> None:
    sign_in(client, tokens["monitor"])
    response = client.get(f"{PAGE}/compliance.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="UCART-SLE-compliance.csv"' in response.headers["content-disposition"]
    lines = {(r["site"], r["visit"]): r for r in csv.DictReader(io.StringIO(response.text))}
    assert lines[("*", "*")]["expected"] == "24"
    endpoints = client.get(f"{PAGE}/endpoints.csv", params={"as_of": "2026-08-10"})
    lines = {(r["site"], r["time_point"]): r for r in csv.DictReader(io.StringIO(endpoints.text))}
    assert lines[("YC3H", "DORIS@6 months")]["open"] == "2"
    assert client.get(f"{PAGE}/other.csv").status_code == 404  # no such report


def test_linked_from_the_study_page_and_a_monitors_nav(
    client: TestClient, tokens: dict[str, str]
) -> None:
    sign_in(client, tokens["monitor"])
    assert f'href="{PAGE}"' in client.get(f"/studies/{SLE}").text
    index = client.get("/reports").text
    assert '<a href="/reports" aria-current="page">Reports</a>' in index
    assert f'href="{PAGE}"' in index and MM not in index
    client.cookies.clear()
    sign_in(client, tokens["nurse"])
    assert 'href="/reports"' not in client.get("/worklist").text
    assert f'href="{PAGE}"' in client.get(f"/studies/{SLE}").text
