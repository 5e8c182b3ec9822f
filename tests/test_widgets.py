"""The review and explore widgets driven in plain Python: click buttons, check the ledger and the widgets.

The fixture is written by hand (not produced by the code under test): eight
dose records of six register persons with the errors facilities make —
names typed without diacritics, day and month swapped, the leading zero of
a CCCD lost, the other tone-mark convention (Thủy/Thuỷ), year-only dates.
"""
from __future__ import annotations

import logging
import math

import pandas as pd
import pytest

from vaxlib.review.ledger import Ledger
from vaxlib.widgets import (
    display_dob,
    explore_panel,
    highlight_diff,
    mask_id,
    records_html,
    review_panel,
)
from vaxlib.workspace import WorkspaceError, load_workspace

from vaxlib.match.compare import FIELDS
from vaxlib.match.pipeline import CANDIDATE_COLUMNS, MATCH_COLUMNS

REGISTRY = [
    # person_id, full_name, dob, sex, province
    ("079190000123", "Nguyễn Thị Hoà", "1990-03-05", "F", "79"),
    ("079085001234", "Trần Văn Dũng", "1985-12-01", "M", "79"),
    ("079300012345", "Lê Thị Thuỷ", "2000-07-15", "F", "79"),
    ("001075004321", "Phạm Minh Tuấn", "1975-01-20", "M", "01"),
    ("001075004322", "Phạm Minh Tuấn", "1975-02-01", "M", "01"),
    ("079195006789", "Võ Ngọc Yến", "1995-10-11", "F", "79"),
]
# record_id, typed name, dob, sex, id, facility, date, status, person, p, codes, corrected (name, dob, sex, id)
RECORDS = [
    ("R01", "Nguyen Thi Hoa", "05/03/1990", "Nữ", "079190000123", "CS-79-0001", "2021-10-04", "review",
     "079190000123", 0.91, "name:no_diacritics", ("Nguyễn Thị Hoà", None, None, None)),
    ("R02", "Trần Văn Dũng", "12/01/1985", "Nam", "79085001234", "CS-79-0001", "2021-10-05", "review",
     "079085001234", 0.83, "dob:day_month_swap;id:lost_leading_zero", (None, "1985-12-01", None, "079085001234")),
    ("R03", "Lê Thị Thủy", "15/07/2000", "Nữ", "", "CS-79-0002", "2021-11-02", "review",
     "079300012345", 0.72, "id:missing;name:tone_placement", ("Lê Thị Thuỷ", None, None, "079300012345")),
    ("R04", "Phạm Minh Tuấn", "1975", "Nam", "", "CS-01-0002", "2021-10-20", "review",
     "001075004321", 0.60, "dob:year_only_default;id:missing", (None, "1975-01-20", None, "001075004321")),
    ("R05", "Võ Ngọc Yến", "11/10/1995", "", "079195006789", "CS-79-0002", "2021-11-10", "fix",
     "079195006789", 0.999, "sex:missing", (None, None, "F", None)),
    ("R06", "Nguyễn Thị Hoà", "05/03/1990", "Nữ", "079190000123", "CS-79-0001", "2021-11-04", "verified",
     "079190000123", 1.0, "", (None, None, None, None)),
    ("R07", "Hoàng Văn Nam", "01/01/1960", "Nam", "999999999999", "CS-01-0002", "2021-10-21", "unmatched",
     None, 0.0, "id:unknown", (None, None, None, None)),
    ("R08", "Tran Van Dung", "01/12/1985", "Nam", "079085001234", "CS-79-0001", "2021-10-06", "review",
     "079085001234", 0.88, "name:no_diacritics", ("Trần Văn Dũng", None, None, None)),
]
REVIEW_QUEUE = ["R01", "R02", "R03", "R04", "R08"]
NO_DIACRITICS_CLUSTER = "name:no_diacritics|79|CS-79-0001|2021-10"


def _candidate(rid: str, pid: str, rank: int, p: float) -> dict:
    total = math.log2(p / (1 - p)) if p < 1 else 20.0
    bf = {f: 0.0 for f in FIELDS} | {"name": 3.0, "dob": 2.0, "sex": 0.5}
    bf["id"] = total + 5.0 - sum(v for k, v in bf.items() if k != "id")
    levels = {f"level_{f}": "null" for f in FIELDS} | {
        "level_name": "folded", "level_dob": "same_date", "level_id": "exact", "level_sex": "same"}
    return dict(record_id=rid, person_id=pid, rank=rank, match_weight=total + 5.0, match_probability=p,
                prior_weight=-5.0, rules="1", **levels, **{f"bf_{k}": v for k, v in bf.items()})


def make_review_tables() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(registry, vaccinations, matches, candidates) of the hand-written fixture."""
    registry = pd.DataFrame(REGISTRY, columns=["person_id", "full_name", "dob", "sex", "province_code"])
    registry.insert(4, "old_id", None)
    vacc, match, cand = [], [], []
    for (rid, name, dob, sex, idn, fac, date, status, pid, p, codes, corr) in RECORDS:
        prov = fac[3:5]
        vacc.append(dict(record_id=rid, full_name=name, dob=dob, sex=sex, id_number=idn, phone="",
                         province_code=prov, facility_id=fac, facility_province=prov, dose_number="1",
                         vaccination_date=date, vaccine="AstraZeneca", lot_number="A1"))
        match.append(dict(record_id=rid, status=status, person_id=pid, match_probability=p, error_codes=codes,
                          corrected_full_name=corr[0], corrected_dob=corr[1], corrected_sex=corr[2],
                          corrected_id_number=corr[3], person_key=pid or f"U-{rid}"))
        if pid:
            cand.append(_candidate(rid, pid, 1, p))
    cand.append(_candidate("R04", "001075004322", 2, 0.30))
    return (registry, pd.DataFrame(vacc), pd.DataFrame(match, columns=MATCH_COLUMNS),
            pd.DataFrame(cand, columns=CANDIDATE_COLUMNS))


@pytest.fixture
def tables():
    return make_review_tables()


@pytest.fixture
def ledger():
    with Ledger.open("sqlite://") as led:
        yield led


@pytest.fixture
def panel(tables, ledger):
    registry, vacc, matches, cands = tables
    return review_panel(vacc, matches, cands, ledger, "Lan (CDC HCM)", registry=registry)


def decisions(ledger) -> dict[str, str]:
    d = ledger.current_decisions()
    return dict(zip(d["record_id"], d["action"]))


# ----------------------------------------------------------------------------- pure helpers

@pytest.mark.parametrize("value, expected", [
    ("079190012389", "0791******89"),  # 12-digit CCCD, as in the brief
    ("023456789", "0234***89"),  # 9-digit CMND
    ("B1234567", "B123**67"),  # passport
    ("1234567", "*****67"),  # short: only the end shows
    ("", ""),
    (None, ""),
])
def test_mask_id(value, expected):
    assert mask_id(value) == expected


@pytest.mark.parametrize("typed, register, marked_typed, marked_register", [
    ("Nguyen Thi Hoa", "Nguyễn Thị Hoà", ["e", "i", "a"], ["ễ", "ị", "à"]),  # no diacritics
    ("Lê Thị Thủy", "Lê Thị Thuỷ", ["ủy"], ["uỷ"]),  # tone placement: the hook moves from u to y
    ("Trần Văn Dũng", "Trần Văn Dũng", [], []),
    ("Tran Văn Dung", "Trần Văn Dũng", ["a", "u"], ["ầ", "ũ"]),
])
def test_highlight_diff_marks_exactly_the_differing_letters(typed, register, marked_typed, marked_register):
    import re

    a, b = highlight_diff(typed, register)
    assert re.findall(r"<mark[^>]*>(.*?)</mark>", a) == marked_typed
    assert re.findall(r"<mark[^>]*>(.*?)</mark>", b) == marked_register
    assert re.sub(r"<[^>]+>", "", b) == register


def test_highlight_diff_compares_nfc_text():
    import unicodedata

    nfd = unicodedata.normalize("NFD", "Nguyễn Thị Hoà")
    a, b = highlight_diff(nfd, "Nguyễn Thị Hoà")
    assert "<mark" not in a and "<mark" not in b
    assert a == "Nguyễn Thị Hoà"  # shown precomposed, one character per letter


def test_highlight_diff_masked_ids_hide_digits_but_show_where_they_differ():
    a, b = highlight_diff("079190000128", "079190000123", mask=True)
    assert "079190000123" not in b and "079190000128" not in a
    assert a.replace("<mark", "|").startswith("0791******2|")
    assert ">8</mark>" in a and ">3</mark>" in b  # the last digit shows and differs
    a, b = highlight_diff("079190500123", "079190000123", mask=True)
    assert ">*</mark>" in a  # a hidden digit differs: marked, still hidden


@pytest.mark.parametrize("iso, shown", [("1990-03-05", "05/03/1990"), ("1990-03", "03/1990"), ("1990", "1990"),
                                        (None, "")])
def test_display_dob(iso, shown):
    assert display_dob(iso) == shown


# ----------------------------------------------------------------------------- review panel

def test_panel_starts_on_first_review_record_with_vietnamese_labels(panel):
    assert panel.current == "R01"
    assert panel.queue() == REVIEW_QUEUE
    assert panel.counts() == {"total": 5, "reviewed": 0, "deferred": 0, "queued": 5}
    assert [b.description for b in (panel.accept, panel.reject, panel.edit, panel.defer)] == [
        "Duyệt", "Từ chối", "Sửa", "Để sau"]
    assert "Alt+1" in panel.accept.tooltip and panel.accept.tabbable
    assert "Nguy<mark" in panel.record.value and "ễ</mark>" in panel.record.value
    assert "Tên không dấu" in panel.record.value  # error label of name:no_diacritics
    assert panel.progress.value == 0 and panel.progress.max == 5
    assert panel.waterfall.data[0].x[-1] == "Tổng trọng số"
    assert panel.waterfall_box.layout.display == "flex"


def test_english_labels(tables, ledger):
    registry, vacc, matches, cands = tables
    p = review_panel(vacc, matches, cands, ledger, "lan", lang="en", registry=registry)
    assert [b.description for b in (p.accept, p.reject, p.edit, p.defer)] == ["Accept", "Reject", "Edit", "Defer"]
    assert "Record R01" in p.record.value and "Name without diacritics" in p.record.value
    assert p.summary() == "Reviewed 0 / 5 · Queued 5 · Deferred 0"


def test_accept_writes_the_ledger_and_loads_the_next_record(panel, ledger):
    panel.accept.click()
    events = ledger.events_list()
    assert [(e.record_id, e.action, e.values, e.analyst) for e in events] == [
        ("R01", "accept", {"person_id": "079190000123"}, "Lan (CDC HCM)")]
    assert panel.current == "R02"
    assert panel.counts()["reviewed"] == 1 and panel.progress.value == 1
    assert "R01" in panel.message.value and "#1" in panel.message.value
    assert panel.summary() == "Đã xem xét 1 / 5 · Đang chờ 4 · Để sau 0"


def test_reject_and_defer(panel, ledger):
    # the reason box reads "— Lý do —" until one is chosen (a None value showed an empty box)
    assert panel.reason.label == "— Lý do —"
    panel.reject.click()  # R01, no reason: refused
    assert decisions(ledger) == {} and "Chọn lý do" in panel.message.value
    panel.reason.value = 'wrong_person'  # a rejection or an edit names its reason
    panel.reject.click()  # R01
    assert panel.reason.label == "— Lý do —"  # cleared for the next record
    panel.defer.click()  # R02
    assert decisions(ledger) == {"R01": "reject", "R02": "defer"}
    assert panel.current == "R03"
    assert panel.queue() == ["R03", "R04", "R08", "R02"]  # deferred records go to the end
    assert panel.counts() == {"total": 5, "reviewed": 1, "deferred": 1, "queued": 4}


def test_keyboard_flow_decides_the_whole_queue(panel, ledger):
    for _ in REVIEW_QUEUE:
        panel.accept.click()
    assert decisions(ledger) == {r: "accept" for r in REVIEW_QUEUE}
    assert panel.current is None
    assert panel.accept.disabled and panel.reject.disabled
    assert "Đã xem xét hết" in panel.record.value
    assert panel.counts() == {"total": 5, "reviewed": 5, "deferred": 0, "queued": 0}


def test_next_and_previous_browse_without_deciding(panel, ledger):
    panel.next.click()
    assert panel.current == "R02"
    panel.prev.click()
    panel.prev.click()
    assert panel.current == "R08"  # wraps around
    assert ledger.events_list() == []


def test_undo_is_a_new_event_and_brings_the_record_back(panel, ledger):
    panel.accept.click()
    panel.reason.value = 'wrong_person'  # a rejection or an edit names its reason
    panel.reject.click()
    assert panel.current == "R03"
    panel.undo.click()
    events = ledger.events_list()
    assert [e.action for e in events] == ["accept", "reject", "undo"]
    assert events[-1].undoes == events[1].id
    assert decisions(ledger) == {"R01": "accept"}
    assert panel.current == "R02"
    panel.undo.click()
    assert decisions(ledger) == {}
    assert panel.current == "R01" and panel.undo.disabled
    assert ledger.verify().ok


def test_undo_with_nothing_to_undo_says_so(panel, ledger):
    panel.undo.click()
    assert ledger.events_list() == []
    assert "Không có quyết định nào để hoàn tác" in panel.message.value


def test_ids_masked_until_revealed_and_masked_again_on_the_next_record(panel):
    full = "079190000123"
    assert full not in panel.record.value and "0791******23" in panel.record.value
    panel.reveal.value = True
    assert full in panel.record.value
    panel.next.click()
    assert panel.reveal.value is False
    assert "079085001234" not in panel.record.value


def test_reveal_logs_nothing_personal(panel, caplog):
    with caplog.at_level(logging.DEBUG):
        panel.reveal.value = True
        panel.accept.click()
    text = caplog.text
    for secret in ("079190000123", "Nguyễn", "Nguyen"):
        assert secret not in text


def test_edit_validates_with_vn_parsers_and_records_normalised_values(panel, ledger):
    panel.next.click()  # R02: day and month swapped
    panel.edit.click()
    form = panel.edit_form
    assert form.box.layout.display == "flex"
    assert form.dob.value == "01/12/1985"  # prefilled from the register, the Vietnamese way
    assert form.id_number.value == "" and "0790******34" in form.id_number.placeholder
    form.dob.value = "31/02/1985"
    panel.reason.value = 'document_checked'  # a rejection or an edit names its reason
    form.save.click()
    assert ledger.events_list() == []
    assert "Ngày sinh" in form.error.value
    form.dob.value = "01/12/1985"
    form.full_name.value = "trần   văn dũng"
    panel.reason.value = 'document_checked'  # a rejection or an edit names its reason
    form.save.click()
    events = ledger.events_list()
    assert [(e.record_id, e.action) for e in events] == [("R02", "edit")]
    # the name canonicalises to the typed one; the masked, empty ID box keeps the proposed ID fix
    assert events[0].values == {"dob": "1985-12-01", "id_number": "079085001234"}
    assert form.box.layout.display == "none"
    assert panel.current == "R03"


def test_edit_of_one_field_keeps_the_proposed_id_fix_through_apply(panel, ledger, tables):
    """Issue 15: Sửa, change only Ngày sinh, Lưu -> the automatic ID fix must survive ``vax apply``."""
    from vaxlib.review.apply import apply_decisions

    _, vacc, matches, _ = tables
    panel.next.click()  # R02: typed 79085001234 (leading zero lost), proposed 079085001234
    assert panel.current == "R02"
    panel.edit.click()
    form = panel.edit_form
    assert form.id_number.value == ""  # masked: the box is empty, its placeholder names the proposal
    form.dob.value = "02/12/1985"  # the analyst's own date, not the proposal
    preview = form.preview.value
    assert "Khi bấm Lưu sẽ ghi" in preview
    assert "02/12/1985" in preview and "bạn nhập" in preview
    assert "0790******34" in preview and "theo đề xuất" in preview  # the ID shown masked, as proposed
    assert "079085001234" not in preview
    panel.reason.value = 'document_checked'  # a rejection or an edit names its reason
    form.save.click()
    result = apply_decisions(vacc, matches, ledger.current_decisions())
    row = result.table.set_index("record_id").loc["R02"]
    assert row["id_number"] == "079085001234"
    assert row["dob"] == "1985-12-02"


def test_edit_preview_follows_the_form_and_says_when_nothing_changes(panel):
    panel.edit.click()  # R01: only the name differs from the register
    form = panel.edit_form
    assert "Nguyễn Thị Hoà" in form.preview.value
    form.full_name.value = "Nguyen Thi Hoa"  # back to what was typed
    assert "Không có thay đổi" in form.preview.value
    form.cancel.click()
    assert form.preview.value == ""


def test_edit_with_nothing_changed_writes_nothing(panel, ledger):
    panel.edit.click()
    panel.edit_form.full_name.value = "Nguyen Thi Hoa"  # as typed
    panel.edit_form.dob.value = "05/03/1990"
    panel.edit_form.sex.value = "F"
    panel.reason.value = 'document_checked'  # a rejection or an edit names its reason
    panel.edit_form.save.click()
    assert ledger.events_list() == []
    assert "Không có thay đổi" in panel.edit_form.error.value


def test_edit_fills_the_chosen_candidate(panel, ledger):
    panel.filters.province.value = "01"
    assert panel.current == "R04"
    panel.candidate.value = 2
    assert "p = 0,3000" in panel.waterfall.layout.title.text
    panel.edit.click()
    assert panel.edit_form.dob.value == "01/02/1975"  # the second candidate's date
    panel.reveal.value = True  # closes nothing but the ID may now be typed
    panel.edit.click()
    assert panel.edit_form.id_number.value == "001075004322"
    panel.reason.value = 'document_checked'  # a rejection or an edit names its reason
    panel.edit_form.save.click()
    ev = ledger.events_list()[-1]
    assert ev.action == "edit" and ev.values["id_number"] == "001075004322" and ev.values["dob"] == "1975-02-01"


def test_accept_candidate_two_writes_that_persons_values(panel, ledger, tables):
    from vaxlib.review.apply import apply_decisions

    _, vacc, matches, _ = tables
    panel.filters.province.value = "01"
    assert panel.current == "R04"
    assert panel.accept.description == "Duyệt"
    panel.candidate.value = 2
    assert panel.accept.description == "Duyệt ứng viên 2"
    panel.accept.click()
    ev = ledger.events_list()[-1]
    assert ev.record_id == "R04" and ev.action == "edit" and ev.reason == "candidate 2"
    assert ev.values == {"dob": "1975-02-01", "id_number": "001075004322"}
    row = apply_decisions(vacc, matches, ledger.current_decisions()).table.set_index("record_id").loc["R04"]
    assert (row["id_number"], row["dob"]) == ("001075004322", "1975-02-01")  # not candidate 1's 001075004321


def test_unmatched_record_says_why_accept_is_off_and_links_by_register_search(panel, ledger):
    panel.filters.status.value = "unmatched"
    assert panel.current == "R07"
    assert panel.accept.disabled
    assert "không có ứng viên" in panel.accept_why.value
    search = panel.search
    assert search.box.layout.display == "flex"
    assert search.name.value == "Hoàng Văn Nam" and search.dob.value == "01/01/1960"
    search.run()
    assert search.results.options == () or len(search.results.options) == 0
    assert "Không tìm thấy" in search.note.value
    search.name.value = "pham minh tuan"  # no diacritics, lower case
    search.dob.value = ""
    search.province.value = "01"
    search.run()
    labels = [label for label, _ in search.results.options]
    assert len(labels) == 2 and all("Phạm Minh Tuấn" in x for x in labels)
    assert not any("001075004321" in x for x in labels)  # masked in the list
    search.dob.value = "01/02/1975"
    search.run()
    assert [v for _, v in search.results.options] == ["001075004322"]
    assert search.link.disabled
    search.results.value = "001075004322"
    search.link.click()
    ev = ledger.events_list()[-1]
    assert ev.record_id == "R07" and ev.action == "edit"
    assert ev.values == {"full_name": "Phạm Minh Tuấn", "dob": "1975-02-01", "id_number": "001075004322"}
    panel.filters.status.value = "review"
    assert panel.accept_why.value == "" and search.box.layout.display == "none"


def test_bulk_accept_needs_a_cluster_and_a_confirmation(panel, ledger):
    panel.bulk.click()
    assert "chọn một cụm" in panel.message.value.lower()
    panel.filters.cluster.value = NO_DIACRITICS_CLUSTER
    assert panel.queue() == ["R01", "R08"]
    panel.bulk.click()
    assert panel.bulk_box.layout.display == "flex"
    assert "Duyệt 2 bản ghi" in panel.bulk_question.value
    assert ledger.events_list() == []  # nothing before the confirmation
    panel.bulk_cancel.click()
    assert ledger.events_list() == [] and panel.bulk_box.layout.display == "none"
    panel.bulk.click()
    panel.bulk_confirm.click()
    events = ledger.events_list()
    assert sorted(e.record_id for e in events) == ["R01", "R08"]
    assert {e.action for e in events} == {"bulk_accept"} and len({e.bulk_id for e in events}) == 1
    assert events[0].values == {"cluster_id": NO_DIACRITICS_CLUSTER}
    assert panel.counts() == {"total": 2, "reviewed": 2, "deferred": 0, "queued": 0}
    panel.undo.click()  # undoes the whole batch
    assert decisions(ledger) == {}
    assert [e.action for e in ledger.events_list()].count("undo") == 2


def test_bulk_accept_skips_records_already_decided(panel, ledger):
    panel.filters.cluster.value = NO_DIACRITICS_CLUSTER
    panel.reason.value = 'wrong_person'  # a rejection or an edit names its reason
    panel.reject.click()  # R01 rejected individually
    panel.bulk.click()
    panel.bulk_confirm.click()
    assert decisions(ledger) == {"R01": "reject", "R08": "bulk_accept"}


def test_filters(panel):
    panel.filters.province.value = "01"
    assert [v for _, v in panel.filters.facility.options] == ["", "CS-01-0002"]
    assert panel.queue() == ["R04"]
    panel.filters.province.value = ""
    panel.filters.error.value = "id:missing"
    assert panel.queue() == ["R03", "R04"]
    panel.filters.error.value = ""
    panel.filters.status.value = "unmatched"
    assert panel.queue() == ["R07"] and panel.current == "R07"
    assert panel.accept.disabled and not panel.reject.disabled  # nothing suggested to accept
    assert "Không có ứng viên" in panel.record.value
    panel.filters.status.value = ""
    assert panel.queue() == ["R01", "R02", "R03", "R04", "R05", "R07", "R08"]


def test_panel_reads_decisions_already_in_the_ledger(tables, ledger):
    registry, vacc, matches, cands = tables
    ledger.accept("R01", analyst="Minh")
    p = review_panel(vacc, matches, cands, ledger, "Lan", registry=registry)
    assert p.current == "R02" and p.counts()["reviewed"] == 1


def test_without_registry_shows_the_suggested_correction(tables, ledger):
    _, vacc, matches, cands = tables
    p = review_panel(vacc, matches, cands, ledger, "Lan")
    assert "Nguy<mark" in p.record.value and "ễ</mark>" in p.record.value


def test_analyst_is_required(tables, ledger):
    _, vacc, matches, cands = tables
    with pytest.raises(ValueError, match="analyst"):
        review_panel(vacc, matches, cands, ledger, "  ")


# ----------------------------------------------------------------------------- explore panel

def test_explore_panel_drills_down_to_masked_records(tables):
    _, vacc, matches, _ = tables
    e = explore_panel(vacc, matches)
    assert "gõ tên không dấu" in e.table.value
    records = e.drill(NO_DIACRITICS_CLUSTER)
    assert records["record_id"].tolist() == ["R01", "R08"]
    assert "0791******23" in e.records.value and "079190000123" not in e.records.value
    assert "Tên không dấu" in e.records.value
    assert e.cluster.value == NO_DIACRITICS_CLUSTER
    assert [e.figures.get_title(i) for i in range(4)] == ["Các cụm lỗi lớn nhất", "Loại lỗi", "Cơ sở × lỗi",
                                                          "Theo thời gian"]
    assert e.treemap.data[0].type == "treemap" and e.heatmap.data[0].type == "heatmap"


def test_cluster_export_writes_a_safe_xlsx_for_the_facility(tables, ledger, tmp_path):
    import openpyxl

    from vaxlib.io import read_table

    _, vacc, matches, _ = tables
    vacc = vacc.copy()
    vacc.loc[vacc["record_id"] == "R08", "lot_number"] = "=HYPERLINK(\"http://x\",\"A1\")"
    ledger.accept("R01", analyst="Lan", values={"person_id": "079190000123"})
    e = explore_panel(vacc, matches, export_dir=str(tmp_path / "exports"), ledger=ledger)
    assert e.export.disabled  # nothing chosen yet
    e.drill(NO_DIACRITICS_CLUSTER)
    assert not e.export.disabled
    e.export.click()
    path = tmp_path / "exports" / "cum-CS-79-0001-name_no_diacritics-2021-10.xlsx"
    assert path.exists() and str(path) in e.export_message.value
    assert "Đã xuất 2 bản ghi" in e.export_message.value and "CS-79-0001" in e.export_message.value
    back = read_table(path, "vaccinations").table.set_index("record_id")
    assert back.index.tolist() == ["R01", "R08"]
    assert back.loc["R01", "full_name"] == "Nguyễn Thị Hoà"  # the accepted fix is applied
    assert back.loc["R08", "full_name"] == "Tran Van Dung"  # still in review: as typed
    assert back.loc["R08", "lot_number"] == "=HYPERLINK(\"http://x\",\"A1\")"
    ws = openpyxl.load_workbook(path).active
    cells = [c.value for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    assert not any(v.startswith("=") for v in cells)  # the formula is neutralised in the sheet
    assert [p.name for p in (tmp_path / "exports").iterdir()] == [path.name]  # no temporary file left


def test_clusters_table_speaks_the_language(tables):
    from vaxlib.widgets import clusters_table

    _, vacc, matches, _ = tables
    e = explore_panel(vacc, matches)
    vi = clusters_table(e.clusters, "vi", limit=3)
    assert list(vi.columns) == ["Hạng", "Mô tả", "Số bản ghi", "Sửa tự động", "Cần xem xét", "Không tìm thấy"]
    assert len(vi) == 3 and "gõ tên không dấu" in vi.iloc[0, 1]
    assert list(clusters_table(e.clusters, "en").columns)[:2] == ["Rank", "Description"]


def test_drill_down_sorts_and_facets_like_openrefine(tables):
    _, vacc, matches, _ = tables
    # one larger cluster: every mismatch of CS-79-0001 / CS-79-0002 in the fixture shares no code, so
    # drill into the no-diacritics cluster and check sort and facets on its two records
    e = explore_panel(vacc, matches)
    e.drill(NO_DIACRITICS_CLUSTER)
    assert e.tools.layout.display == "flex"
    assert [v for _, v in e.facet_status.options] == ["", "review"]
    assert "Cần xem xét (2)" in [label for label, _ in e.facet_status.options]
    assert e.visible_records()["record_id"].tolist() == ["R01", "R08"]
    e.sort_by.value = "dob"  # 05/03/1990 vs 01/12/1985, compared as dates
    assert e.visible_records()["record_id"].tolist() == ["R08", "R01"]
    e.descending.value = True
    assert e.visible_records()["record_id"].tolist() == ["R01", "R08"]
    assert e.records.value.index("R01") < e.records.value.index("R08")
    e.facet_error.value = "name:no_diacritics"
    assert len(e.visible_records()) == 2
    e.facet_status.value = "review"
    assert len(e.visible_records()) == 2


def test_explore_bar_click_drills_down(tables):
    _, vacc, matches, _ = tables
    e = explore_panel(vacc, matches, lang="en")
    bar = e.bar.data[0]
    i = list(bar.customdata).index(NO_DIACRITICS_CLUSTER)

    class Points:
        point_inds = [i]

    e._on_bar_click(bar, Points(), None)
    assert e.drilled["record_id"].tolist() == ["R01", "R08"]


def test_records_html_limit():
    _, vacc, matches, _ = make_review_tables()
    html = records_html(vacc.merge(matches, on="record_id"), "en", limit=3)
    assert html.count("<tr>") == 3 and "and 5 more records" in html


# ----------------------------------------------------------------------------- workspace

def test_load_workspace_demo_layout(tmp_path):
    registry, vacc, matches, cands = make_review_tables()
    from vaxlib.runs import atomic_run

    (tmp_path / "data").mkdir()
    registry.to_parquet(tmp_path / "data" / "registry.parquet")
    vacc.to_parquet(tmp_path / "data" / "vaccinations.parquet")
    with atomic_run(tmp_path / "match", command="match") as run:
        matches.to_parquet(run / "matches.parquet")
        cands.to_parquet(run / "candidates.parquet")
    ws = load_workspace(tmp_path)
    assert ws.vaccinations["record_id"].tolist() == vacc["record_id"].tolist()
    assert ws.vaccinations.loc[1, "id_number"] == "79085001234"  # IDs stay text
    assert len(ws.candidates) == len(cands) and len(ws.registry) == len(registry)


def test_load_workspace_without_matches(tmp_path):
    _, vacc, _, _ = make_review_tables()
    vacc.to_parquet(tmp_path / "vaccinations.parquet")
    with pytest.raises(WorkspaceError, match="vax match"):
        load_workspace(tmp_path)


# ------------------------------------------------------------ feedback queue
def _queue(record_ids: list[str]) -> pd.DataFrame:
    rows = [
        ("PA1", "2022-04-20T08:00:00+07:00", 80.0, True, "missing_dose", "missing_dose", "missing_dose",
         "Lịch sử tiêm còn thiếu mũi", "Dose history still has a gap", ";".join(record_ids)),
        ("PA2", "2022-04-29T08:00:00+07:00", 10.0, False, "other", "other", "no_person",
         "Không tìm thấy người trong CSDL dân cư", "Person not found in the register", ""),
    ]
    return pd.DataFrame(rows, columns=["feedback_id", "submitted_at", "age_hours", "overdue", "category_citizen",
                                       "category_system", "reason", "reason_vi", "reason_en", "record_ids"])


def test_feedback_panel_lists_the_queue_and_opens_the_linked_record(panel):
    from vaxlib.widgets import feedback_panel

    target = panel.queue()[-1]
    fp = feedback_panel(_queue(["NOT-IN-QUEUE", target]), panel)
    assert [v for _, v in fp.items.options] == ["PA1", "PA2"]
    assert "Thiếu mũi tiêm" in fp.items.options[0][0] and "⚠" in fp.items.options[0][0]
    fp.items.value = "PA1"
    fp.open_record.click()
    assert panel.current == target
    assert target in fp.message.value
    fp.items.value = "PA2"
    fp.open_record.click()
    assert panel.current == target  # nothing linked: the review panel stays where it was
    assert "chưa gắn" in fp.message.value


def test_feedback_panel_shows_the_message_the_age_in_words_and_opens_every_linked_record(panel):
    from vaxlib.widgets import feedback_panel

    first, second = panel.queue()[0], panel.queue()[-1]
    messages = pd.DataFrame({"feedback_id": ["PA1", "PA2"],
                             "message": ["Tôi đã tiêm mũi 2 ngày 01/10/2021 nhưng chưa thấy trên VNeID.", ""]})
    fp = feedback_panel(_queue([first, second]), panel, messages=messages)
    fp.items.value = "PA1"
    assert "Tôi đã tiêm mũi 2 ngày 01/10/2021" in fp.details.value
    assert "3 ngày 8 giờ" in fp.details.value  # 80 hours, not "80"
    assert [v for _, v in fp.records.options] == [first, second]
    fp.records.value = second
    fp.open_record.click()
    assert panel.current == second
    fp.records.value = first
    fp.open_record.click()
    assert panel.current == first
    fp.items.value = "PA2"
    assert "Người dân viết" not in fp.details.value and fp.open_record.disabled


def test_record_opened_from_feedback_outside_the_filter_is_not_called_decided(panel):
    panel.filters.province.value = "01"  # R01..R03, R08 leave the queue
    panel.show("R01")
    assert "ngoài bộ lọc" in panel.position.value
    assert "đã có quyết định" not in panel.position.value


def test_empty_queue_says_which_filter_to_change(tables, ledger):
    registry, vacc, matches, cands = tables
    no_review = matches.assign(status=matches["status"].replace({"review": "fix"}))
    p = review_panel(vacc, no_review, cands, ledger, "Lan", registry=registry)
    assert p.current is None
    text = p.record.value
    assert "Không có bản ghi «Cần xem xét»" in text and "Trạng thái ghép" in text
    assert "«Sửa tự động» (6)" in text and "«Không tìm thấy» (1)" in text
    # nothing to explain: no chart with bare axes, no candidate tabs, no "record 1 / n"
    assert p.waterfall_box.layout.display == "none"
    assert p.candidate.options == () and p.position.value == ""
    assert p.accept.disabled and p.reject.disabled
    p.filters.status.value = "fix"
    assert p.current is not None
    assert p.waterfall_box.layout.display == "flex" and len(p.waterfall.data[0].x) > 0


def test_counters_agree_after_an_edit(panel):
    panel.edit.click()
    panel.edit_form.full_name.value = "Nguyễn Thị Hoa"
    panel.reason.value = 'document_checked'  # a rejection or an edit names its reason
    panel.edit_form.save.click()
    c = panel.counts()
    assert c["queued"] == len(panel.queue()) == 4
    assert f"/ {c['queued']} " in panel.position.value and f"Đang chờ {c['queued']}" in panel.progress_label.value


def test_feedback_panel_filters_overdue_items_and_speaks_english(panel):
    from vaxlib.widgets import feedback_panel

    fp = feedback_panel(_queue([]), panel, lang="en")
    fp.show_filter.value = "overdue"
    assert [v for _, v in fp.items.options] == ["PA1"]
    fp.show_filter.value = "open"
    assert [v for _, v in fp.items.options] == ["PA2"]
    assert "Citizens' feedback" in fp.widget.children[0].value


# ----------------------------------------------------------------------------- accountability (issue 14)

def test_reject_and_edit_need_a_reason_from_the_list(panel, ledger):
    panel.reject.click()  # no reason chosen
    assert ledger.events_list() == [] and "Chọn lý do" in panel.message.value
    panel.reason.value = "other"
    panel.reject.click()  # "other" needs words
    assert ledger.events_list() == []
    panel.reason_text.value = "ảnh trên giấy tờ không khớp"
    panel.reject.click()
    ev = ledger.events_list()[-1]
    assert (ev.record_id, ev.action, ev.reason_code, ev.reason) == ("R01", "reject", "other",
                                                                   "ảnh trên giấy tờ không khớp")
    assert panel.reason.value == "" and panel.reason_text.value == ""  # the next record starts clean
    panel.edit.click()
    panel.edit_form.full_name.value = "Trần Văn Dũng"
    panel.edit_form.save.click()
    assert len(ledger.events_list()) == 1 and "Chọn lý do" in panel.edit_form.error.value
    panel.reason.value = "citizen_confirmed"
    panel.edit_form.save.click()
    assert ledger.events_list()[-1].reason_code == "citizen_confirmed"


def test_revealing_the_full_id_is_recorded(panel, ledger):
    rid = panel.current
    panel.reveal.value = True
    events = ledger.events_list()
    assert [(e.record_id, e.action, e.analyst) for e in events] == [(rid, "reveal", "Lan (CDC HCM)")]
    panel.reveal.value = False  # hiding again is not an event
    assert len(ledger.events_list()) == 1 and decisions(ledger) == {}


def test_a_big_bulk_acceptance_waits_for_a_supervisor(panel, ledger):
    ledger.bulk_confirm_above = 1  # parameters/review.yaml says 20; two records are enough here
    panel.filters.cluster.value = NO_DIACRITICS_CLUSTER
    panel.bulk.click()
    panel.bulk_confirm.click()
    events = ledger.events_list()
    assert len(events) == 2 and all(e.values["needs_confirmation"] for e in events)
    assert "chờ giám sát" in panel.message.value
    assert decisions(ledger) == {}  # not a decision until confirmed
    ledger.confirm_bulk(events[0].bulk_id, analyst="Minh (giám sát)")
    assert decisions(ledger) == {"R01": "bulk_accept", "R08": "bulk_accept"}


def test_panel_on_postgres_shows_and_decides_only_the_roles_provinces(tables, site):
    """Team mode: the queue of an analyst of Hà Nội (01) holds only 01's records; decisions carry the role."""
    registry, vacc, matches, cands = tables
    with Ledger.open(site.url_for("hn_analyst", "analyst", ["01"])) as led:
        panel = review_panel(vacc, matches, cands, led, "typed name", registry=registry, status="")
        queue = panel.queue()
        if site.backend == "postgres":
            assert queue and all(r in ("R04", "R07") for r in queue)
        else:  # SQLite has no roles: everything
            assert {"R04", "R07"} & set(queue) and {"R01", "R02"} & set(queue)
        panel.defer.click()
        ev = led.events_list()[-1]
        assert ev.record_id == queue[0]
        assert ev.province == vacc.set_index("record_id").loc[queue[0], "facility_province"]
        assert ev.analyst == ("hn_analyst" if site.backend == "postgres" else "typed name")


def _document_order(widget) -> list:
    """Every widget under ``widget`` in the order the page shows them (boxes stack their children)."""
    out = [widget]
    for child in getattr(widget, "children", ()):
        out += _document_order(child)
    return out


@pytest.mark.parametrize("lang, label", [("vi", "bắt buộc khi Từ chối hoặc Sửa"), ("en", "needed to Reject or Edit")])
def test_the_reason_list_comes_before_the_buttons_that_need_it(tables, ledger, lang, label):
    """The analyst sees "— Lý do —" before pressing Từ chối or Sửa (it sat below the buttons)."""
    registry, vacc, matches, cands = tables
    p = review_panel(vacc, matches, cands, ledger, "lan", lang=lang, registry=registry)
    order = _document_order(p.widget)
    at = {id(w): i for i, w in enumerate(order)}
    assert at[id(p.reason)] < at[id(p.reject)] and at[id(p.reason)] < at[id(p.edit)]
    row = next(w for w in order if p.reason in getattr(w, "children", ()))
    assert label in row.children[0].value and row.children[1] is p.reason


def test_the_panel_names_facilities_where_the_data_has_their_names(tables, ledger):
    """The record card and the facility filter say "Trạm Y tế phường Bến Nghé (CS-79-0001)", not the bare
    code; a facility without a name in the data keeps its code."""
    registry, vacc, matches, cands = tables
    named = vacc.assign(facility_name=vacc["facility_id"].map({"CS-79-0001": "Trạm Y tế phường Bến Nghé"}))
    p = review_panel(named, matches, cands, ledger, "lan", registry=registry)
    assert p.current == "R01" and "cơ sở Trạm Y tế phường Bến Nghé (CS-79-0001) ·" in p.record.value
    options = dict(p.filters.facility.options)
    assert options["Trạm Y tế phường Bến Nghé (CS-79-0001)"] == "CS-79-0001" and options["CS-79-0002"] == "CS-79-0002"
    plain = review_panel(vacc, matches, cands, ledger, "lan", registry=registry)
    assert "cơ sở CS-79-0001 ·" in plain.record.value


def test_workspace_describes_itself_in_the_notebook_language(tmp_path):
    from vaxlib.workspace import Workspace

    registry, vacc, matches, cands = make_review_tables()
    ws = Workspace(root=tmp_path, vaccinations=pd.concat([vacc] * 250), matches=matches, candidates=cands,
                   registry=registry)
    assert ws.describe("vi").endswith(": mũi tiêm 2.000, kết quả ghép 8, ứng viên 8, CSDL dân cư 6")
    assert ws.describe("en").endswith(": vaccinations 2,000, matches 8, candidates 8, registry 6")
