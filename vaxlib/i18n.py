"""Every user-facing word of vaxlib, and the Vietnamese ways of writing numbers and dates.

One table per screen or document (``review`` widgets, ``feedback`` queue,
``report``), plus the error taxonomy's labels, all keyed by code and then by
language.  Vietnamese (``"vi"``) is the default everywhere; English
(``"en"``) is chosen with ``--lang en`` on the command line or ``lang = "en"``
in a notebook's parameters cell.

Formats follow Vietnamese usage (TCVN 7217 / the Ministry's forms):
dates ``dd/mm/yyyy``, thousands separated by ``.`` and decimals by ``,``
(``1.234.567``, ``12,3%``).  English keeps ``1,234,567``/``12.3%`` and
writes dates ``30 Apr 2022`` (unambiguous to readers used to either order).

Use :func:`t` for a sentence (``t("review.title", lang)``), the ``fmt_*``
helpers for numbers and dates, and the ``*_LABELS`` tables (re-exported by
:mod:`vaxlib.review.labels`) for the error taxonomy.  A missing key raises
:class:`KeyError`, so a typo fails in tests instead of showing a code.
"""
from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from typing import Any, Literal

import pandas as pd

from vaxlib.cells import is_missing

__all__ = [
    "Lang",
    "LANGS",
    "DEFAULT_LANG",
    "NO_CODE",
    "STRINGS",
    "check_lang",
    "t",
    "has",
    "table",
    "fmt_int",
    "fmt_decimal",
    "fmt_pct",
    "fmt_date",
    "fmt_datetime",
    "plotly_separators",
    "fmt_month",
    "fmt_duration",
    "ERROR_LABELS",
    "ERROR_PHRASES",
    "FIELD_LABELS",
    "STATUS_LABELS",
    "ACTION_LABELS",
    "REASON_LABELS",
    "UI_LABELS",
    "FEEDBACK_CATEGORY_LABELS",
    "FEEDBACK_REASON_LABELS",
    "FEEDBACK_RESOLUTION_LABELS",
]

Lang = Literal["vi", "en"]
LANGS: tuple[str, ...] = ("vi", "en")
DEFAULT_LANG = "vi"

#: pseudo-code for a mismatch record that carries no error code (e.g. unmatched)
NO_CODE = "none"


def check_lang(lang: str) -> str:
    """Return ``lang`` if supported, else raise :class:`ValueError`."""
    if lang not in LANGS:
        raise ValueError(f"unsupported language {lang!r}; use one of {LANGS}")
    return lang


def _pairs(rows: Mapping[str, tuple[str, str]]) -> dict[str, dict[str, str]]:
    return {k: {"vi": vi, "en": en} for k, (vi, en) in rows.items()}


# --------------------------------------------------------------------------- error taxonomy

#: code -> {lang: label}
ERROR_LABELS: dict[str, dict[str, str]] = {
    "id:missing": {"vi": "Thiếu số CMND/CCCD", "en": "ID number missing"},
    "id:malformed": {"vi": "Số giấy tờ sai định dạng", "en": "Malformed ID number"},
    "id:passport": {"vi": "Nhập số hộ chiếu", "en": "Passport number entered"},
    "id:old_cmnd": {"vi": "Dùng số CMND cũ (9 số)", "en": "Old 9-digit CMND used"},
    "id:lost_leading_zero": {"vi": "Mất số 0 đầu", "en": "Leading zero lost"},
    "id:excel_mangled": {"vi": "Số bị Excel làm hỏng", "en": "ID mangled by Excel"},
    "id:typo": {"vi": "Gõ nhầm số giấy tờ", "en": "ID number typo"},
    "id:transposition": {"vi": "Đảo vị trí chữ số", "en": "Transposed digits"},
    "id:other_person": {"vi": "Số giấy tờ của người khác", "en": "Another person's ID"},
    "id:unknown": {"vi": "Số không có trong CSDL dân cư", "en": "ID not in the register"},
    "name:unicode_form": {"vi": "Sai dạng mã Unicode", "en": "Unicode form"},
    "name:case_spacing": {"vi": "Sai chữ hoa/khoảng trắng", "en": "Letter case or spacing"},
    "name:no_diacritics": {"vi": "Tên không dấu", "en": "Name without diacritics"},
    "name:tone_placement": {"vi": "Đặt dấu thanh kiểu cũ/mới", "en": "Tone-mark placement (old/new style)"},
    "name:diacritic_error": {"vi": "Sai dấu", "en": "Wrong diacritics"},
    "name:typo": {"vi": "Gõ nhầm tên", "en": "Name typo"},
    "name:order": {"vi": "Đảo thứ tự họ tên", "en": "Name parts in another order"},
    "name:missing_part": {"vi": "Thiếu một phần họ tên", "en": "Part of the name missing"},
    "name:other": {"vi": "Tên khác", "en": "Other name difference"},
    "dob:format": {"vi": "Sai định dạng ngày sinh", "en": "Date-of-birth format"},
    "dob:day_month_swap": {"vi": "Đảo ngày và tháng sinh", "en": "Day and month swapped"},
    "dob:year_only_default": {"vi": "Chỉ có năm sinh (mặc định 01/01)", "en": "Year only (01/01 default)"},
    "dob:partial": {"vi": "Ngày sinh không đầy đủ", "en": "Partial date of birth"},
    "dob:typo": {"vi": "Gõ nhầm ngày sinh", "en": "Date-of-birth typo"},
    "dob:other": {"vi": "Ngày sinh khác", "en": "Other date-of-birth difference"},
    "sex:mismatch": {"vi": "Sai giới tính", "en": "Sex mismatch"},
    "sex:missing": {"vi": "Thiếu giới tính", "en": "Sex missing"},
    NO_CODE: {"vi": "Chưa xác định lỗi", "en": "No error code"},
}

#: code -> {lang: verb phrase}; the subject is a facility, a province or "all facilities"
ERROR_PHRASES: dict[str, dict[str, str]] = {
    "id:missing": {"vi": "bỏ trống số CMND/CCCD", "en": "left the ID number empty"},
    "id:malformed": {"vi": "nhập số giấy tờ sai định dạng", "en": "typed malformed ID numbers"},
    "id:passport": {"vi": "nhập số hộ chiếu thay cho số CCCD", "en": "entered a passport number instead of the CCCD"},
    "id:old_cmnd": {"vi": "nhập số CMND cũ thay cho số CCCD", "en": "entered the old CMND instead of the CCCD"},
    "id:lost_leading_zero": {"vi": "làm mất số 0 đầu của số CCCD", "en": "lost the leading zero of the ID number"},
    "id:excel_mangled": {"vi": "để Excel làm hỏng số CCCD", "en": "let Excel mangle the ID number"},
    "id:typo": {"vi": "gõ nhầm chữ số trong số CCCD", "en": "mistyped a digit of the ID number"},
    "id:transposition": {"vi": "đảo vị trí chữ số trong số CCCD", "en": "transposed digits of the ID number"},
    "id:other_person": {"vi": "nhập số giấy tờ của người khác", "en": "entered another person's ID number"},
    "id:unknown": {"vi": "nhập số giấy tờ không có trong CSDL dân cư", "en": "entered ID numbers not in the register"},
    "name:unicode_form": {"vi": "gõ tên sai dạng mã Unicode", "en": "typed names in another Unicode form"},
    "name:case_spacing": {"vi": "viết sai chữ hoa hoặc khoảng trắng trong tên",
                          "en": "got letter case or spacing wrong in names"},
    "name:no_diacritics": {"vi": "gõ tên không dấu", "en": "typed names without diacritics"},
    "name:tone_placement": {"vi": "đặt dấu thanh khác kiểu (hoà/hòa)",
                            "en": "placed tone marks in the other style (hoà/hòa)"},
    "name:diacritic_error": {"vi": "gõ sai dấu trong tên", "en": "typed wrong diacritics in names"},
    "name:typo": {"vi": "gõ nhầm chữ trong tên", "en": "mistyped letters in names"},
    "name:order": {"vi": "đảo thứ tự họ và tên", "en": "put name parts in another order"},
    "name:missing_part": {"vi": "bỏ sót một phần họ tên", "en": "left out part of the name"},
    "name:other": {"vi": "nhập tên khác với CSDL dân cư", "en": "entered names differing from the register"},
    "dob:format": {"vi": "nhập ngày sinh sai định dạng", "en": "typed dates of birth in another format"},
    "dob:day_month_swap": {"vi": "đảo ngày và tháng sinh", "en": "swapped day and month"},
    "dob:year_only_default": {"vi": "chỉ nhập năm sinh, để mặc định 01/01",
                              "en": "entered only the birth year, defaulting to 01/01"},
    "dob:partial": {"vi": "nhập ngày sinh không đầy đủ", "en": "entered incomplete dates of birth"},
    "dob:typo": {"vi": "gõ nhầm ngày sinh", "en": "mistyped dates of birth"},
    "dob:other": {"vi": "nhập ngày sinh khác với CSDL dân cư",
                  "en": "entered dates of birth differing from the register"},
    "sex:mismatch": {"vi": "nhập sai giới tính", "en": "entered the wrong sex"},
    "sex:missing": {"vi": "bỏ trống giới tính", "en": "left sex empty"},
    NO_CODE: {"vi": "có bản ghi chưa xác định được lỗi", "en": "had records with no error code"},
}

FIELD_LABELS: dict[str, dict[str, str]] = {
    "id": {"vi": "Giấy tờ tùy thân", "en": "ID number"},
    "name": {"vi": "Họ và tên", "en": "Name"},
    "dob": {"vi": "Ngày sinh", "en": "Date of birth"},
    "sex": {"vi": "Giới tính", "en": "Sex"},
    NO_CODE: {"vi": "Khác", "en": "Other"},
}

STATUS_LABELS: dict[str, dict[str, str]] = {
    "verified": {"vi": "Đã khớp", "en": "Verified"},
    "fix": {"vi": "Sửa tự động", "en": "Automatic fix"},
    "review": {"vi": "Cần xem xét", "en": "Needs review"},
    "unmatched": {"vi": "Không tìm thấy", "en": "Unmatched"},
    "invalid": {"vi": "Không hợp lệ", "en": "Invalid"},
}

#: ledger actions; the four buttons of the review queue are accept/reject/edit/defer
ACTION_LABELS: dict[str, dict[str, str]] = {
    "accept": {"vi": "Duyệt", "en": "Accept"},
    "reject": {"vi": "Từ chối", "en": "Reject"},
    "edit": {"vi": "Sửa", "en": "Edit"},
    "defer": {"vi": "Để sau", "en": "Defer"},
    "bulk_accept": {"vi": "Duyệt cả cụm", "en": "Accept whole cluster"},
    "undo": {"vi": "Hoàn tác", "en": "Undo"},
    "reveal": {"vi": "Xem số giấy tờ đầy đủ", "en": "Full ID number revealed"},
    "confirm_bulk": {"vi": "Giám sát xác nhận duyệt cả cụm", "en": "Supervisor confirmed a cluster acceptance"},
}

#: why an analyst rejected or edited (vaxlib.review.ledger.REASON_CODES; "other" needs free text)
REASON_LABELS: dict[str, dict[str, str]] = {
    "wrong_person": {"vi": "Không phải cùng một người", "en": "Not the same person"},
    "typed_value_correct": {"vi": "Giá trị đã nhập là đúng", "en": "The typed value is right"},
    "insufficient_evidence": {"vi": "Chưa đủ căn cứ", "en": "Not enough evidence"},
    "duplicate_record": {"vi": "Bản ghi trùng", "en": "Duplicate record"},
    "document_checked": {"vi": "Đã đối chiếu giấy tờ", "en": "Checked against the document"},
    "citizen_confirmed": {"vi": "Người dân xác nhận", "en": "Confirmed by the citizen"},
    "facility_confirmed": {"vi": "Cơ sở tiêm xác nhận", "en": "Confirmed by the facility"},
    "register_match": {"vi": "Theo CSDL dân cư", "en": "From the population register"},
    "other": {"vi": "Lý do khác (ghi rõ)", "en": "Other (say why)"},
}

#: axis titles and other words shared by plots, widgets and reports
UI_LABELS: dict[str, dict[str, str]] = {
    "records": {"vi": "Số bản ghi", "en": "Records"},
    "facility": {"vi": "Cơ sở tiêm", "en": "Facility"},
    "province": {"vi": "Tỉnh/Thành phố", "en": "Province"},
    "month": {"vi": "Tháng tiêm", "en": "Month of vaccination"},
    "error": {"vi": "Lỗi", "en": "Error"},
    "error_field": {"vi": "Trường dữ liệu", "en": "Field"},
    "cluster": {"vi": "Cụm lỗi", "en": "Cluster"},
    "all_errors": {"vi": "Tất cả lỗi", "en": "All errors"},
    "all_facilities": {"vi": "Các cơ sở tiêm", "en": "All facilities"},
    "treemap_title": {"vi": "Các loại lỗi trong bản ghi chưa khớp", "en": "Error codes in mismatched records"},
    "heatmap_title": {"vi": "Lỗi theo cơ sở tiêm", "en": "Errors by facility"},
    "time_title": {"vi": "Lỗi theo tháng tiêm", "en": "Errors by month of vaccination"},
    "clusters_title": {"vi": "Các cụm lỗi lớn nhất", "en": "Largest error clusters"},
    "reviewed": {"vi": "Đã xem xét", "en": "Reviewed"},
    "queued": {"vi": "Đang chờ", "en": "Queued"},
}

#: citizens' feedback categories (contract: feedback.category), shared by
#: `vax report`, the feedback queue widget and `vax feedback`
FEEDBACK_CATEGORY_LABELS: dict[str, dict[str, str]] = {
    "missing_dose": {"vi": "Thiếu mũi tiêm", "en": "Missing dose"},
    "wrong_personal_info": {"vi": "Sai thông tin cá nhân", "en": "Wrong personal information"},
    "wrong_vaccine": {"vi": "Sai loại vắc xin", "en": "Wrong vaccine"},
    "duplicate_record": {"vi": "Trùng mũi tiêm", "en": "Duplicate record"},
    "other": {"vi": "Khác", "en": "Other"},
}

#: why a citizen's complaint waits in the queue (`vax feedback`)
FEEDBACK_REASON_LABELS: dict[str, dict[str, str]] = {
    "no_person": {"vi": "Không tìm thấy người trong CSDL dân cư", "en": "Person not found in the register"},
    "uncertain_link": {"vi": "Liên kết chưa chắc chắn", "en": "Uncertain link"},
    "no_records": {"vi": "Không tìm thấy mũi tiêm nào", "en": "No dose record found"},
    "missing_dose": {"vi": "Lịch sử tiêm còn thiếu mũi", "en": "Dose history still has a gap"},
    "duplicate_record": {"vi": "Mũi tiêm bị ghi trùng", "en": "Dose recorded twice"},
    "wrong_vaccine": {"vi": "Cần cơ sở tiêm kiểm tra loại vắc xin", "en": "Facility must check the vaccine"},
    "records_not_verified": {"vi": "Bản ghi chưa được sửa/xác minh", "en": "Records not yet fixed or verified"},
    "records_pending": {"vi": "Bản ghi liên quan đang chờ xem xét", "en": "A record it concerns is still undecided"},
    "nothing_found": {"vi": "Hệ thống không phát hiện lỗi", "en": "The system found no problem"},
    "not_mine": {"vi": "Mũi tiêm của người khác vẫn gắn với người phản ánh",
                 "en": "Someone else's dose is still on this person"},
    "vague": {"vi": "Nội dung chưa rõ, cần liên hệ người dân", "en": "Unclear message: contact the citizen"},
    "routed_question": {"vi": "Câu hỏi về thủ tục: chuyển bộ phận hỗ trợ",
                        "en": "A question about procedures: routed to support"},
    "routed_account": {"vi": "Vấn đề tài khoản (VNeID): chuyển bộ phận hỗ trợ",
                       "en": "An account problem (VNeID): routed to support"},
}

#: how a complaint was resolved (`vax feedback`)
FEEDBACK_RESOLUTION_LABELS: dict[str, dict[str, str]] = {
    "applied_fix": {"vi": "Đã sửa theo CSDL dân cư", "en": "Fixed from the register"},
    "consolidated_history": {"vi": "Đã gộp lịch sử tiêm", "en": "Dose history consolidated"},
    "already_recorded": {"vi": "Mũi tiêm đã có trong hệ thống", "en": "The dose was already recorded"},
    "review_decision": {"vi": "Chuyên viên đã xử lý", "en": "Handled by an analyst"},
}


# --------------------------------------------------------------------------- screens and documents

#: the review queue widget (vaxlib.widgets.ReviewPanel / ExplorePanel)
_REVIEW = _pairs({
    "title": ("Hàng đợi xem xét bản ghi", "Review queue"),
    "status": ("Trạng thái ghép", "Match status"),
    "all": ("(tất cả)", "(all)"),
    "all_mismatch": ("Tất cả bản ghi chưa khớp", "All mismatched records"),
    "field": ("Trường", "Field"),
    "typed": ("Bản ghi (như đã nhập)", "Record (as typed)"),
    "candidate": ("Ứng viên {n}", "Candidate {n}"),
    "suggested": ("đề xuất", "suggested"),
    "no_candidate": ("Không có ứng viên trong CSDL dân cư.", "No candidate in the register."),
    "empty": ("(trống)", "(empty)"),
    "unknown": ("—", "—"),
    "reveal": ("Hiện số giấy tờ", "Reveal ID number"),
    "reveal_tip": ("Hiện đầy đủ số giấy tờ của bản ghi này (chỉ trên màn hình)",
                   "Show the full ID numbers of this record (on screen only)"),
    "prev": ("‹ Trước", "‹ Previous"),
    "next": ("Tiếp ›", "Next ›"),
    "save": ("Lưu", "Save"),
    "cancel": ("Huỷ", "Cancel"),
    "confirm": ("Xác nhận", "Confirm"),
    "done": ("Đã xem xét hết các bản ghi trong bộ lọc này.", "Every record in this filter has been reviewed."),
    "empty_filter": ("Không có bản ghi nào khớp bộ lọc.", "No record matches the filters."),
    "empty_status": ("Không có bản ghi «{status}». Đổi bộ lọc «Trạng thái ghép» sang {options}.",
                     "No “{status}” records. Change the “Match status” filter to {options}."),
    "empty_other_filters": ("Không có bản ghi «{status}» trong bộ lọc này. Bỏ bớt bộ lọc tỉnh/cơ sở/lỗi/cụm, "
                            "hoặc đổi «Trạng thái ghép» sang {options}.",
                            "No “{status}” records in these filters. Clear the province/facility/error/cluster "
                            "filters, or change “Match status” to {options}."),
    "or": (" hoặc ", " or "),
    "progress": ("Đã xem xét {reviewed} / {total} · Đang chờ {queued} · Để sau {deferred}",
                 "Reviewed {reviewed} / {total} · Queued {queued} · Deferred {deferred}"),
    "position": ("Bản ghi {i} / {n} trong hàng đợi", "Record {i} / {n} in the queue"),
    "position_out": ("Bản ghi đã có quyết định", "Record already decided"),
    "position_filtered": ("Bản ghi nằm ngoài bộ lọc hiện tại (chưa có quyết định)",
                          "Record outside the current filters (not decided yet)"),
    "record_head": ("Bản ghi {rid} · cơ sở {facility} · tiêm ngày {date} · mũi {dose} · {status}",
                    "Record {rid} · facility {facility} · vaccinated {date} · dose {dose} · {status}"),
    "errors": ("Lỗi phát hiện", "Errors found"),
    "decision": ("Quyết định hiện tại", "Current decision"),
    "none": ("chưa có", "none"),
    "decided": ("Đã ghi «{action}» cho bản ghi {rid} (sự kiện #{eid}).", "Recorded “{action}” for record {rid} (event #{eid})."),
    "bulk_confirm": ("Duyệt {n} bản ghi chưa xem xét của cụm «{desc}»?",
                     "Accept the {n} unreviewed records of the cluster “{desc}”?"),
    "bulk_none": ("Cụm này không còn bản ghi nào để duyệt.", "No record of this cluster is left to accept."),
    "bulk_need_cluster": ("Hãy chọn một cụm lỗi trong bộ lọc trước.", "Choose a cluster in the filters first."),
    "bulk_done": ("Đã duyệt {n} bản ghi của cụm (sự kiện #{first}–#{last}).",
                  "Accepted {n} records of the cluster (events #{first}–#{last})."),
    "bulk_cancelled": ("Đã huỷ duyệt cả cụm.", "Cluster acceptance cancelled."),
    "undone": ("Đã hoàn tác quyết định «{what}» (sự kiện #{eid}).", "Undone: “{what}” (event #{eid})."),
    "nothing_to_undo": ("Không có quyết định nào để hoàn tác.", "Nothing to undo."),
    "invalid": ("Giá trị không hợp lệ ở trường «{field}»: {reason}", "Invalid value in “{field}”: {reason}"),
    "no_change": ("Không có thay đổi nào để lưu.", "Nothing changed."),
    "edit_title": ("Sửa thông tin bản ghi {rid} (trường để trống giữ giá trị đề xuất)",
                   "Edit record {rid} (an empty field keeps the proposed value)"),
    "keep": ("giữ nguyên", "keep as is"),
    "will_write": ("Khi bấm Lưu sẽ ghi:", "Saving will write:"),
    "accept_candidate": ("Duyệt ứng viên {n}", "Accept candidate {n}"),
    "accept_disabled": ("Không thể Duyệt: bản ghi này không có ứng viên nào trong CSDL dân cư đủ giống để đề xuất. "
                        "Tìm người trong CSDL bên dưới để ghép tay, hoặc Từ chối / Để sau.",
                        "Accept is off: no one in the register is close enough to suggest for this record. "
                        "Search the register below to link by hand, or Reject / Defer."),
    "search_title": ("Tìm trong CSDL dân cư (theo tên, ngày sinh, tỉnh)", "Search the register (name, date of birth, province)"),
    "search_name": ("Họ và tên", "Name"),
    "search_dob": ("Ngày sinh", "Date of birth"),
    "search_find": ("Tìm", "Search"),
    "search_link": ("Ghép với người này", "Link to this person"),
    "search_count": ("Tìm thấy {n} người (hiện {shown}).", "Found {n} persons (showing {shown})."),
    "search_none": ("Không tìm thấy ai; bỏ bớt điều kiện (ví dụ ngày sinh) rồi tìm lại.",
                    "No one found; drop a condition (e.g. the date of birth) and search again."),
    "source_typed": ("bạn nhập", "typed by you"),
    "source_proposed": ("theo đề xuất", "as proposed"),
    "keep_id": ("giữ giá trị đề xuất ({masked})", "keep the proposed value ({masked})"),
    "ledger_error": ("Không ghi được vào sổ quyết định: {error}", "Could not write to the ledger: {error}"),
    "prob": ("xác suất {p}", "probability {p}"),
    "shortcut": ("Phím tắt Alt+{key}", "Shortcut Alt+{key}"),
    "tip_accept": ("Chấp nhận đề xuất sửa theo ứng viên được đề xuất", "Accept the suggested fix"),
    "tip_reject": ("Giữ nguyên bản ghi như đã nhập", "Keep the record as typed"),
    "reason_pick": ("— Lý do —", "— Reason —"),
    "ws_vaccinations": ("mũi tiêm {n}", "vaccinations {n}"),
    "ws_matches": ("kết quả ghép {n}", "matches {n}"),
    "ws_candidates": ("ứng viên {n}", "candidates {n}"),
    "ws_registry": ("CSDL dân cư {n}", "registry {n}"),
    "ws_provinces": ("tỉnh {provinces}", "provinces {provinces}"),
    "ws_none": ("(không có)", "(none)"),
    "cluster_unknown_facility": ("(không rõ cơ sở)", "(unknown facility)"),
    "cluster_province_code": ("Tỉnh mã {code}", "Province {code}"),
    "cluster_unknown_province": ("(không rõ tỉnh)", "(unknown province)"),
    "cluster_all_facilities": ("Các cơ sở tiêm", "All facilities"),
    "cluster_one": ("{subject} {what} ở {n} bản ghi", "{subject} {what} on {n} record"),
    "cluster_many": ("{subject} {what} ở {n} bản ghi", "{subject} {what} on {n} records"),
    "cluster_month": (" trong {month}", " in {month}"),
    "cluster_no_date": (" (không rõ ngày tiêm)", " (vaccination date unknown)"),
    "reason_label": ("Lý do (bắt buộc khi Từ chối hoặc Sửa):", "Reason (needed to Reject or Edit):"),
    "field_full_name": ("Họ và tên", "Full name"),
    "field_dob": ("Ngày sinh", "Date of birth"),
    "field_sex": ("Giới tính", "Sex"),
    "field_id_number": ("Số CMND/CCCD", "ID number"),
    "month": ("tháng {m}/{year}", "{month_en} {year}"),
    "and": (" và ", " and "),
    "reason_text": ("Ghi chú thêm về lý do", "More about the reason"),
    "reason_needed": ("Chọn lý do trong danh sách (bắt buộc khi {action}; 'Lý do khác' cần ghi rõ)",
                      "Choose a reason from the list (required to {action}; 'Other' needs the reason written)"),
    "bulk_pending": ("Đã ghi {n} quyết định duyệt cả cụm; chờ giám sát xác nhận (quy tắc hai người) trước khi áp dụng",
                     "{n} cluster decisions recorded; they wait for a supervisor's confirmation (two-person rule)"),
    "tip_edit": ("Tự nhập giá trị đúng", "Type the right values yourself"),
    "tip_defer": ("Để bản ghi này lại, xem sau", "Put this record aside for later"),
    "tip_undo": ("Hoàn tác quyết định gần nhất (ghi thêm một sự kiện)", "Undo the last decision (adds an event)"),
    "tip_bulk": ("Duyệt mọi bản ghi chưa xem xét của cụm đang chọn (có bước xác nhận)",
                 "Accept every unreviewed record of the chosen cluster (asks to confirm)"),
    "tip_next": ("Sang bản ghi tiếp theo mà không quyết định", "Go to the next record without deciding"),
    "tip_prev": ("Về bản ghi trước", "Back to the previous record"),
    "sex_keep": ("(giữ nguyên)", "(keep)"),
    "male": ("Nam", "Male"),
    "female": ("Nữ", "Female"),
    "explore_title": ("Khám phá lỗi dữ liệu", "Explore data errors"),
    "drill": ("Bản ghi của cụm", "Records of the cluster"),
    "drill_none": ("Chọn một cụm để xem bản ghi.", "Choose a cluster to see its records."),
    "drill_more": ("… và {n} bản ghi khác", "… and {n} more records"),
    "no_clusters": ("Không có bản ghi chưa khớp.", "No mismatched records."),
    "rank": ("Hạng", "Rank"),
    "description": ("Mô tả", "Description"),
    "n_fix": ("Sửa tự động", "Automatic fix"),
    "n_review": ("Cần xem xét", "Needs review"),
    "n_unmatched": ("Không tìm thấy", "Unmatched"),
    "date": ("Ngày tiêm", "Vaccinated"),
    "record_id": ("Mã bản ghi", "Record"),
    "treemap": ("Loại lỗi", "Error codes"),
    "sort_by": ("Sắp xếp theo", "Sort by"),
    "descending": ("giảm dần", "descending"),
    "te_auto": ("Ngưỡng sửa tự động", "Automatic-fix threshold"),
    "te_review": ("Ngưỡng xem xét", "Review threshold"),
    "te_precision": ("Độ chính xác (precision)", "Precision"),
    "te_recall": ("Độ bao phủ (recall)", "Recall"),
    "te_top_right": ("Ứng viên đầu đúng (hàng đợi)", "Top candidate right (queue)"),
    "te_chosen": ("Ngưỡng đang chọn", "Chosen threshold"),
    "export": ("Xuất cụm ra Excel cho cơ sở", "Export the cluster to Excel for the facility"),
    "export_tip": ("Ghi các bản ghi của cụm (đã áp dụng đề xuất sửa) ra tệp .xlsx theo mẫu nhập lại của hệ thống",
                   "Write the cluster's records (proposed fixes applied) to an .xlsx in the platform's re-import layout"),
    "exported": ("Đã xuất {n} bản ghi vào {path}: gửi cho cơ sở {facility} để sửa trong hệ thống rồi nhập lại.",
                 "Exported {n} records to {path}: send it to facility {facility} to fix in its system and re-import."),
    "export_failed": ("Không ghi được tệp Excel ({error}); kiểm tra thư mục xuất.",
                      "Could not write the Excel file ({error}); check the export folder."),
    "heatmap": ("Cơ sở × lỗi", "Facility × error"),
    "timeline": ("Theo thời gian", "Over time"),
})

#: the citizens' feedback queue widget (vaxlib.widgets.FeedbackPanel)
_FEEDBACK = _pairs({
    "title": ("Phản ánh của người dân chờ xử lý", "Citizens' feedback waiting for action"),
    "filter": ("Hiển thị", "Show"),
    "all": ("tất cả", "all"),
    "overdue": ("quá hạn", "overdue"),
    "open": ("đang chờ (chưa quá hạn)", "open (not yet overdue)"),
    "item": ("Phản ánh", "Feedback item"),
    "open_record": ("Mở bản ghi này", "Open this record"),
    "summary": ("{n} phản ánh chờ xử lý, {late} quá hạn {sla} giờ", "{n} items waiting, {late} past the {sla}-hour SLA"),
    "none": ("Không có phản ánh nào chờ xử lý.", "No feedback is waiting."),
    "no_record": ("Phản ánh này chưa gắn với bản ghi nào trong hàng đợi xem xét.",
                  "This item is not linked to a record in the review queue."),
    "shown": ("Đã mở bản ghi {rid} trong hàng đợi xem xét.", "Opened record {rid} in the review queue."),
    "category": ("Loại (người dân chọn / hệ thống)", "Category (citizen / system)"),
    "reason": ("Lý do chờ", "Why it waits"),
    "age": ("Đã chờ", "Waiting for"),
    "message": ("Người dân viết", "The citizen wrote"),
    "linked": ("Bản ghi liên quan", "Linked records"),
    "record": ("Bản ghi", "Record"),
})

#: the reply to a closed complaint, for the portal (vaxlib.complaints.answer.reply_text)
_FEEDBACK_REPLY = _pairs({
    "head": ("Phản ánh số {fid} gửi ngày {date} đã được xử lý. ", "Complaint {fid} of {date} has been handled. "),
    "consolidated_history": (
        "Các mũi tiêm bị nhập sai thông tin đã được đối chiếu với Cơ sở dữ liệu quốc gia về dân cư và gộp vào "
        "lịch sử tiêm của ông/bà. ",
        "The dose records typed with wrong details were checked against the national population database and "
        "added to your vaccination history. "),
    "already_recorded": (
        "Mũi tiêm ông/bà nêu đã có trong hệ thống và khớp với Cơ sở dữ liệu quốc gia về dân cư; nếu ứng dụng "
        "chưa hiển thị, xin cập nhật ứng dụng rồi đăng nhập lại. ",
        "The dose you mention is already recorded and matches the national population database; if the app "
        "does not show it yet, please update the app and sign in again. "),
    "applied_fix": ("Thông tin {fields} trên các bản ghi tiêm đã được sửa theo Cơ sở dữ liệu quốc gia về dân cư. ",
                    "Your {fields} on the dose records was corrected from the national population database. "),
    "history": ("Lịch sử tiêm hiện có {n} mũi: {doses}. Chứng nhận tiêm chủng sẽ được cập nhật theo lịch sử này.",
                "Your vaccination history now has {n} doses: {doses}. Your certificate will be updated from it."),
    "dose": ("mũi {n} ngày {date}", "dose {n} on {date}"),
    "personal_info": ("thông tin cá nhân", "personal details"),
    "field_id": ("số định danh", "ID number"),
    "field_name": ("họ tên", "name"),
    "field_dob": ("ngày sinh", "date of birth"),
    "field_sex": ("giới tính", "sex"),
    "field_phone": ("số điện thoại", "phone number"),
})

#: the province reports and the national summary (vaxlib.report)
_REPORT: dict[str, dict[str, str]] = {
    "verified": {"vi": "Đã khớp", "en": "Verified"},
    "fixed": {"vi": "Đã sửa", "en": "Fixed"},
    "pending_fix": {"vi": "Chờ sửa", "en": "Fix pending"},
    "review": {"vi": "Đang xem xét", "en": "In review"},
    "unmatched": {"vi": "Không khớp", "en": "Unmatched"},
    "signed": {"vi": "Đã ký chứng nhận", "en": "Signed"},
    "records": {"vi": "Bản ghi", "en": "Records"},
    "persons": {"vi": "Người", "en": "Persons"},
    "share": {"vi": "Tỷ lệ", "en": "Share"},
    "facility": {"vi": "Cơ sở tiêm", "en": "Facility"},
    "province": {"vi": "Tỉnh/Thành phố", "en": "Province"},
    "still_wrong": {"vi": "Còn sai", "en": "Still wrong"},
    "still_wrong_pct": {"vi": "% còn sai", "en": "% still wrong"},
    "entry_wrong_pct": {"vi": "% sai khi nhập", "en": "% wrong at entry"},
    "trend": {"vi": "Xu hướng (3 tháng gần nhất)", "en": "Trend (last 3 months)"},
    "improving": {"vi": "↓ giảm (tốt lên)", "en": "↓ improving"},
    "worsening": {"vi": "↑ tăng (xấu đi)", "en": "↑ worsening"},
    "stable": {"vi": "→ ổn định", "en": "→ stable"},
    "no_trend": {"vi": "—", "en": "—"},
    "month": {"vi": "Tháng tiêm", "en": "Month of vaccination"},
    "automatic": {"vi": "Tự động", "en": "Automatic"},
    "decision": {"vi": "Chuyên viên quyết định", "en": "Analyst decision"},
    "error": {"vi": "Loại lỗi", "en": "Error type"},
    "cluster": {"vi": "Cụm lỗi", "en": "Cluster"},
    "category": {"vi": "Loại phản ánh", "en": "Category"},
    "received": {"vi": "Đã nhận", "en": "Received"},
    "resolved": {"vi": "Đã xử lý", "en": "Resolved"},
    "resolved_on_time": {"vi": "Xử lý đúng hạn", "en": "Resolved on time"},
    "open": {"vi": "Đang xử lý (trong hạn)", "en": "Open (within SLA)"},
    "overdue": {"vi": "Quá hạn", "en": "Overdue"},
    "deadline": {"vi": "Mốc thời hạn", "en": "Deadline"},
    "date": {"vi": "Ngày", "en": "Date"},
    "days_left": {"vi": "Còn (ngày)", "en": "Days left"},
    "measure": {"vi": "Chỉ tiêu", "en": "Measure"},
    "value": {"vi": "Hiện tại", "en": "Now"},
    "dl_feedback_and_signing": {"vi": "Xử lý phản ánh, ký chứng nhận", "en": "Feedback handled, certificates signed"},
    "dl_cleaning": {"vi": "Làm sạch dữ liệu", "en": "Data cleaned"},
    "dl_report": {"vi": "Báo cáo kết quả", "en": "Report"},
    "m_feedback": {"vi": "Phản ánh đã xử lý", "en": "Feedback resolved"},
    "m_signed": {"vi": "Người đã ký chứng nhận", "en": "Persons signed"},
    "m_clean": {"vi": "Bản ghi đã khớp hoặc đã sửa", "en": "Records verified or fixed"},
    "m_report": {"vi": "Báo cáo kết quả gửi Bộ Y tế", "en": "Results reported to the Ministry"},
    "target": {"vi": "Mục tiêu", "en": "Target"},
    "due_on": {"vi": "hạn", "en": "due"},
    "sum": {"vi": "Tổng", "en": "Total"},
    "citizen_vs_system": {"vi": "Người dân chọn \\ Hệ thống xác định", "en": "Citizen's category \\ system's finding"},
    "head_progress": {"vi": "Tiến độ làm sạch so với các mốc thời hạn", "en": "Cleaning progress against the deadlines"},
    "head_errors": {"vi": "Các loại lỗi và cụm lỗi lớn nhất", "en": "Error types and the largest clusters"},
    "head_facilities": {"vi": "Bảng xếp hạng cơ sở tiêm", "en": "Facility league table"},
    "head_fixes": {"vi": "Bản ghi đã sửa", "en": "Fixes"},
    "head_feedback": {"vi": "Phản ánh của người dân", "en": "Citizens' feedback"},
    "head_method": {"vi": "Ghi chú phương pháp", "en": "Method note"},
    "summary": {
        "vi": "Tỉnh/thành phố có **{records}** bản ghi mũi tiêm: **{clean}** đã khớp hoặc đã sửa, {review} đang xem "
              "xét, {unmatched} không khớp. **{signed}** người đã được ký chứng nhận ({signed_share} số người đã "
              "tiêm). Đã nhận **{received}** phản ánh, xử lý {resolved}, quá hạn {overdue}.",
        "en": "The province has **{records}** dose records: **{clean}** verified or fixed, {review} in review, "
              "{unmatched} unmatched. **{signed}** persons have been signed ({signed_share} of vaccinated persons). "
              "**{received}** feedback items received, {resolved} resolved, {overdue} overdue."},
    "national_summary": {
        "vi": "{provinces} tỉnh/thành phố có số liệu; **{records}** bản ghi, **{clean}** đã khớp hoặc đã sửa; "
              "**{signed}** người đã ký chứng nhận; {received} phản ánh, {overdue} quá hạn.",
        "en": "{provinces} provinces with data; **{records}** records, **{clean}** verified or fixed; **{signed}** "
              "persons signed; {received} feedback items, {overdue} overdue."},
    "national_visitors_short": {
        "vi": "{n} tỉnh/thành phố khác chỉ có mũi tiêm của người từ tỉnh khác đến tiêm (ghi chú dưới bảng).",
        "en": "{n} other provinces only have doses given there to people from other provinces (note under the "
              "table)."},
    "national_visitors": {
        "vi": "Không xếp hạng {n} tỉnh/thành phố khác: ở đó chỉ có mũi tiêm của người từ tỉnh khác đến tiêm "
              "({records} bản ghi, {clean} đã khớp hoặc đã sửa), không có người thường trú nào trong số liệu nên "
              "chưa đánh giá được theo các mốc thời hạn.",
        "en": "{n} other provinces are not ranked: they only have doses given there to people from other "
              "provinces ({records} records, {clean} verified or fixed), with no resident in the data, so no "
              "deadline can be judged."},
    "national_visitors_names": {"vi": "Xem tên các tỉnh/thành phố này", "en": "Show these provinces"},
    "quarantine_note": {
        "vi": "{match} dòng của tệp mũi tiêm không nhập được khi ghép cặp và {apply} dòng khi áp dụng sửa lỗi (cách "
              "ly, không có trong các bảng dưới đây; xem match/quarantine.parquet và apply/quarantine.parquet).",
        "en": "{match} rows of the vaccination file could not be imported for matching and {apply} for applying "
              "fixes (quarantined, not in the tables below; see match/quarantine.parquet and "
              "apply/quarantine.parquet)."},
    "method_note": {
        "vi": "- Bản ghi thuộc tỉnh/thành phố của cơ sở tiêm; người thuộc tỉnh thường trú trong CSDL dân cư.\n"
              "- Bản ghi được so khớp với CSDL quốc gia về dân cư theo mô hình Fellegi–Sunter: tự động sửa khi xác "
              "suất ≥ {auto}, chuyển xem xét khi xác suất ≥ {review}, còn lại là không khớp.\n"
              "- *Đã khớp*: họ tên, ngày sinh, số định danh đúng như CSDL ngay khi nhập; *đã sửa*: đã sửa theo CSDL "
              "và khớp lại; *chờ sửa*: có đề xuất sửa chưa áp dụng.\n"
              "- Phản ánh phải được xử lý trong {sla} giờ (Công văn 9458/BYT-CNTT); tuổi của phản ánh tính đến hết "
              "ngày {report_date}.\n"
              "- Số liệu tiêm chủng đến ngày {data_date}; báo cáo lập ngày {report_date}.\n"
              "- Báo cáo chỉ có số tổng hợp; các ô có từ 1 đến {small_1} trường hợp ghi \"<{small}\" và tỷ lệ trên "
              "dưới {small} bản ghi không được hiển thị.",
        "en": "- A record belongs to its facility's province; a person to the province of residence in the "
              "register.\n"
              "- Records are matched against the national population register with a Fellegi–Sunter model: fixed "
              "automatically at probability ≥ {auto}, reviewed at ≥ {review}, unmatched below.\n"
              "- *Verified*: name, date of birth and ID number equal the register's as entered; *fixed*: corrected "
              "from the register and matched again; *fix pending*: a correction not yet applied.\n"
              "- Feedback must be handled within {sla} hours (Công văn 9458/BYT-CNTT); ages are measured at the end "
              "of {report_date}.\n"
              "- Vaccination data up to {data_date}; report date {report_date}.\n"
              "- Aggregates only; counts from 1 to {small_1} are shown as \"<{small}\" and shares of fewer than "
              "{small} records are not shown."},
    "fig_state": {"vi": "Tình trạng bản ghi mũi tiêm", "en": "State of the dose records"},
    "fig_deadlines": {"vi": "Chỉ tiêu so với mục tiêu (vạch đen)", "en": "Measures against their targets (black tick)"},
    "fig_errors": {"vi": "Bản ghi theo loại lỗi (khi nhập)", "en": "Records by error type (as entered)"},
    "fig_facilities": {"vi": "Cơ sở tiêm có tỷ lệ bản ghi còn sai cao nhất",
                       "en": "Facilities with the largest share still wrong"},
    "fig_fixes": {"vi": "Bản ghi đã sửa theo tháng tiêm", "en": "Records fixed, by month of vaccination"},
    "fig_feedback": {"vi": "Phản ánh theo loại (do người dân chọn)",
                     "en": "Feedback by category (as chosen by the citizen)"},
    "fig_national_clean": {"vi": "Tỷ lệ bản ghi đã khớp/đã sửa theo tỉnh (hạn {date})",
                           "en": "Share of records verified or fixed by province (due {date})"},
    "fig_national_signed": {"vi": "Làm sạch và ký chứng nhận", "en": "Cleaning and signing"},
    "fig_national_signed_note": {"vi": "Chạm vào một điểm để xem tên tỉnh; chỉ ghi tên những tỉnh không bị chồng chữ.",
                                 "en": "Tap a point for its province; only names that do not overlap are written."},
    "fig_feedback_few": {"vi": "Mỗi loại phản ánh có dưới 5 trường hợp: xem bảng trên (không vẽ biểu đồ).",
                         "en": "Fewer than 5 feedback items in every category: see the table above (no chart)."},
    "fb_few_note": {"vi": "Dưới {small} phản ánh mỗi loại (không vẽ): {categories}.",
                    "en": "Fewer than {small} items each (not drawn): {categories}."},
    "no_signing_data": {"vi": "Chưa có số liệu ký chứng nhận.", "en": "No signing data yet."},
    "verdict": {"vi": "Đánh giá", "en": "Verdict"},
    "met": {"vi": "Đạt", "en": "Met"},
    "missed": {"vi": "Chưa đạt", "en": "Not met"},
    "unknown_verdict": {"vi": "Chưa đủ số liệu", "en": "Not enough data"},
    "days_to_go": {"vi": "còn {n} ngày", "en": "{n} days to go"},
    "days_past": {"vi": "đã qua {n} ngày", "en": "{n} days ago"},
    "made_on": {"vi": "lập ngày {date}", "en": "made on {date}"},
    "by_deadline": {"vi": "lập trước hạn", "en": "made by the deadline"},
    "behind": {"vi": "Thiếu (điểm %)", "en": "Behind (points)"},
    "trend_note": {"vi": "Xu hướng: tỷ lệ bản ghi sai khi nhập trong 3 tháng tiêm gần nhất so với 3 tháng trước đó "
                         "(thay đổi từ 2 điểm % trở lên; ↓ xanh: cơ sở nhập đúng hơn, ↑ đỏ: nhập sai nhiều hơn, "
                         "— : chưa đủ số liệu).",
                   "en": "Trend: the share of records entered wrong in the last 3 months of vaccination against the "
                         "3 months before (a change of 2 points or more; ↓ green: the facility enters better, "
                         "↑ red: worse, —: not enough data)."},
    "todo_intro": {"vi": "Việc từng cơ sở còn phải làm trước hạn {date} (cơ sở nhiều bản ghi còn sai nhất trước):",
                   "en": "What each facility still has to do by {date} (most records still wrong first):"},
    "todo_intro_late": {"vi": "Hạn {date} đã qua; các cơ sở sau vẫn còn bản ghi sai, cần xử lý ngay:",
                        "en": "The {date} deadline has passed; these facilities still have wrong records to fix now:"},
    "todo_records": {"vi": "bản ghi còn sai", "en": "records still wrong"},
    "todo_pending_fix": {"vi": "{n} chờ áp dụng bản sửa tự động (chạy vax apply)",
                         "en": "{n} automatic fixes to apply (run vax apply)"},
    "todo_review": {"vi": "{n} chờ chuyên viên xem xét", "en": "{n} waiting for an analyst's review"},
    "todo_unmatched": {"vi": "{n} không tìm thấy trong CSDL dân cư (xác minh lại với người dân)",
                       "en": "{n} not found in the register (check with the citizen)"},
    "todo_main": {"vi": "Lỗi chính:", "en": "Main errors:"},
    "todo_none": {"vi": "Không cơ sở nào còn bản ghi sai.", "en": "No facility has records still wrong."},
    "scroll_hint": {"vi": "← vuốt ngang để xem cả bảng →", "en": "← swipe sideways to see the whole table →"},
    "title": {"vi": "Báo cáo tiến độ làm sạch dữ liệu tiêm chủng COVID-19",
              "en": "COVID-19 vaccination data cleaning progress report"},
    "national_title": {"vi": "Tổng hợp toàn quốc: tiến độ làm sạch dữ liệu tiêm chủng COVID-19",
                       "en": "National summary: COVID-19 vaccination data cleaning progress"},
    "as_of": {"vi": "Số liệu đến ngày", "en": "Data as of"},
    "report_date": {"vi": "Ngày báo cáo", "en": "Report date"},
    "clean_pct": {"vi": "% đã khớp/đã sửa", "en": "% verified/fixed"},
    "review_pct": {"vi": "% đang xem xét", "en": "% in review"},
    "unmatched_pct": {"vi": "% không khớp", "en": "% unmatched"},
    "signed_pct": {"vi": "% người đã ký", "en": "% persons signed"},
    "fb_received": {"vi": "Phản ánh nhận", "en": "Feedback received"},
    "fb_overdue": {"vi": "Phản ánh quá hạn", "en": "Feedback overdue"},
    "total": {"vi": "Toàn quốc", "en": "Whole country"},
    "none": {"vi": "Không có số liệu", "en": "No data"},
    "done": {"vi": "đã qua", "en": "passed"},
}

#: team mode: the supervisor's confirmation box and the web app's sign-in (vaxlib.review.app)
_TEAM = _pairs({
    "sup_title": ("Duyệt cả cụm đang chờ giám sát xác nhận (quy tắc hai người)",
                  "Cluster acceptances waiting for a supervisor (two-person rule)"),
    "sup_item": ("{n} bản ghi · tỉnh {province} · do {analyst} duyệt lúc {time}",
                 "{n} records · province {province} · accepted by {analyst} at {time}"),
    "sup_confirm": ("Xác nhận", "Confirm"),
    "sup_tip": ("Ghi xác nhận của bạn (người thứ hai) vào sổ quyết định; chỉ sau đó vax apply mới áp dụng",
                "Record your confirmation (the second person) in the ledger; only then does vax apply apply it"),
    "sup_done": ("Đã xác nhận duyệt {n} bản ghi của {analyst} (sự kiện #{eid}).",
                 "Confirmed {analyst}'s acceptance of {n} records (event #{eid})."),
    "login_title": ("Đăng nhập hàng đợi xem xét", "Sign in to the review queue"),
    "login_intro": ("Dùng tài khoản cơ sở dữ liệu của riêng bạn: mọi quyết định được ghi dưới tên này, "
                    "và bạn chỉ thấy bản ghi của tỉnh mình.",
                    "Use your own database login: every decision is recorded under it, and you see only "
                    "your province's records."),
    "login_user": ("Tên đăng nhập", "Login"),
    "login_password": ("Mật khẩu", "Password"),
    "login_button": ("Đăng nhập", "Sign in"),
    "login_failed": ("Đăng nhập không thành công: kiểm tra tên đăng nhập và mật khẩu.",
                     "Sign-in failed: check the login and the password."),
    "login_unreachable": ("Không kết nối được cơ sở dữ liệu sổ quyết định; báo quản trị viên.",
                          "The ledger database cannot be reached; tell the administrator."),
    "not_published": ("Chưa có hàng đợi xem xét nào được công bố; báo người vận hành (vax ledger publish).",
                      "No review queue has been published yet; tell the operator (vax ledger publish)."),
    "login_no_scope": ("Tài khoản {user} chưa được giao tỉnh nào; báo quản trị viên (vax ledger add-user).",
                       "Login {user} has no province yet; ask the administrator (vax ledger add-user)."),
    "signed_in": ("Đã đăng nhập: {user} · {scope}", "Signed in: {user} · {scope}"),
    "scope_all": ("mọi tỉnh", "every province"),
    "scope_some": ("tỉnh {provinces}", "province {provinces}"),
    "loading": ("Đang tải bản ghi của {scope}…", "Loading the records of {scope}…"),
    "sign_in_first": ("Đăng nhập ở trên để bắt đầu.", "Sign in above to start."),
    "no_feedback": ("Chưa có hàng đợi phản ánh (chạy `vax feedback --data DIR`).",
                    "No feedback queue yet (run `vax feedback --data DIR`)."),
})

#: ``vax`` command-line messages and errors (vaxlib.cli, VaxError.say)
_CLI = _pairs({
    "out_is_file": ("{path}: là một tệp, không phải thư mục; hãy chọn --out khác",
                    "{path}: is a file, not a folder; choose another --out"),
    "out_under_file": ("{path}: là một tệp, không tạo được thư mục --out {out} trong đó",
                       "{path}: is a file, so --out {out} cannot be created in it"),
    "out_not_writable": ("{path}: không ghi được (chỉ đọc); hãy chọn --out khác",
                         "{path}: not writable; choose another --out"),
    "out_symlink": ("{path}: là một liên kết tượng trưng; hãy cho thư mục thật làm --out",
                    "{path}: is a symbolic link; give the real folder as --out"),
    "out_is_cwd": ("{path}: là thư mục hiện tại (hoặc chứa nó); hãy cho một thư mục riêng cho kết quả",
                   "{path}: is the current folder (or holds it); give a dedicated output folder"),
    "out_cannot_create": ("{path}: không tạo được thư mục kết quả ({error})",
                          "{path}: cannot create the output folder ({error})"),
    "out_cannot_write": ("{path}: không ghi được vào đó ({error})", "{path}: cannot write there ({error})"),
    "out_foreign_file": ("{path}: không do vaxlib ghi (không có trong {manifest}); hãy chuyển nó đi hoặc chọn --out "
                         "khác",
                         "{path}: was not written by vaxlib (not in a {manifest}); move it away or choose another "
                         "--out"),
    "run_no_folder": ("{path}: không có thư mục kết quả này", "{path}: no such run folder"),
    "run_no_manifest": ("{path}: không có {manifest} (không phải kết quả của một lần chạy vax trọn vẹn); hãy chạy lại "
                        "lệnh",
                        "{path}: no {manifest} (not written by a complete vax run); run the command again"),
    "run_manifest_unreadable": ("{path}: không đọc được tệp kê khai ({error})", "{path}: unreadable manifest ({error})"),
    "run_not_manifest": ("{path}: không phải tệp kê khai của một lần chạy vaxlib", "{path}: not a vaxlib run manifest"),
    "run_other_command": ("{path}: do vax {command} ghi, không phải vax {wanted}",
                          "{path}: written by vax {command}, not by vax {wanted}"),
    "run_file_missing": ("{path}: có trong {manifest} nhưng không còn", "{path}: listed in {manifest} but missing"),
    "run_size_differs": ("{path}: kích thước khác với {manifest} (bị sửa hoặc cắt cụt sau khi chạy)",
                         "{path}: size differs from {manifest} (changed or truncated after the run)"),
    "run_content_differs": ("{path}: nội dung khác với {manifest} (bị sửa sau khi chạy)",
                            "{path}: content differs from {manifest} (changed after the run)"),
    "run_wrote_no": ("{path}: lần chạy vax {command} này không ghi {name}", "{path}: the run of vax {command} wrote no {name}"),
    "run_not_its_file": ("{path}: không phải tệp của lần chạy trong {folder} (không có trong {manifest})",
                         "{path}: not a file of the run in {folder} (not in its {manifest})"),
    "run_not_its_table": ("{path}: không phải bảng của lần chạy trong {folder} (không có trong {manifest})",
                          "{path}: not a table of the run in {folder} (not in its {manifest})"),
    "nothing_written": ("{reason}{where}; chưa ghi gì", "{reason}{where}; nothing was written"),
    "os_ENOSPC": ("hết chỗ trên ổ đĩa", "no space left on the device"),
    "os_EDQUOT": ("vượt hạn mức dung lượng", "disk quota exceeded"),
    "os_EROFS": ("ổ đĩa chỉ đọc", "read-only file system"),
    "os_EACCES": ("không có quyền", "permission denied"),
    "os_EPERM": ("không được phép", "operation not permitted"),
    "expect_head": ("--expect-head cần dạng ID:HASH (ví dụ 42:3f1a…)", "--expect-head takes ID:HASH (e.g. 42:3f1a…)"),
    "env_empty": ("biến môi trường {name} trống hoặc chưa đặt", "environment variable {name} is empty or unset"),
    "users_pg_only": ("người dùng và vai trò chỉ có trên sổ quyết định PostgreSQL (SQLite ghi tên tự khai)",
                      "users and roles exist on a PostgreSQL ledger only (SQLite records typed names)"),
    "ledger_created": ("Đã tạo sổ quyết định trống tại {where}", "New empty ledger at {where}"),
    "ledger_exists": ("Sổ quyết định đã có tại {where} ({n} sự kiện); không thay đổi",
                      "Ledger already exists at {where} ({n} events); unchanged"),
    "ledger_exported": ("{n} sự kiện -> {path}", "{n} events -> {path}"),
    "user_added": ("{name}: vai trò {role}, phạm vi {scope}", "{name}: {role} for {scope}"),
    "user_no_password": (" (chưa đặt mật khẩu)", " (no password set)"),
    "scope_all": ("mọi tỉnh", "every province"),
    "apply_summary": ("{rows_in} dòng vào: {records_out} bản ghi ra, {quarantined} dòng cách ly{see}; {changed} bản ghi "
                      "đã sửa, {unchanged} giữ nguyên; {changes} trường thay đổi ({automatic} tự động, {decision} "
                      "theo quyết định) -> {out}",
                      "rows in {rows_in}: records out {records_out}, quarantined {quarantined}{see}; {changed} changed, "
                      "{unchanged} unchanged; {changes} field changes ({automatic} automatic, {decision} from "
                      "decisions) -> {out}"),
    "ledger_not_file": ("sổ quyết định {where} không phải là một tệp", "ledger {where} is not a file"),
    "ledger_missing": ("không có sổ quyết định tại {where} (tệp không tồn tại; tạo mới bằng: vax ledger init "
                       "--ledger sqlite:///{where})",
                       "no ledger at {where} (the file does not exist; create one with: vax ledger init "
                       "--ledger sqlite:///{where})"),
    "ledger_not_sqlite": ("không đọc được sổ quyết định {where} như một CSDL SQLite ({error})",
                          "ledger {where} cannot be read as a SQLite database ({error})"),
    "ledger_not_vaxlib": ("{where} là CSDL SQLite nhưng không phải sổ quyết định của vaxlib (không có bảng "
                          "ledger_events)",
                          "{where} is a SQLite database but not a vaxlib ledger (no ledger_events table)"),
    "ledger_scheme": ("không có loại sổ quyết định cho địa chỉ dạng {scheme}; dùng một trong: {known}",
                      "no ledger backend for URL scheme {scheme}; use one of: {known}"),
    "ledger_failed": ("sổ quyết định {url} không qua kiểm tra: {result}", "ledger {url} failed verification: {result}"),
    "demo_out_is_file": ("{path}: là một tệp; hãy cho một thư mục làm --out", "{path}: is a file; give a folder as --out"),
    "demo_out_foreign": ("{path}: không trống và không phải lần chạy vax demo trước (có {holds}); hãy chọn thư mục "
                         "mới hoặc trống",
                         "{path}: not empty and not a previous vax demo run (holds {holds}); choose a new or empty "
                         "folder"),
    "profile_unknown_codes": ("{source}: mã lỗi không có trong danh mục ở mục {section}: {codes}",
                              "{source}: unknown error codes in {section}: {codes}"),
    "profile_no_rate": ("{source}: thiếu tỷ lệ cho {codes}", "{source}: no rate for {codes}"),
    "profile_bad_rate": ("{source}: tỷ lệ nằm ngoài [0, 1] ở {codes}", "{source}: rates outside [0, 1] for {codes}"),
    "synth_persons": ("--persons phải từ 1 trở lên", "--persons must be at least 1"),
    "synth_unknown_provinces": ("mã tỉnh GSO không tồn tại: {codes}", "unknown GSO province codes: {codes}"),
    "synth_format": ("định dạng {format} không được hỗ trợ (parquet, csv, xlsx)",
                     "unsupported format {format} (parquet, csv, xlsx)"),
    "local_engine_folder": ("{path}: là thư mục các phần; bộ máy cục bộ đọc một tệp, thư mục các phần cần --engine dask",
                            "{path}: is a folder of parts; the local engine reads one file, folders of parts need "
                            "--engine dask"),
    "dask_no_parts": ("{path}: thư mục không có tệp dữ liệu ({kind})", "{path}: folder holds no data file ({kind})"),
    "dask_no_rows": ("{path}: không có dòng dùng được trong {kind}", "{path}: no usable rows in {kind}"),
    "dask_duplicate_key": ("{where}: mã trùng với một dòng của phần trước ({kind}); mỗi mã chỉ được có một lần",
                           "{where}: key repeats a row of an earlier part ({kind}); each key may appear once"),
    "synth_partitioned_format": ("--partitioned ghi các phần Parquet; không dùng được cùng --format {format}",
                                 "--partitioned writes Parquet parts; --format {format} is not available with it"),
    "no_such_file": ("{path}: không có tệp", "{path}: no such file"),
    "register_unreadable": ("{path}: không đọc được CSDL dân cư ({error})", "{path}: cannot read the register ({error})"),
    "index_summary": ("Đã lập chỉ mục {n} người trong CSDL dân cư → {out}", "{n} registry persons indexed → {out}"),
    "params_missing": ("--params {path}: không có tệp", "--params {path}: no such file"),
    "params_not_mapping": ("--params {path}: không phải danh sách «tham số: giá trị»",
                           "--params {path}: not a mapping of setting: value"),
    "truth_local_only": ("--truth (độ phủ của bước chặn) chỉ đo được với engine local; bỏ --engine dask",
                         "--truth (blocking recall) is measured by the local engine only; drop --engine dask"),
    "match_progress": ("vax match: {step}", "vax match: {step}"),
    "match_resumed": ("tiếp tục từ {work}: giữ lại {stages}", "resumed from {work}: {stages} kept"),
    "match_wrote_parts": ("đã ghi {matches}/ và {candidates}/ ({n} phần)",
                          "wrote {matches}/ and {candidates}/ ({n} partitions)"),
    "truth_not_in_folder": ("{path}: không có truth_vaccinations.parquet/.csv trong thư mục (--truth)",
                            "{path}: no truth_vaccinations.parquet/.csv in the folder (--truth)"),
    "truth_missing": ("{path}: không tìm thấy tệp (--truth)", "{path}: no such file (--truth)"),
    "truth_not_table": ("{path}: không phải bảng truth_vaccinations (thiếu cột {columns}) (--truth)",
                        "{path}: not a truth_vaccinations table (no column {columns}) (--truth)"),
    "matches_missing": ("{path}: không tìm thấy tệp (--matches: matches.parquet hoặc thư mục của vax match)",
                        "{path}: no such file (--matches: matches.parquet or the folder of vax match)"),
    "matches_not_run": ("{path}: không phải bảng matches của một lần chạy vax match trọn vẹn ({error})",
                        "{path}: not the matches table of a complete vax match run ({error})"),
    "app_needs_pg_url": ("đăng nhập cần địa chỉ sổ quyết định dạng postgresql://",
                         "sign-in needs a postgresql:// ledger URL"),
    "app_url_has_login": ("địa chỉ sổ quyết định của ứng dụng web không được chứa tên đăng nhập: mỗi chuyên viên "
                          "tự đăng nhập",
                          "the ledger URL of the web app must not carry a login: each analyst signs in"),
    "app_needs_pg": ("ứng dụng web cần sổ quyết định PostgreSQL, nơi mỗi chuyên viên có tài khoản riêng (vax ledger "
                     "init / add-user); một chuyên viên dùng SQLite thì mở notebook (make lab)",
                     "the web app needs a PostgreSQL ledger, where each analyst has their own login (vax ledger init "
                     "/ add-user); for one analyst on SQLite use the notebook (make lab)"),
    "app_serving": ("ứng dụng xem xét: http://127.0.0.1:{port}/ (dừng bằng Ctrl+C); mỗi chuyên viên đăng nhập bằng "
                    "tài khoản cơ sở dữ liệu của mình",
                    "review app: http://127.0.0.1:{port}/ (stop with Ctrl+C); each analyst signs in with their own "
                    "database login"),
    "synth_summary": ("CSDL dân cư: {persons} người; mũi tiêm: {records} bản ghi ({errors} có lỗi); phản ánh: {feedback}",
                      "registry: {persons} persons; vaccinations: {records} dose records ({errors} with errors); "
                      "feedback: {feedback}"),
    "match_summary": ("{records} bản ghi → {counts}", "{records} records → {counts}"),
    "wrote_two": ("đã ghi {a} và {b}", "wrote {a} and {b}"),
    "eval_nothing": ("không có dòng nào để đo", "no rows to measure"),
    "eval_codes": ("mã lỗi", "error codes"),
    "eval_sweep": ("quét ngưỡng", "threshold sweep"),
    "eval_calibration": ("hiệu chuẩn (liên kết sửa và xem xét)", "calibration (fix and review links)"),
    "feedback_summary": ("{items} phản ánh tính đến {as_of}: {statuses}; thời hạn xử lý: {sla}",
                         "{items} reports as of {as_of}: {statuses}; SLA: {sla}"),
    "feedback_queue": ("hàng đợi: {n} phản ánh đang mở -> {path}", "queue: {n} open items -> {path}"),
    "feedback_quarantined": ("; {n} dòng cách ly (quarantine.parquet)", "; {n} quarantined (quarantine.parquet)"),
    "fb_in_review": ("đang xem xét", "in review"),
    "fb_resolved": ("đã xử lý", "resolved"),
    "fb_routed_question": ("chuyển giải đáp", "routed (question)"),
    "fb_routed_account": ("chuyển xử lý tài khoản", "routed (account)"),
    "fb_records_pending": ("chờ bản ghi", "records pending"),
    "fb_on_time": ("đúng hạn", "on time"),
    "fb_overdue": ("quá hạn", "overdue"),
    "fb_open": ("còn hạn", "open"),
    "sign_bad_at": ("--at: không phải ngày/giờ ISO 8601: {text}", "--at: not an ISO 8601 date/time: {text}"),
    "sign_bad_eku": ("--eku: dùng các chữ t (xét nghiệm), v (tiêm chủng), r (khỏi bệnh) hoặc 'none'",
                     "--eku: use the letters t (test), v (vaccination), r (recovery) or 'none'"),
    "keys_rotated": ("Đơn vị ký (DSC) mới đang dùng: kid {kid} (các DSC cũ vẫn nằm trong {keys}/trust/)",
                     "new active DSC kid {kid} (older DSCs stay in {keys}/trust/)"),
    "uvci_revoked": ("Đã thêm {n} UVCI vào danh sách thu hồi", "{n} UVCI added to the revocation list"),
    "dsc_revoked": ("Đã thu hồi DSC {kid}; vax sign sẽ không dùng nó và vax keys export bỏ nó khỏi danh sách tin cậy",
                    "DSC {kid} revoked; vax sign refuses it, and vax keys export leaves it out of the trust list"),
    "dsc_already_revoked": ("DSC {kid} đã bị thu hồi từ trước; vax sign không dùng nó và vax keys export bỏ nó "
                            "khỏi danh sách tin cậy",
                            "DSC {kid} was already revoked; vax sign refuses it, and vax keys export leaves it out "
                            "of the trust list"),
    "keys_exported": ("danh sách tin cậy -> {trust}; {n} lô thu hồi -> {out}/revocation/ (JSON + CMS đã ký để tải "
                      "lên gateway)",
                      "trust list -> {trust}; {n} revocation batch(es) -> {out}/revocation/ (JSON + signed CMS for "
                      "the gateway upload)"),
    "keys_choose": ("keys: chọn init, rotate, list, revoke, revoke-signer hoặc export",
                    "keys: choose init, rotate, list, revoke, revoke-signer or export"),
    "sign_failed": ("không ký được: {error}", "cannot sign: {error}"),
    # the key store and the gateway's lists (vaxlib.sign.keys, vaxlib.sign.gateway)
    "keys_alg": ("alg {alg}: không hỗ trợ (chỉ ES256, PS256)", "alg {alg}: not supported (ES256, PS256)"),
    "keys_unreadable": ("{path}: không đọc được ({reason})", "{path}: cannot read ({reason})"),
    "keys_decrypt": ("{path}: không giải mã được (sai {name}?)", "{path}: cannot decrypt (wrong {name}?)"),
    "keys_eku": ("eku {letters}: chỉ dùng các chữ t, v, r", "eku {letters}: use the letters t, v, r"),
    "keys_no_store": ("{keys}: không có keystore.json (chạy `vax keys init --out {keys}`)",
                      "{keys}: no keystore.json (run `vax keys init --out {keys}`)"),
    "keys_damaged": ("{path}: kho khoá bị hỏng ({what}); hãy khôi phục từ bản sao lưu",
                     "{path}: damaged key store ({what}); restore it from a backup"),
    "keys_damaged_history": ("{path}: kho khoá bị hỏng (không có kid đang dùng hay lịch sử); hãy khôi phục từ bản "
                             "sao lưu",
                             "{path}: damaged key store (no active kid or history); restore it from a backup"),
    "keys_missing_file": ("{path}: không có trong kho khoá", "{path}: missing from the key store"),
    "keys_damaged_cert": ("{path}: chứng thư bị hỏng ({what}); hãy khôi phục từ bản sao lưu",
                          "{path}: damaged certificate ({what}); restore it from a backup"),
    "keys_exists": ("{keys}: đã có kho khoá (dùng --force để thay)",
                    "{keys}: a key store exists already (use --force to replace it)"),
    "keys_no_dsc": ("{keys}: không có DSC nào có kid {kid}", "{keys}: no DSC with kid {kid}"),
    "keys_kid_mismatch": ("{path}: kid không khớp với chứng thư", "{path}: kid does not match the certificate"),
    "keys_no_trust_list": ("{path}: không tìm thấy danh sách tin cậy", "{path}: trust list not found"),
    "gw_not_trust_list": ("{path}: không phải danh sách tin cậy ({what})", "{path}: not a trust list ({what})"),
    "gw_not_array": ("{path}: không phải danh sách tin cậy của gateway (cần một mảng JSON)",
                     "{path}: not a gateway trust list (expected a JSON array)"),
    "gw_raw_not_cert": ("{path}, mục {entry}: rawData không phải chứng thư",
                        "{path}: entry {entry}: rawData is not a certificate"),
    "gw_thumbprint": ("{path}, mục {entry}: thumbprint không khớp với rawData",
                      "{path}: entry {entry}: thumbprint does not match rawData"),
    "gw_kid": ("{path}, mục {entry}: kid không khớp với rawData", "{path}: entry {entry}: kid does not match rawData"),
    "gw_not_issued": ("{path}, mục {entry}: DSC không do CSCA đã cho cấp",
                      "{path}: entry {entry}: DSC not issued by the given CSCA"),
    "gw_not_batch": ("{path}: không phải lô thu hồi DCC", "{path}: not a DCC revocation batch"),
    "gw_hash_type": ("{path}: hashType hoặc độ dài mục không đúng chuẩn gateway",
                     "{path}: hashType or entry length is not the gateway's"),
    "sign_passphrase": ("biến môi trường {name} chưa được đặt: cần mật khẩu để mở khoá ký",
                        "set {name} to the key passphrase: the signing keys cannot be opened without it"),
    "sign_revoke_needs_keys": ("--revoke cần --keys KEYS", "--revoke needs --keys KEYS"),
    "sign_missing": ("thiếu {options}", "missing {options}"),
    "feedback_id_repeated": ("{path}: feedback_id {fid} có trong nhiều phần: {parts}",
                             "{path}: feedback_id {fid} is in several parts: {parts}"),
    "feedback_table_missing": ("{path}: không có {stem}.parquet/.csv/.xlsx", "{path}: no {stem}.parquet/.csv/.xlsx"),
    "sign_stream_previous": ("{path}: vax sign trên dữ liệu chia phần chưa ký lại dựa trên lần ký trước "
                             "(--previous, hoặc --out đã có một lần ký); hãy chọn một thư mục --out mới",
                             "{path}: vax sign on partitioned inputs does not re-sign against a previous run yet "
                             "(--previous, or an --out that holds one); choose a new --out folder"),
    "sign_task_died": ("một tiến trình đọc dữ liệu của vax sign đã dừng đột ngột (bị dừng, hoặc hết bộ nhớ); "
                       "chưa ký gì, kết quả trước vẫn giữ nguyên: hãy chạy lại",
                       "a vax sign reading process ended abruptly (killed, or out of memory); nothing was signed "
                       "and the previous result is as it was: run it again"),
    "sign_not_signable": ("{n} người được yêu cầu không ký được ({held} bị giữ lại hoặc bị từ chối, xem lý do khi "
                          "chạy không có --person; những người còn lại có hồ sơ mũi tiêm chưa được xác minh)",
                          "{n} requested person(s) are not signable ({held} held or refused, see the reasons "
                          "without --person; the others have dose records that are not verified)"),
    "sign_no_candidates": ("{path}: không có tệp; chỉ giữ lại được người có hồ sơ đang chờ khi có candidates.parquet "
                           "của vax match (--candidates TỆP, hoặc --no-hold để ký mà không kiểm tra)",
                           "{path}: not found; pending records hold people back only with vax match's "
                           "candidates.parquet (--candidates FILE, or --no-hold to sign without it)"),
    "verify_unreadable": ("{item}: không đọc được bảng chứng nhận (cần cột hc1; {error})",
                          "{item}: cannot read the certificates table (it needs an hc1 column; {error})"),
    "verify_not_pem": ("{path}: không phải chứng thư PEM", "{path}: not a PEM certificate"),
    "keys_created": ("Đã tạo CSCA + DSC trong {out}; kid {kid}; danh sách tin cậy {out}/trust/",
                     "CSCA + DSC created in {out}; kid {kid}; trust list {out}/trust/"),
    "verify_summary": ("{ok}/{n} hợp lệ ({reasons})", "{ok}/{n} valid ({reasons})"),
    "verify_findings": ("; {n} có lưu ý về quy tắc nghiệp vụ", "; {n} with business-rule findings"),
    "publish_pg_only": ("vax ledger publish cần sổ quyết định PostgreSQL của nhóm (postgresql://…)",
                        "vax ledger publish needs the team's PostgreSQL ledger (postgresql://…)"),
    "publish_refused": ("CSDL từ chối công bố (cần tài khoản chủ sổ, người đã chạy vax ledger init): {reason}",
                        "the database refused the publish (it needs the ledger owner's login, who ran vax ledger "
                        "init): {reason}"),
    "publish_not_owner": ("{user} không được công bố: chỉ chủ sổ quyết định (người đã chạy vax ledger init) "
                          "công bố hàng đợi",
                          "{user} may not publish: only the ledger's owner (who ran vax ledger init) publishes "
                          "the queue"),
    "publish_failed": ("công bố không thành công, phiên bản trước vẫn giữ nguyên: {reason}",
                       "publishing failed; the previous version is unchanged: {reason}"),
    "publish_nothing": ("chưa có hàng đợi xem xét nào được công bố trong {where}; người vận hành chạy: vax ledger "
                        "publish --run THƯ_MỤC --ledger URL",
                        "no review queue is published in {where} yet; the operator runs: vax ledger publish "
                        "--run DIR --ledger URL"),
    "publish_unreadable": ("không đọc được hàng đợi đã công bố: {reason}",
                           "cannot read the published review queue: {reason}"),
    "published": ("Đã công bố phiên bản {version} ({replaced}): {records} bản ghi cần xem xét của {provinces} tỉnh "
                  "({rows}) vào {where}",
                  "Published version {version} ({replaced}): {records} records to review in {provinces} provinces "
                  "({rows}) to {where}"),
    "published_first": ("lần đầu", "the first"),
    "published_replaced": ("thay phiên bản {old}", "replaces version {old}"),
    "pending_none": ("Không có lần duyệt cả cụm nào chờ xác nhận", "no bulk acceptance waits for confirmation"),
    "pending_head": ("{n} lần duyệt cả cụm đang chờ giám sát xác nhận (xác nhận bằng: vax ledger confirm-bulk "
                     "--ledger URL BULK_ID)",
                     "{n} bulk acceptance(s) wait for a supervisor (confirm with: vax ledger confirm-bulk "
                     "--ledger URL BULK_ID)"),
    "pending_item": ("{bulk}  {n} bản ghi  tỉnh {province}  do {analyst}  lúc {time}",
                     "{bulk}  {n} records  province {province}  by {analyst}  at {time}"),
    "confirm_needs_analyst": ("sổ quyết định SQLite ghi tên tự khai: hãy cho --analyst TÊN (người giám sát)",
                              "a SQLite ledger records typed names: give --analyst NAME (the supervisor)"),
    "confirm_not_allowed": ("{who} không được xác nhận duyệt cả cụm: chỉ vai trò giám sát hoặc toàn quốc "
                            "(vax ledger add-user --role supervisor)",
                            "{who} may not confirm bulk acceptances: only a supervisor or national role may "
                            "(vax ledger add-user --role supervisor)"),
    "confirmed": ("Đã xác nhận duyệt cả cụm {bulk} ({n} bản ghi) dưới tên {analyst}: sự kiện #{eid}; vax apply "
                  "nay sẽ áp dụng",
                  "confirmed bulk acceptance {bulk} ({n} records) as {analyst}: event #{eid}; vax apply now "
                  "applies it"),
    "apply_see": (" (xem {path})", " (see {path})"),
    "apply_pending_bulk": ("chưa áp dụng: {bulks} lần duyệt cả cụm ({records} bản ghi) đang chờ giám sát xác nhận "
                           "(quy tắc hai người)",
                           "not applied: {bulks} bulk acceptance(s) of {records} records await a supervisor's "
                           "confirmation (two-person rule)"),
})

#: ``vax ledger verify`` (vaxlib.review.ledger.VerifyResult.describe)
_LEDGER = _pairs({
    "ok_empty": ("Sổ quyết định toàn vẹn: trống (0 sự kiện)", "ledger OK: empty (0 events)"),
    "ok": ("Sổ quyết định toàn vẹn: {events} sự kiện, đã đối chiếu {anchors} đầu chuỗi ghi nhận bên ngoài, "
           "đầu chuỗi {head}",
           "ledger OK: {events} events, {anchors} witnessed heads checked, head {head}"),
    "tampered": ("Sổ quyết định BỊ SỬA ĐỔI tại {where}: {problem} (đã kiểm tra {events} sự kiện)",
                 "ledger TAMPERED at {where}: {problem} ({events} events checked)"),
    "at_event": ("sự kiện {id}", "event {id}"),
    "at_ledger": ("toàn sổ", "ledger"),
    "problem_id_gap": ("sự kiện {id} đứng sau {prev}: thiếu hoặc đảo thứ tự sự kiện",
                       "event id {id} follows {prev}: event(s) missing or reordered"),
    "problem_prev_hash": ("prev_hash không khớp mã băm của sự kiện trước (sự kiện bị xoá, chèn hoặc đảo thứ tự)",
                          "prev_hash does not match the previous event's hash (event deleted, inserted or reordered)"),
    "problem_unreadable": ("không đọc được sự kiện đã lưu ({error})", "stored event cannot be read ({error})"),
    "problem_altered": ("nội dung không khớp mã băm của sự kiện (sự kiện bị sửa)",
                        "contents do not match the event's hash (event altered)"),
    "problem_unknown_action": ("hành động không xác định {action}", "unknown action {action}"),
    "problem_head_stored": ("chuỗi dừng ở sự kiện {end} nhưng đầu chuỗi đã lưu là sự kiện {want} "
                            "(các sự kiện mới nhất bị xoá hoặc thay)",
                            "chain ends at event {end} but the stored head is event {want} "
                            "(newest events deleted or replaced)"),
    "problem_head_expected": ("chuỗi dừng ở sự kiện {end} nhưng đầu chuỗi mong đợi là sự kiện {want} "
                              "(các sự kiện mới nhất bị xoá hoặc thay)",
                              "chain ends at event {end} but the expected head is event {want} "
                              "(newest events deleted or replaced)"),
    "problem_replaced": ("đây không phải sổ quyết định đã được ghi nhận tại {location} lúc {time} ({by}): "
                         "cơ sở dữ liệu đã bị thay",
                         "this is not the ledger witnessed at {location} on {time} ({by}): the database was replaced"),
    "problem_tail_deleted": ("chuỗi dừng ở sự kiện {end} nhưng sự kiện {id} đã được ghi nhận lúc {time} ({by}): "
                             "các sự kiện mới nhất bị xoá",
                             "chain ends at event {end} but event {id} was witnessed on {time} ({by}): "
                             "newest events deleted"),
    "problem_rewritten": ("sự kiện {id} khác với bản đã ghi nhận lúc {time} ({by}): sổ đã bị viết lại từ sự kiện "
                          "{id} trở về trước",
                          "event {id} differs from the one witnessed on {time} ({by}): the ledger was rewritten "
                          "at or before event {id}"),
})

#: ``vax evaluate``'s figures and table columns (vaxlib.match.cli; the keys are evaluation.json's)
_EVAL = _pairs({
    "records": ("Số bản ghi", "Records"),
    "in_registry": ("Bản ghi của người có trong CSDL dân cư", "Records of persons in the register"),
    "auto_precision": ("Độ chính xác của liên kết tự động", "Precision of automatic links"),
    "auto_recall": ("Độ bao phủ của liên kết tự động", "Recall of automatic links"),
    "review_rate": ("Tỷ lệ cần xem xét", "Share sent to review"),
    "review_top_right": ("Ứng viên đầu đúng trong hàng đợi xem xét", "Top candidate right in the review queue"),
    "nonregistry_auto_linked": ("Người ngoài CSDL bị liên kết tự động", "Non-register persons linked automatically"),
    "code_recall": ("Độ bao phủ của mã lỗi", "Error-code recall"),
    "code_precision": ("Độ chính xác của mã lỗi", "Error-code precision"),
    "person_key_precision": ("Độ chính xác của nhóm người", "Person-key precision"),
    "person_key_recall": ("Độ bao phủ của nhóm người", "Person-key recall"),
    "person_key_f1": ("F1 của nhóm người", "Person-key F1"),
    "corrected_equal_rate": ("Giá trị sửa đúng bằng sự thật", "Corrected values equal to the truth"),
    "blocking_recall": ("Độ bao phủ của bước chặn", "Blocking recall"),
    "interval": ("({left}; {right}]", "({left}, {right}]"),
    "col_code": ("mã lỗi", "code"),
    "col_truth": ("sự thật", "truth"),
    "col_predicted": ("dự đoán", "predicted"),
    "col_correct": ("đúng", "correct"),
    "col_recall": ("độ bao phủ", "recall"),
    "col_precision": ("độ chính xác", "precision"),
    "col_threshold": ("ngưỡng", "threshold"),
    "col_auto_links": ("liên kết tự động", "automatic links"),
    "col_bin": ("khoảng xác suất", "probability bin"),
    "col_records": ("số bản ghi", "records"),
    "col_mean_probability": ("xác suất trung bình", "mean probability"),
    "col_observed_right": ("tỷ lệ đúng thực tế", "observed right"),
})

#: ``vax demo`` (vaxlib.demo)
_DEMO = _pairs({
    "step1": ("Tạo dân số mẫu tổng hợp", "Generate the synthetic demo population"),
    "step2": ("Ghép bản ghi mũi tiêm với CSDL dân cư", "Match dose records against the registry"),
    "step3": ("Đánh giá kết quả ghép so với sự thật đã biết", "Evaluate the matching against the known truth"),
    "step4": ("Áp dụng các sửa lỗi tự động", "Apply automatic fixes"),
    "step4_ledger": ("Áp dụng các sửa lỗi tự động và quyết định của chuyên viên",
                     "Apply automatic fixes and the analysts' decisions"),
    "step5": ("Ghép lại các bản ghi đã sửa", "Match the corrected records again"),
    "step6": ("Tạo khoá ký mẫu (CSCA + đơn vị ký)", "Create demo signing keys (CSCA + document signer)"),
    "step7": ("Ký chứng nhận cho người đã xác minh", "Sign certificates for verified people"),
    "step8": ("Kiểm tra các chứng nhận đã ký", "Verify the signed certificates"),
    "step9": ("Liên kết phản ánh của người dân và giải quyết những gì dữ liệu trả lời được",
              "Link citizens' feedback (phản ánh) and resolve what the data answers"),
    "step10": ("Lập báo cáo các tỉnh", "Render the province reports"),
    "reused_step": ("dùng lại {path} (cùng dữ liệu vào, tham số và mã vaxlib)",
                    "reused {path} (same inputs, arguments and vaxlib code)"),
    "reused_keys": ("dùng lại {path} (khoá không bao giờ bị thay)", "reused {path} (keys are never replaced)"),
    "step_failed": ("vax demo: bước «{title}» lỗi, mã thoát {code}", "vax demo: step '{title}' failed with exit code {code}"),
    "done": ("vax demo: xong; mọi thứ nằm trong {path}", "vax demo: done; everything is under {path}"),
    "reused": ("vax demo: dùng lại {n} bước của lần chạy trước: {steps}",
               "vax demo: reused {n} step(s) of the previous run: {steps}"),
    "kept": ("vax demo: giữ nguyên {what}", "vax demo: kept {what}"),
    "kept_ledger": ("sổ quyết định của chuyên viên {path}", "the analysts' ledger {path}"),
    "next": ("Mở tiếp:", "What to open next:"),
    "next_lab": ("make lab   → notebooks/02-review-queue.ipynb (hàng đợi xem xét), 01-explore-errors.ipynb "
                 "(cụm lỗi), 03-tune-thresholds.ipynb (ngưỡng ghép)",
                 "make lab   → notebooks/02-review-queue.ipynb (review queue), 01-explore-errors.ipynb "
                 "(error clusters), 03-tune-thresholds.ipynb (thresholds)"),
    "next_national": ("báo cáo toàn quốc", "national summary"),
    "next_province": ("báo cáo một tỉnh", "a province report"),
    "next_xlsx": ("bản ghi đã sửa để nhập lại", "corrected records to re-import"),
})

#: ``vax sign``'s summary (vaxlib.sign.batch.SignStats.summary)
_SIGN = _pairs({
    "summary": ("Đã ký {signed} chứng nhận; bỏ qua {skipped} người", "signed {signed} certificates; skipped {skipped} persons"),
    "summary_person": ("Đã ký {signed} chứng nhận cho {requested} người được chỉ định (--person); bỏ qua {skipped}",
                       "signed {signed} certificates for the {requested} persons asked for (--person); skipped {skipped}"),
    "previous": ("mới {issued}, cấp lại {reissued} (thu hồi {revoked} UVCI cũ), giữ nguyên {kept}, giữ chứng nhận "
                 "cũ của {carried} người chưa ký được lần này",
                 "new {issued}, re-issued {reissued} (revoked {revoked} old UVCIs), kept {kept}, previous "
                 "certificate kept for {carried} not signable this time"),
    "previous_person": ("mới {issued}, cấp lại {reissued} (thu hồi {revoked} UVCI cũ), giữ nguyên {kept}; chứng nhận "
                        "của {carried} người khác trong lần ký trước được giữ như cũ",
                        "new {issued}, re-issued {reissued} (revoked {revoked} old UVCIs), kept {kept}; the "
                        "certificates of {carried} other persons of the previous run are kept as they were"),
    "refused_head": ("{n} người bị giữ lại hoặc từ chối (danh sách đầy đủ: {path}):",
                     "{n} persons held or refused (full list: {path}):"),
    "refused_record": ("hồ sơ", "record"),
    "refused_records": ("các hồ sơ", "records"),
    "refused_persons": ("{n} người", "{n} persons"),
    "refused_more_records": ("và {n} hồ sơ nữa", "and {n} more"),
    "refused_more": ("… và {n} người nữa trong tệp", "… and {n} more persons in the file"),
    "valid": ("HỢP LỆ", "VALID"),
    "invalid": ("KHÔNG HỢP LỆ", "INVALID"),
    "findings": ("quy tắc nghiệp vụ (không phải lỗi kỹ thuật; --strict để từ chối)",
                 "business rules (not a technical failure; --strict rejects)"),
})

#: why ``vax sign`` skipped a person (besides :data:`vaxlib.sign.checks.REFUSAL_LABELS`)
_SIGN_SKIP = _pairs({
    "not_all_verified": ("có mũi tiêm chưa được xác minh (fix/review/unmatched/invalid)",
                         "has dose records that are not verified"),
    "not_in_registry": ("không có trong sổ đăng ký dân cư", "person not in the register"),
    "no_usable_dose": ("không có mũi tiêm dùng được", "no usable dose record"),
    "payload_invalid": ("dữ liệu không hợp lệ theo lược đồ DCC / bộ giá trị", "payload fails the DCC schema or value sets"),
    "unknown_vaccine": ("loại vắc xin không xác định", "vaccine product not recognised"),
    "several_persons": ("một nhóm hồ sơ trỏ tới nhiều người trong sổ đăng ký",
                        "one person_key links to several register persons"),
})

#: every sentence, keyed ``section.key``
STRINGS: dict[str, dict[str, str]] = {
    **{f"review.{k}": v for k, v in _REVIEW.items()},
    **{f"feedback.{k}": v for k, v in _FEEDBACK.items()},
    **{f"report.{k}": v for k, v in _REPORT.items()},
    **{f"error.{k}": v for k, v in ERROR_LABELS.items()},
    **{f"status.{k}": v for k, v in STATUS_LABELS.items()},
    **{f"action.{k}": v for k, v in ACTION_LABELS.items()},
    **{f"ui.{k}": v for k, v in UI_LABELS.items()},
    **{f"fbcat.{k}": v for k, v in FEEDBACK_CATEGORY_LABELS.items()},
    **{f"fbreason.{k}": v for k, v in FEEDBACK_REASON_LABELS.items()},
    **{f"fbresolution.{k}": v for k, v in FEEDBACK_RESOLUTION_LABELS.items()},
    **{f"fbreply.{k}": v for k, v in _FEEDBACK_REPLY.items()},
    **{f"reason.{k}": v for k, v in REASON_LABELS.items()},
    **{f"team.{k}": v for k, v in _TEAM.items()},
    **{f"sign.{k}": v for k, v in _SIGN.items()},
    **{f"cli.{k}": v for k, v in _CLI.items()},
    **{f"demo.{k}": v for k, v in _DEMO.items()},
    **{f"eval.{k}": v for k, v in _EVAL.items()},
    **{f"ledger.{k}": v for k, v in _LEDGER.items()},
    **{f"signskip.{k}": v for k, v in _SIGN_SKIP.items()},
}


def t(key: str, lang: str = DEFAULT_LANG, /, **kw: Any) -> str:
    """The wording of ``key`` (``"section.key"``) in ``lang``, formatted with ``kw``.

    Numbers and dates passed in ``kw`` should already be formatted with the
    ``fmt_*`` helpers, so that the sentence and its figures agree.
    """
    text = STRINGS[key][check_lang(lang)]
    return text.format(**kw) if kw else text


def has(key: str) -> bool:
    """Whether ``key`` has a wording."""
    return key in STRINGS


def table(section: str, lang: str = DEFAULT_LANG) -> dict[str, str]:
    """Every wording of a section in one language: ``{"title": ..., ...}``."""
    check_lang(lang)
    prefix = section + "."
    return {k[len(prefix):]: v[lang] for k, v in STRINGS.items() if k.startswith(prefix)}


# --------------------------------------------------------------------------- numbers and dates

def fmt_int(n: Any, lang: str = DEFAULT_LANG) -> str:
    """``1234567`` -> ``"1.234.567"`` (vi) / ``"1,234,567"`` (en); missing -> ``"—"``."""
    if is_missing(n):
        return "—"
    text = f"{int(round(float(n))):,}"
    return text.replace(",", ".") if check_lang(lang) == "vi" else text


def fmt_decimal(x: Any, lang: str = DEFAULT_LANG, digits: int = 1) -> str:
    """``1234.56`` -> ``"1.234,6"`` (vi) / ``"1,234.6"`` (en); missing -> ``"—"``."""
    if is_missing(x):
        return "—"
    text = f"{float(x):,.{digits}f}"
    if check_lang(lang) == "vi":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def fmt_pct(x: Any, lang: str = DEFAULT_LANG, digits: int = 1) -> str:
    """A share as a percentage: ``0.1234`` -> ``"12,3%"`` (vi) / ``"12.3%"`` (en); missing -> ``"—"``."""
    if is_missing(x):
        return "—"
    return fmt_decimal(100 * float(x), lang, digits) + "%"


def fmt_date(value: Any, lang: str = DEFAULT_LANG) -> str:
    """``"2022-04-30"`` -> ``"30/04/2022"`` (vi) / ``"30 Apr 2022"`` (en).

    Partial register dates keep their precision (``"1990-03"`` -> ``"03/1990"``,
    ``"1990"`` stays); text that is not a date is returned unchanged, so a
    record's typed value is never hidden.
    """
    if is_missing(value):
        return ""
    check_lang(lang)
    if isinstance(value, str):
        text = value.strip()
        parts = text.split("-")
        if len(parts) == 2 and all(p.isdigit() for p in parts) and len(parts[0]) == 4:
            return f"{parts[1]}/{parts[0]}"
        if text.isdigit() and len(text) == 4:
            return text
        if not (len(text) >= 10 and text[4] == "-" and text[7] == "-"):
            return value
        try:
            ts = pd.Timestamp(text[:10])
        except (ValueError, TypeError):
            return value
    elif isinstance(value, (_dt.date, pd.Timestamp)):
        ts = pd.Timestamp(value)
    else:
        return str(value)
    return ts.strftime("%d/%m/%Y") if lang == "vi" else ts.strftime("%d %b %Y")


def fmt_month(value: Any, lang: str = DEFAULT_LANG) -> str:
    """A month as a short axis label: ``"10/2021"`` (vi) / ``"Oct 2021"`` (en)."""
    return pd.Timestamp(value).strftime("%m/%Y" if check_lang(lang) == "vi" else "%b %Y")


def plotly_separators(lang: str = DEFAULT_LANG) -> str:
    """plotly's ``layout.separators`` (decimal, then thousands): ``",."`` (vi, 1.234,5) / ``".,"`` (en)."""
    return ",." if check_lang(lang) == "vi" else ".,"


def fmt_datetime(value: Any, lang: str = DEFAULT_LANG) -> str:
    """``2022-04-30T14:05`` -> ``"14:05 30/04/2022"`` (vi) / ``"30 Apr 2022 14:05"`` (en)."""
    if is_missing(value):
        return ""
    ts = pd.Timestamp(value)
    day = fmt_date(ts, lang)
    return f"{ts:%H:%M} {day}" if lang == "vi" else f"{day} {ts:%H:%M}"


def fmt_duration(hours: Any, lang: str = DEFAULT_LANG) -> str:
    """An age in words: ``1452`` -> ``"60 ngày 12 giờ"`` / ``"60 days 12 hours"``; under a day in hours."""
    if is_missing(hours):
        return "—"
    check_lang(lang)
    total = max(int(math.floor(float(hours))), 0)
    days, rest = divmod(total, 24)
    if lang == "vi":
        return f"{days} ngày {rest} giờ" if days else f"{rest} giờ"
    d = f"{days} day{'s' if days != 1 else ''}"
    h = f"{rest} hour{'s' if rest != 1 else ''}"
    return f"{d} {h}" if days else h
