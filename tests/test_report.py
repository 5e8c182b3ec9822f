"""Province reports and the national summary: numbers in the rendered HTML checked against figures
computed here from the tables, privacy (no register name, ID or phone; small cells suppressed),
offline HTML, the notebooks' parameters and the formatting helpers."""
from __future__ import annotations

import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaxlib import report
from vaxlib.feedback import FeedbackSettings, run_feedback
from vaxlib.runs import atomic_run
from vaxlib.config import NOTEBOOKS_DIR, PARAMETERS_DIR, load_yaml
from vaxlib.vn.provinces import PROVINCES

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- formatting

@pytest.mark.parametrize("n,vi,en", [
    (0, "0", "0"), (999, "999", "999"), (1234, "1.234", "1,234"), (1234567, "1.234.567", "1,234,567"),
])
def test_fmt_int(n, vi, en):
    assert report.fmt_int(n, "vi") == vi and report.fmt_int(n, "en") == en


@given(st.integers(min_value=0, max_value=10**12))
def test_fmt_int_vi_reads_back(n):
    text = report.fmt_int(n, "vi")
    assert int(text.replace(".", "")) == n
    assert all(len(g) == 3 for g in text.split(".")[1:])


@pytest.mark.parametrize("n,expected", [(0, "0"), (1, "<5"), (4, "<5"), (5, "5"), (12345, "12.345")])
def test_fmt_count_suppresses_small_cells(n, expected):
    assert report.fmt_count(n, "vi") == expected


@pytest.mark.parametrize("x,vi,en", [(0.1234, "12,3%", "12.3%"), (1.0, "100,0%", "100.0%"),
                                     (float("nan"), "—", "—")])
def test_fmt_pct(x, vi, en):
    assert report.fmt_pct(x, "vi") == vi and report.fmt_pct(x, "en") == en


@pytest.mark.parametrize("d,vi,en", [("2022-04-30", "30/04/2022", "30 Apr 2022"),
                                     ("2022-05-05", "05/05/2022", "05 May 2022")])
def test_fmt_date(d, vi, en):
    assert report.fmt_date(d, "vi") == vi and report.fmt_date(d, "en") == en


@pytest.mark.parametrize("num,den,expected", [
    (3, 4, None),  # fewer than 5 records: not shown
    (4, 7, None),  # 4 of 7 would give the suppressed count away
    (0, 7, 0.0), (5, 10, 0.5), (10, 10, 1.0),
])
def test_share_never_reveals_a_small_count(num, den, expected):
    got = report.share(num, den)
    assert (got != got) if expected is None else got == expected


@pytest.mark.parametrize("first,current,state", [
    ("verified", "verified", "verified"), ("fix", "verified", "fixed"), ("review", "verified", "fixed"),
    ("fix", "fix", "pending_fix"), ("review", "review", "review"), ("unmatched", "unmatched", "unmatched"),
    ("invalid", "invalid", "unmatched"),
])
def test_record_states(first, current, state):
    m = pd.DataFrame({"record_id": ["R1"], "status": [first]})
    c = pd.DataFrame({"record_id": ["R1"], "status": [current]})
    assert report.record_states(m, c).iloc[0] == state


# --------------------------------------------------------------------------- notebooks and parameters

def _parameters_cell(path: Path) -> dict[str, str]:
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, path
    out = {}
    for line in cells[0].source.splitlines():
        m = re.match(r"^(\w+): (\w+) = (.+?)  # \S", line)
        assert m, f"{path.name}: parameter line without annotation/comment: {line!r}"
        out[m.group(1)] = m.group(3)
    return out


@pytest.mark.parametrize("name", ["province-report.ipynb", "national-summary.ipynb"])
def test_notebooks_are_thin_and_clean(name):
    nb = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
    for c in nb.cells:
        if c.cell_type == "code":
            assert not re.search(r"^\s*(def|class)\s", c.source, re.M)
            assert c.outputs == [] and c.execution_count is None


def test_every_province_has_a_parameter_file_with_the_notebook_keys():
    keys = list(_parameters_cell(NOTEBOOKS_DIR / "province-report.ipynb"))
    assert keys == list(report.DEFAULT_PARAMETERS)
    files = sorted((PARAMETERS_DIR / "provinces").glob("*.yaml"))
    assert [f.stem for f in files] == sorted(p.gso for p in PROVINCES)
    for f in files:
        params = load_yaml(f)
        assert list(params) == keys
        assert params["province"] == f.stem and params["lang"] in ("vi", "en")


# --------------------------------------------------------------------------- rendering

class _Tables(HTMLParser):
    """Cells of every <table> as lists of rows (header row first)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self.tables and self.tables[-1]:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


COUNT_HEADERS = {"Bản ghi", "Còn sai", "Đã nhận", "Đã xử lý", "Xử lý đúng hạn", "Đang xử lý (trong hạn)",
                 "Quá hạn", "Phản ánh nhận", "Phản ánh quá hạn", "Records", "Still wrong", "Received",
                 "Resolved", "Resolved on time", "Open (within SLA)", "Overdue", "Feedback received",
                 "Feedback overdue"}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    from test_feedback import build_dataset

    root = tmp_path_factory.mktemp("repdemo")
    tables = build_dataset(root, persons=1500, seed=11)
    cur = tables["matches_current"]
    # the people vax sign would sign: every dose record verified
    ok = cur.groupby("person_key")["status"].agg(lambda s: bool((s == "verified").all()))
    signed = [p for p, good in ok.items() if good and str(p).isdigit()]
    with atomic_run(root / "certificates", command="sign") as run:
        n = len(signed)
        pd.DataFrame({"person_id": signed, "uvci": [f"URN:UVCI:01:VN:{i:032X}" for i in range(n)],
                      "hc1": ["HC1:"] * n, "kid": ["k"] * n, "issued_at": [""] * n, "expires_at": [""] * n}
                     ).to_parquet(run / "certificates.parquet", index=False)
    run_feedback(root, settings=FeedbackSettings(as_of="2022-04-30"))
    out = root / "reports"
    paths = report.render_reports(root, ["79", "01"], out, workers=2, progress=False)
    en = report.render_one(report.PROVINCE_NOTEBOOK, {"province": "48", "data_dir": str(root),
                                                      "report_date": "2022-04-30", "lang": "en",
                                                      "sla_hours": 48.0}, out / "48-en.html", lang="en")
    paths["48-en"] = en
    html = {k: p.read_text(encoding="utf-8") for k, p in paths.items()}
    return root, tables, signed, paths, html


def _vi(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def _pct_vi(x: float) -> str:
    return f"{100 * x:.1f}".replace(".", ",") + "%"


@pytest.mark.slow
def test_reports_are_written_where_expected(rendered):
    root, _, _, paths, _ = rendered
    assert paths["79"] == root / "reports" / "79-ho-chi-minh-city.html"
    assert paths["01"] == root / "reports" / "01-ha-noi.html"
    assert paths["national"] == root / "reports" / "national-summary.html"


@pytest.mark.slow
@pytest.mark.parametrize("province", ["79", "01"])
def test_key_numbers_match_the_tables(rendered, province):
    _, tables, signed, _, html = rendered
    text = html[province]
    v = tables["vaccinations"]
    ids = set(v.loc[v["facility_province"] == province, "record_id"])
    n = len(ids)
    cur = tables["matches_current"]
    clean = int((cur["record_id"].isin(ids) & cur["status"].eq("verified")).sum())
    first = tables["matches"]
    review = int((cur["record_id"].isin(ids) & cur["status"].eq("review")).sum())
    assert f"<strong>{_vi(n)}</strong> bản ghi mũi tiêm" in text
    assert f"<strong>{_pct_vi(clean / n)}</strong> đã khớp hoặc đã sửa" in text
    assert f"{_vi(review) if review >= 5 or review == 0 else '&lt;5'} đang xem xét" in text
    reg = tables["registry"].set_index("person_id")["province_code"]
    n_signed = sum(1 for p in signed if reg.get(p) == province)
    assert f"<strong>{_vi(n_signed)}</strong> người đã được ký chứng nhận" in text
    # verified at entry: the first match's count, in the progress table
    verified = int((first["record_id"].isin(ids) & first["status"].eq("verified")).sum())
    parser = _Tables()
    parser.feed(text)
    progress = next(t for t in parser.tables if t and t[0][:3] == ["", "Bản ghi", "Tỷ lệ"])
    rows = {r[0]: r[1] for r in progress[1:]}
    assert rows["Đã khớp"] == _vi(verified)
    assert rows["Đã sửa"] == _vi(clean - verified)
    assert "Bảng xếp hạng cơ sở tiêm" in text and "Ghi chú phương pháp" in text



def test_national_summary_ranks_provinces_with_residents_and_folds_visitors_only_ones_into_one_note(rendered):
    """Provinces whose only records are doses given to people of other provinces cannot be judged against
    any deadline: one note under the table (count, records, names folded away), not a row of "?" each
    (the demo's national summary had 42 such rows)."""
    root, tables, _, _, html = rendered
    nr = report.national_report(root)
    reg = tables["registry"]
    residents = set(reg["province_code"].astype(str))
    facility_provinces = set(tables["vaccinations"]["facility_province"].astype(str))
    visitors_only = facility_provinces - residents
    assert visitors_only, "the fixture should have travellers' doses in other provinces"
    assert set(nr.table["province"]) == residents & facility_provinces
    assert set(nr.visitors["province"]) == visitors_only
    assert (nr.table["v_m_clean"] != "unknown").all()
    parser = _Tables()
    parser.feed(html["national"])
    comp = next(t for t in parser.tables if t and t[0][0] == "Tỉnh/Thành phố")
    assert len(comp) - 1 == len(nr.table)
    note = html["national"].split('class="vax-note vax-visitors"', 1)[1].split("</details>", 1)[0]
    assert f"Không xếp hạng {len(visitors_only)} tỉnh/thành phố khác" in note
    assert f"{len(visitors_only)} tỉnh/thành phố khác chỉ có mũi tiêm" in html["national"]
    from vaxlib.vn.provinces import BY_GSO

    for p in visitors_only:
        assert BY_GSO[p].name in note


@pytest.mark.slow
def test_national_summary_numbers(rendered):
    _, tables, _, _, html = rendered
    text = html["national"]
    fb = tables["feedback"]
    received = int((pd.to_datetime(fb["submitted_at"], utc=True, format="ISO8601")
                    <= pd.Timestamp("2022-04-30T23:59:59+07:00")).sum())
    assert f"{_vi(received)} phản ánh" in text
    assert f"<strong>{_vi(len(tables['vaccinations']))}</strong> bản ghi" in text
    parser = _Tables()
    parser.feed(text)
    comp = next(t for t in parser.tables if t and t[0][0] == "Tỉnh/Thành phố")
    names = [r[0] for r in comp[1:]]
    assert {"Hồ Chí Minh", "Hà Nội", "Đà Nẵng"} <= set(names)


@pytest.mark.slow
def test_english_report(rendered):
    _, tables, _, _, html = rendered
    text = html["48-en"]
    v = tables["vaccinations"]
    n = int((v["facility_province"] == "48").sum())
    assert f"<strong>{n:,}</strong> dose records" in text
    assert "Facility league table" in text and "Method note" in text and '<html lang="en"' in text
    assert "Bảng xếp hạng" not in text


@pytest.mark.slow
def test_reports_open_offline_with_plotly_embedded_once(rendered):
    from plotly.offline import get_plotlyjs

    plotly_head = get_plotlyjs()[:300]
    *_, html = rendered
    for key, text in html.items():
        assert not re.search(r"<script[^>]+src=", text), key
        assert not re.search(r"<link[^>]+href=[\"']https?:", text), key
        assert text.count("window.PlotlyConfig") == 1, key
        assert text.count(plotly_head) == 1, key  # plotly.js itself, inline, once
        assert "vaxlib:plotly.js" not in text, key
        assert text.count("Plotly.newPlot(") >= 2, key
        assert "from vaxlib import report" not in text and "province_report(" not in text, key


@pytest.mark.slow
def test_privacy_no_name_id_or_phone_in_any_report(rendered):
    _, tables, _, _, html = rendered
    reg, vacc, fb = tables["registry"], tables["vaccinations"], tables["feedback"]
    names = set(reg["full_name"].dropna()) | set(vacc["full_name"].dropna()) | set(fb["full_name"].dropna())
    names = {n for n in names if len(n.split()) >= 2}
    ids = set(reg["person_id"].dropna()) | set(reg["old_id"].dropna())
    ids |= {re.sub(r"\D", "", x) for x in vacc["id_number"].dropna()} | {re.sub(r"\D", "", x) for x in
                                                                         fb["id_number"].dropna()}
    phones = {re.sub(r"\D", "", x) for x in pd.concat([vacc["phone"], fb["phone"]]).dropna()}
    numbers = {x for x in ids | phones if len(x) >= 9}
    assert len(numbers) > 1000 and len(names) > 1000
    # names also as they would appear JSON-escaped inside a figure
    escaped = {json.dumps(n)[1:-1] for n in names if json.dumps(n)[1:-1] != n}
    from plotly.offline import get_plotlyjs

    library = get_plotlyjs()
    for key, text in html.items():
        # every digit run anywhere in the file (also inside scripts and figure data)
        runs = set(re.findall(r"\d{9,}", text))
        assert not runs & numbers, f"{key}: ID or phone numbers found"
        assert not any(n in r for r in runs for n in numbers if len(r) > len(n)), key
        # names: the whole file except the plotly.js library text (fixed, not data)
        assert text.count(library) == 1
        rest = text.replace(library, "")
        hits = [x for x in names | escaped if x in rest]
        assert hits == [], f"{key}: {len(hits)} personal names found"


@pytest.mark.slow
def test_no_table_cell_counts_fewer_than_five(rendered):
    *_, html = rendered
    seen = 0
    for key, text in html.items():
        parser = _Tables()
        parser.feed(text)
        for table in parser.tables:
            header, *rows = table
            for col, name in enumerate(header):
                if name not in COUNT_HEADERS:
                    continue
                for r in rows:
                    cell = r[col]
                    if re.fullmatch(r"\d[\d.,]*", cell):
                        seen += 1
                        assert int(re.sub(r"\D", "", cell)) == 0 or int(re.sub(r"\D", "", cell)) >= 5, (key, name)
    assert seen > 20


@pytest.mark.slow
def test_no_share_gives_a_suppressed_count_away(rendered):
    *_, html = rendered
    pairs = [("Còn sai", "% còn sai"), ("Still wrong", "% still wrong")]
    checked = 0
    for key, text in html.items():
        parser = _Tables()
        parser.feed(text)
        for table in parser.tables:
            header, *rows = table
            for count_col, share_col in pairs:
                if count_col in header and share_col in header:
                    i, j = header.index(count_col), header.index(share_col)
                    for r in rows:
                        checked += 1
                        if r[i] == "<5":
                            assert r[j] == "—", (key, r)
    assert checked > 0


# --------------------------------------------------------------------------- deadlines judged

@pytest.mark.parametrize("value,target,deadline,report_date,verdict", [
    (0.852, 1.0, "2022-04-25", "2022-04-30", "missed"),  # the row: passed and short
    (1.0, 1.0, "2022-04-25", "2022-04-30", "met"),
    (0.96, 0.95, "2022-04-30", "2022-04-30", "met"),
    (0.90, 0.95, "2022-04-30", "2022-04-30", "due"),  # the deadline is today: not yet missed
    (0.90, 0.95, "2022-04-30", "2022-05-01", "missed"),
    (float("nan"), 0.95, "2022-04-30", "2022-05-01", "unknown"),
    (None, 0.95, "2022-04-30", "2022-04-20", "unknown"),
])
def test_judge(value, target, deadline, report_date, verdict):
    assert report.judge(value, target, deadline, report_date) == verdict


def test_every_deadline_measure_is_judged_and_the_report_row_is_about_the_report():
    numbers = {"fb_resolved_share": 0.852, "signed_share": 0.97, "clean_share": 0.93}
    rows = report.deadline_verdicts(numbers, "2022-04-30")
    assert [(r["deadline"], r["measure"], r["verdict"]) for r in rows] == [
        ("2022-04-25", "m_feedback", "missed"), ("2022-04-25", "m_signed", "met"),
        ("2022-04-30", "m_clean", "due"), ("2022-05-05", "m_report", "met")]
    assert sum(r["shortfall"] for r in rows) == pytest.approx((1 - 0.852) + (0.95 - 0.93))
    late = report.deadline_verdicts(numbers, "2022-05-06")
    assert late[-1]["verdict"] == "missed" and late[2]["verdict"] == "missed"


@pytest.mark.parametrize("lang,met,missed", [("vi", "Đạt", "Chưa đạt"), ("en", "Met", "Not met")])
def test_verdict_marks_read_without_colour(lang, met, missed):
    assert f"✔ {met}" in report.verdict_html("met", lang)
    assert f"✘ {missed}" in report.verdict_html("missed", lang)
    due = report.verdict_html("due", lang, 3)
    assert missed in due and "3" in due
    assert report.VERDICT_COLOURS["missed"][0] in report.verdict_html("missed", lang)


def _deadline_rows(text: str) -> list[list[str]]:
    parser = _Tables()
    parser.feed(text)
    table = next(t for t in parser.tables if t and t[0][:2] in (["Mốc thời hạn", "Chỉ tiêu"], ["Deadline", "Measure"]))
    return table[1:]


@pytest.mark.slow
@pytest.mark.parametrize("key", ["79", "01", "48-en"])
def test_every_deadline_row_carries_a_verdict(rendered, key):
    *_, html = rendered
    rows = _deadline_rows(html[key])
    assert len(rows) == 4
    words = ("Đạt", "Chưa đạt") if key != "48-en" else ("Met", "Not met")
    for r in rows:
        assert any(w in r[2] for w in words) or "Chưa đủ số liệu" in r[2] or "Not enough data" in r[2], r
    assert "05/05/2022" in rows[3][0] or "05 May 2022" in rows[3][0]
    assert "Báo cáo này" not in html[key] and "30/04/202\n" not in html[key]
    lang = "en" if key == "48-en" else "vi"
    assert f'<html lang="{lang}"' in html[key]


@pytest.mark.slow
def test_national_summary_judges_every_deadline_and_puts_the_furthest_behind_first(rendered):
    *_, html = rendered
    parser = _Tables()
    parser.feed(html["national"])
    comp = next(t for t in parser.tables if t and t[0][0] == "Tỉnh/Thành phố")
    header, *rows = comp
    for day in ("25/04/2022", "30/04/2022", "05/05/2022"):
        assert any(h.startswith(day) for h in header), day
    behind = [float(r[1].replace(".", "").replace(",", ".")) for r in rows]
    assert behind == sorted(behind, reverse=True)
    judged = [i for i, h in enumerate(header) if h[:10] in ("25/04/2022", "30/04/2022", "05/05/2022")]
    assert len(judged) == 4
    for r in rows:
        for i in judged:
            assert "Đạt" in r[i] or "Chưa đủ số liệu" in r[i], (r[0], header[i], r[i])


@pytest.mark.slow
def test_facility_todo_lists_the_worst_facility_first(rendered):
    *_, html = rendered
    text = html["79"]
    assert "Việc từng cơ sở còn phải làm" in text or "Hạn 30/04/2022 đã qua" in text
    assert "bản ghi còn sai" in text
    assert "Xu hướng: tỷ lệ bản ghi sai khi nhập" in text


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("width", [390, 1366])
def test_reports_fit_the_screen_without_page_overflow(rendered, width):
    """No horizontal page overflow except inside scrollable tables; every deadline row visibly judged."""
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("/usr/bin/chromium missing (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python) is not installed")
    from vaxlib.config import OUTPUTS_DIR

    _, _, _, paths, _ = rendered
    overflow_js = """() => {
      const W = document.documentElement.clientWidth, bad = [];
      for (const el of document.querySelectorAll('body *')) {
        if (el.closest('svg') || el.closest('.modebar-container')) continue;  // plotly's own drawing
        const r = el.getBoundingClientRect();
        if (!r.width || r.right <= W + 1) continue;
        let p = el.parentElement, scrolls = false;
        for (; p; p = p.parentElement) {
          const o = getComputedStyle(p).overflowX;
          if ((o === 'auto' || o === 'scroll') && p.clientWidth <= W) { scrolls = true; break; }
        }
        if (!scrolls) bad.push(el.tagName + '.' + el.className + ' right=' + Math.round(r.right));
      }
      return {page: document.documentElement.scrollWidth, W, bad: bad.slice(0, 10)};
    }"""
    shots = OUTPUTS_DIR / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        try:
            for key in ("79", "national", "48-en"):
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.goto(paths[key].as_uri())
                page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=20_000)
                result = page.evaluate(overflow_js)
                assert result["page"] <= width and result["bad"] == [], (key, result)
                if key != "national":
                    verdicts = page.locator("table.vax-table .vax-verdict")
                    assert verdicts.count() == 4
                    for i in range(4):
                        box = verdicts.nth(i).bounding_box()
                        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, (key, i, box)
                page.screenshot(path=str(shots / f"report-{key}-{width}.png"))
                page.close()
        finally:
            browser.close()


#: per chart: drawing inside its box and the screen, no text cut, no two labels overlapping, no label over a bar
CHART_CHECK_JS = """() => {
  const W = document.documentElement.clientWidth, bad = [];
  const inside = (r, c) => r.left >= c.left - 1 && r.right <= c.right + 1 && r.top >= c.top - 1 && r.bottom <= c.bottom + 1;
  const hit = (a, b) => a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1;
  const shown = (e) => { const r = e.getBoundingClientRect(); return e.textContent.trim() && r.width > 0 && r.height > 0; };
  const plots = [...document.querySelectorAll('.js-plotly-plot')];
  plots.forEach((plot, k) => {
    const title = plot.querySelector('.gtitle');
    const name = (title ? title.textContent : 'chart ' + k).slice(0, 40);
    const box = plot.getBoundingClientRect(), holder = plot.parentElement.getBoundingClientRect();
    const svg = plot.querySelector('svg.main-svg').getBoundingClientRect();
    if (box.left < -1 || box.right > W + 1) bad.push(`${name}: chart runs off the screen (${Math.round(box.left)}–${Math.round(box.right)} of ${W})`);
    if (svg.width > holder.width + 1 || svg.right > holder.right + 1) bad.push(`${name}: drawing ${Math.round(svg.width)} px in a ${Math.round(holder.width)} px box`);
    const texts = [...plot.querySelectorAll('.xtick text, .ytick text, .g-xtitle text, .g-ytitle text, .gtitle, ' +
                                            '.legendtext, .textpoint text, .bartext text, .annotation-text')].filter(shown);
    for (const e of texts) {
      const r = e.getBoundingClientRect();
      if (!inside(r, svg) || r.left < 0 || r.right > W) bad.push(`${name}: "${e.textContent}" cut (${Math.round(r.left)}–${Math.round(r.right)}, box ${Math.round(svg.left)}–${Math.round(svg.right)})`);
    }
    const labels = [...plot.querySelectorAll('.ytick text, .xtick text, .textpoint text, .bartext text, .legendtext')].filter(shown);
    for (let i = 0; i < labels.length; i++) for (let j = i + 1; j < labels.length; j++)
      if (hit(labels[i].getBoundingClientRect(), labels[j].getBoundingClientRect()))
        bad.push(`${name}: "${labels[i].textContent}" overlaps "${labels[j].textContent}"`);
    // a suppressed count ("<5") written beside a bar that is not drawn: say it once in words instead
    for (const pt of plot.querySelectorAll('.bars .point')) {
      const path = pt.querySelector('path'), txt = pt.querySelector('.bartext');
      if (txt && shown(txt) && txt.textContent.trim().startsWith('<') && (!path || path.getBoundingClientRect().width < 1))
        bad.push(`${name}: "${txt.textContent}" written beside an empty bar`);
    }
    const bars = [...plot.querySelectorAll('.bars path')].filter(p => p.getBoundingClientRect().width > 0.5);
    for (const l of plot.querySelectorAll('.ytick text, .textpoint text')) {
      if (!shown(l)) continue;
      for (const b of bars) if (hit(l.getBoundingClientRect(), b.getBoundingClientRect())) {
        bad.push(`${name}: label "${l.textContent}" drawn over a bar`); break; }
    }
  });
  return {charts: plots.length, bad};
}"""


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("width", [390, 1366])
def test_report_charts_fit_their_box_and_no_label_is_cut_or_overlapped(rendered, width):
    """Every chart drawn inside its container and the screen; tick, bar, legend and point labels whole and apart.

    At 390 px the old charts cut axis labels, squeezed the bars beside wrapped labels that ran into each
    other, and wrote the national scatter's province names over one another (CHART_CHECK_JS found 13
    problems in report 79 and 3 in the national summary there).
    """
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("/usr/bin/chromium missing (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python) is not installed")
    _, _, _, paths, _ = rendered
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        try:
            for key in ("79", "01", "national", "48-en"):
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.goto(paths[key].as_uri())
                page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 2",
                                       timeout=20_000)
                page.wait_for_timeout(300)  # responsive plots redraw once at their box's width
                result = page.evaluate(CHART_CHECK_JS)
                assert result["charts"] >= 2 and result["bad"] == [], (key, width, result)
                page.close()
        finally:
            browser.close()



@pytest.mark.slow
@pytest.mark.browser
def test_feedback_chart_says_small_counts_once_in_words_not_beside_empty_bars(rendered, tmp_path):
    """A count under 5 has no bar and no "<5" beside one: its category's label says it, and categories
    with fewer than 5 items are named in one line under the chart (the demo stacked three "<5" per row)."""
    root = rendered[0]
    rep = report.province_report(root, "79")
    rows = [("missing_dose", "resolved", "on_time", 3), ("missing_dose", "in_review", "overdue", 9),
            ("wrong_personal_info", "resolved", "on_time", 2), ("wrong_personal_info", "in_review", "open", 1),
            ("duplicate_record", "resolved", "on_time", 6)]
    rep.tables["feedback"] = pd.DataFrame(rows, columns=["category_citizen", "status", "sla_state", "n"])
    fig = rep.feedback_figure()
    assert [tr.name for tr in fig.data] == ["Quá hạn", "Đã xử lý", "Đã nhận"]
    for tr in fig.data:  # a count is written exactly where its bar is drawn
        assert [bool(x) for x in tr.text] == [v >= report.SMALL_CELL for v in tr.x], (tr.name, tr.x, tr.text)
    import html as _html

    assert [_html.unescape(x) for x in fig.layout.yaxis.ticktext] == ["Trùng mũi tiêm (quá hạn 0)",
                                                                      "Thiếu mũi tiêm (đã xử lý <5)"]
    (note,) = [a.text.replace("<br>", " ") for a in fig.layout.annotations]
    assert note == "Dưới 5 phản ánh mỗi loại (không vẽ): Sai thông tin cá nhân, Sai loại vắc xin, Khác."
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("/usr/bin/chromium missing (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python) is not installed")
    page_file = tmp_path / "feedback.html"
    fig.write_html(page_file, include_plotlyjs=True, config={"responsive": True})
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 390, "height": 900})
            page.goto(page_file.as_uri())
            page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 1")
            page.wait_for_timeout(300)
            result = page.evaluate(CHART_CHECK_JS)
            assert result["charts"] == 1 and result["bad"] == [], result
            assert sorted(page.locator(".bartext").all_text_contents()) == ["12", "6", "6", "9"]
            assert "Thiếu mũi tiêm (đã xử lý <5)" in page.locator(".ytick text").all_text_contents()
        finally:
            browser.close()


def test_horizontal_bar_rows_put_each_label_above_its_bars_and_below_the_next_row():
    import plotly.graph_objects as go

    labels = ["Ngắn", "Một nhãn rất dài cần xuống dòng vì điện thoại chỉ có chừng ấy chỗ cho chữ", "Vừa phải"]
    fig = go.Figure()
    plot_px = report._hbar_rows(fig, labels, [dict(x=[1, 2, 3]), dict(x=[3, 2, 1])], xmax=4, bar_px=15)
    y = fig.layout.yaxis
    assert list(y.ticktext)[1].count("<br>") == 1 and y.ticklabelposition == "inside top"
    assert y.range == (-0.5, 2.5) and plot_px == 3 * (2 * report._LABEL_LINE_PX + 2 * 15 + report._ROW_PAD_PX)
    u = 1 / (plot_px / 3)  # y units per pixel
    for i, tick in enumerate(y.tickvals):
        tops = [tr.y[i] + tr.width / 2 for tr in fig.data]
        lines = y.ticktext[i].count("<br>") + 1
        # an inside-top label: first line above the tick, the others below it
        label_bottom, label_top = tick - (lines - 1) * report._LABEL_LINE_PX * u, tick + report._LABEL_LINE_PX * u
        assert label_bottom > max(tops)  # above its own bars
        assert label_top <= i + 0.5  # and inside its own row, below the next row's bars
        assert min(tr.y[i] - tr.width / 2 for tr in fig.data) >= i - 0.5  # bars too
    assert fig.layout.xaxis.range == (0, 4)


@pytest.mark.parametrize("points, labelled", [
    ([(50, 50)], [0]),
    ([(50, 50)] * 5, [0, 1]),          # one spot: a name above and one below, the others on hover
    ([(10, 10), (90, 90)], [0, 1]),                    # far apart: both
    ([(50, 50), (50.5, 50), (51, 50), (52, 50.5)], [0, 3]),  # a tight cluster: two names, the rest on hover
])
def test_scatter_names_are_written_only_where_they_overlap_nothing(points, labelled):
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    names = ["Hồ Chí Minh", "Hà Nội", "Bà Rịa - Vũng Tàu", "Đà Nẵng", "Cần Thơ"][:len(points)]
    where = report.place_point_labels(xs, ys, names, [0, 100], [0, 100], 280, 360)
    assert [i for i, w in enumerate(where) if w] == labelled


def _label_box(x, y, name, where, w_px=280, h_px=360):
    px, py, r = x / 100 * w_px, y / 100 * h_px, report._MARKER_PX / 2
    w, h = report._CHAR_PX * len(name) + 4, report._TEXT_PX
    return {"top center": (px - w / 2, py + r + 1, px + w / 2, py + r + 1 + h),
            "bottom center": (px - w / 2, py - r - 1 - h, px + w / 2, py - r - 1),
            "middle right": (px + r + 2, py - h / 2, px + r + 2 + w, py + h / 2),
            "middle left": (px - r - 2 - w, py - h / 2, px - r - 2, py + h / 2)}[where]


@given(st.lists(st.tuples(st.floats(0, 100), st.floats(0, 100), st.sampled_from(
    ["Hà Nội", "Hồ Chí Minh", "Thừa Thiên Huế", "Bà Rịa - Vũng Tàu", "Cà Mau"])), min_size=1, max_size=25))
def test_scatter_names_never_overlap_each_other_or_another_point(pts):
    xs, ys, names = zip(*pts)
    where = report.place_point_labels(xs, ys, names, [0, 100], [0, 100], 280, 360)
    boxes = [_label_box(x, y, n, w) for x, y, n, w in zip(xs, ys, names, where) if w]
    r = report._MARKER_PX / 2
    marks = [(x / 100 * 280 - r, y / 100 * 360 - r, x / 100 * 280 + r, y / 100 * 360 + r) for x, y in zip(xs, ys)]
    hit = lambda a, b: a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]  # noqa: E731
    for i, a in enumerate(boxes):
        assert 0 <= a[0] and a[2] <= 280 and 0 <= a[1] and a[3] <= 360
        assert not any(hit(a, b) for b in boxes[i + 1:])
    owners = [i for i, w in enumerate(where) if w]
    for a, own in zip(boxes, owners):
        assert not any(hit(a, m) for j, m in enumerate(marks) if j != own)


@pytest.mark.slow
def test_shared_plotlyjs_reports_are_small_and_still_draw_offline(rendered, tmp_path):
    root, *_ = rendered
    out = tmp_path / "shared"
    path = report.render_one(report.PROVINCE_NOTEBOOK, {"province": "79", "data_dir": str(root),
                                                        "report_date": "2022-04-30", "lang": "vi", "sla_hours": 48.0},
                             out / "79.html", plotlyjs="shared")
    text = path.read_text(encoding="utf-8")
    from plotly.offline import get_plotlyjs

    assert (out / "plotly.min.js").read_text(encoding="utf-8") == get_plotlyjs()
    assert '<script type="text/javascript" src="plotly.min.js"></script>' in text
    assert get_plotlyjs()[:300] not in text and path.stat().st_size < 1_000_000
    assert not re.search(r"<script[^>]+src=[\"']https?:", text)
    if Path("/usr/bin/chromium").exists():
        sync_api = pytest.importorskip("playwright.sync_api")
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
            try:
                page = browser.new_page()
                page.goto(path.as_uri())
                page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=20_000)
            finally:
                browser.close()


def _todo_report(report_date: str = "2022-04-26") -> "report.ProvinceReport":
    todo = pd.DataFrame({"province": "79", "facility_id": ["CS-79-0001", "CS-79-0001", "CS-79-0002", "CS-79-0002"],
                         "state": ["review", "unmatched", "pending_fix", "unmatched"], "n": [12, 7, 3, 20]})
    facilities = pd.DataFrame({"province": "79", "facility_id": ["CS-79-0001", "CS-79-0002"],
                               "records": [100, 200], "wrong_entry": [30, 40], "wrong_now": [19, 23],
                               "facility_name": ["Trạm Y tế phường Bến Nghé", ""]})
    codes = pd.DataFrame({"province": "79", "facility_id": ["CS-79-0001", "CS-79-0001", "CS-79-0002"],
                          "code": ["id:missing", "dob:day_month_swap", "id:unknown"], "n": [15, 4, 23]})
    return report.ProvinceReport("79", "vi", report_date, {"facility_todo": todo, "facilities": facilities,
                                                           "facility_codes": codes}, {})


def test_facility_todo_names_facilities_orders_by_work_left_and_hides_subtractable_counts():
    text = _todo_report().facility_todo().data
    assert "trước hạn 30/04/2022" in text
    first, second = text.index("CS-79-0002"), text.index("Trạm Y tế phường Bến Nghé (CS-79-0001)")
    assert first < second  # 23 records still wrong before 19
    item2 = text[first:second]
    # CS-79-0002: 3 pending fixes would be "<5" and 20 + total 23 would give it away: no part counts
    assert "23 bản ghi còn sai" in item2 and "20 không tìm thấy" not in item2 and "chờ áp dụng" in item2
    item1 = text[second:]
    assert "12 chờ chuyên viên xem xét" in item1 and "7 không tìm thấy" in item1
    assert "bỏ trống số CMND/CCCD" in item1  # its main error, in words
    late = _todo_report("2022-05-06").facility_todo().data
    assert "đã qua" in late


_STATUSES = ["verified", "fix", "review", "unmatched", "invalid", None]


@settings(max_examples=60, deadline=None)
@given(first=st.lists(st.sampled_from(_STATUSES), min_size=1, max_size=30), data=st.data())
def test_record_states_by_record(first, data):
    """Every record's state by its definition, with a corrected run that misses records, lists them
    in another order and holds records of its own: the record's current status, else its first."""
    ids = [f"R{i}" for i in range(len(first))]
    kept = data.draw(st.lists(st.sampled_from(ids), unique=True))
    now = {rid: data.draw(st.sampled_from(_STATUSES)) for rid in kept}
    extra = {f"X{i}": "verified" for i in range(data.draw(st.integers(0, 3)))}
    m = pd.DataFrame({"record_id": ids, "status": first})
    c = pd.DataFrame({"record_id": list(now) + list(extra), "status": list(now.values()) + list(extra.values())})
    got = report.record_states(m, c)
    assert list(got.index) == ids
    for rid, f in zip(ids, first):
        cur = now.get(rid) or f
        want = ("verified" if f == "verified" else "fixed") if cur == "verified" else \
            {"fix": "pending_fix", "review": "review"}.get(cur, "unmatched")
        assert got[rid] == want, (rid, f, now.get(rid))
    assert list(report.record_states(m, None)) == [
        "verified" if f == "verified" else {"fix": "pending_fix", "review": "review"}.get(f, "unmatched")
        for f in first]


def _partitioned_copy(root: Path, dest: Path, parts: int = 3) -> Path:
    """``root`` with its inputs and match outputs split into ``part-*.parquet`` files, as ``vax synth
    --stream`` and ``vax match --engine dask`` write them: matches shuffled across parts (hash partitions),
    each part with its own dictionary of facility, date and error-code values."""
    import shutil

    from vaxlib.runs import read_manifest

    shutil.copytree(root, dest, ignore=shutil.ignore_patterns("report-cache", "reports", "match", "match-corrected",
                                                               "data"))
    (dest / "data").mkdir()
    for name in ("registry", "vaccinations"):
        df = pd.read_parquet(root / "data" / f"{name}.parquet")
        (dest / "data" / name).mkdir()
        for i in range(parts):  # in order: the first row of a facility stays first
            df.iloc[i * len(df) // parts:(i + 1) * len(df) // parts].to_parquet(
                dest / "data" / name / f"part-{i:05d}.parquet", index=False)
    shutil.copy(root / "data" / "feedback.parquet", dest / "data" / "feedback.parquet")
    for stage in ("match", "match-corrected"):
        m = pd.read_parquet(root / stage / "matches.parquet").sample(frac=1.0, random_state=3)
        with atomic_run(dest / stage, command="match",
                        settings=read_manifest(root / stage).get("settings", {})) as run:
            (run / "matches").mkdir()
            for i in range(parts):
                m.iloc[i::parts].to_parquet(run / "matches" / f"part-{i:05d}.parquet", index=False)
            for f in (root / stage).iterdir():
                if f.suffix == ".json" and not f.name.startswith("_") and f.name != "matches.parquet":
                    shutil.copy(f, run / f.name)
    return dest


def test_aggregates_read_the_partitioned_layout(rendered, tmp_path):
    """The report reads a partitioned result (inputs and matches in part files, matches shuffled across
    them, each part with its own dictionaries) to the same tables, dtypes included, as one-file tables."""
    root = rendered[0]
    split = _partitioned_copy(root, tmp_path / "split")
    assert not (split / "match" / "matches.parquet").exists() and (split / "match" / "matches").is_dir()
    one = report.compute_aggregates(root, "2022-04-30")
    parts = report.compute_aggregates(split, "2022-04-30")
    assert set(one) == set(parts)
    for name in one:
        pd.testing.assert_frame_equal(one[name], parts[name], check_dtype=True, obj=name)
    assert len(one["clusters"]) and len(one["errors"]) and one["persons"]["signed"].sum() > 0


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_counts_are_pandas_groupby_on_the_text(data):
    """``_counts`` on codes equals ``groupby(...).size()`` / ``sum()`` on the decoded text: same groups, same
    order, same dtypes, with unused dictionary values and a row mask."""
    import numpy as np

    n = data.draw(st.integers(0, 40))
    words = st.lists(st.text("ab é*", max_size=3), min_size=1, max_size=6, unique=True)
    keys, frame = {}, {}
    for name in data.draw(st.sampled_from([("a",), ("a", "b"), ("a", "b", "c")])):
        values = np.array(sorted(data.draw(words)), dtype=object)
        codes = np.array(data.draw(st.lists(st.integers(0, len(values) - 1), min_size=n, max_size=n)),
                         dtype=np.int32)
        keys[name] = (codes, values)
        frame[name] = pd.Series(values[codes], dtype="str")
    flag = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    df = pd.DataFrame({**frame, "flag": flag})[mask]
    want = df.groupby(list(keys)).agg(rows=("flag", "size"), flag=("flag", "sum")).reset_index()
    got = report._counts(keys, size="rows", flags={"flag": flag}, mask=mask)
    pd.testing.assert_frame_equal(got, want, check_dtype=True)


def test_complaints_in_parts_are_counted_as_in_one_file(tmp_path):
    """`vax synth --partitioned` writes the reports as data/feedback/part-*.parquet; the report counts them as it
    counts one file's (s11: a 10M report said "0 phản ánh" while `vax feedback` had tracked 99,048)."""
    import shutil

    from test_feedback import build_dataset

    one, parts = tmp_path / "one", tmp_path / "parts"
    build_dataset(one, persons=600, seed=5)
    shutil.copytree(one, parts)
    fb = pd.read_parquet(parts / "data" / "feedback.parquet")
    (parts / "data" / "feedback.parquet").unlink()
    (parts / "data" / "feedback").mkdir()
    half = len(fb) // 2
    fb.iloc[:half].to_parquet(parts / "data" / "feedback" / "part-00000.parquet", index=False)
    fb.iloc[half:].to_parquet(parts / "data" / "feedback" / "part-00001.parquet", index=False)
    for root in (one, parts):
        run_feedback(root, settings=FeedbackSettings(as_of="2022-04-30"))
    a = report.compute_aggregates(one)["feedback"]
    b = report.compute_aggregates(parts)["feedback"]
    assert len(a) and a["n"].sum() == len(fb)
    pd.testing.assert_frame_equal(a, b)


def test_cache_key_follows_each_part_of_a_partitioned_table(tmp_path):
    """A part rewritten in place (same name, the folder's mtime unmoved) must change the aggregates' cache key,
    and so must a part added; a key made from the folder alone served a stale "0 phản ánh" report in s11."""
    parts = tmp_path / "data" / "feedback"
    parts.mkdir(parents=True)
    one = pd.DataFrame({"feedback_id": ["a", "b"], "n": [1, 2]})
    one.to_parquet(parts / "part-00000.parquet", index=False)
    one.to_parquet(parts / "part-00001.parquet", index=False)
    paths = {"feedback": tmp_path / "data" / "feedback.parquet"}
    before = report._signature(paths, "2022-04-30", 48.0)
    assert before == report._signature(paths, "2022-04-30", 48.0)
    folder_mtime = parts.stat().st_mtime_ns
    with open(parts / "part-00001.parquet", "wb") as f:  # in place: no new directory entry
        f.write(pq_bytes(pd.DataFrame({"feedback_id": ["c"], "n": [3]})))
    os.utime(parts, ns=(folder_mtime, folder_mtime))
    rewritten = report._signature(paths, "2022-04-30", 48.0)
    assert rewritten != before
    one.to_parquet(parts / "part-00002.parquet", index=False)
    assert report._signature(paths, "2022-04-30", 48.0) not in (before, rewritten)


def pq_bytes(df: pd.DataFrame) -> bytes:
    import io as _io

    buf = _io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def test_table_files_finds_one_file_or_the_parts(tmp_path):
    from vaxlib.runs import RunFolder

    rf = RunFolder(tmp_path)
    assert rf.table_files("feedback") == []
    (tmp_path / "data" / "feedback").mkdir(parents=True)
    assert rf.table_files("feedback") == []  # an empty folder is no table
    for i in (1, 0, 10):
        pd.DataFrame({"x": [i]}).to_parquet(tmp_path / "data" / "feedback" / f"part-{i:05d}.parquet")
    assert [p.name for p in rf.table_files("feedback")] == ["part-00000.parquet", "part-00001.parquet",
                                                            "part-00010.parquet"]
    pd.DataFrame({"x": [1]}).to_csv(tmp_path / "data" / "feedback.csv", index=False)
    assert rf.table_files("feedback") == [tmp_path / "data" / "feedback.csv"]  # one file first, as rf.table
