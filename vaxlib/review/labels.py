"""Vietnamese and English labels for the review workbench, in one place.

Widgets, plots, reports and cluster descriptions import their wording from
here so that every screen says the same thing.  Vietnamese (``"vi"``) is the
default language; ``"en"`` is available everywhere.

Each error code of the contract's taxonomy (``shared/spec/data-contract.md``)
has two wordings per language:

* a *label* (noun phrase, for legends and table headers):
  ``"Đảo ngày và tháng sinh"`` / ``"Day and month swapped"``;
* a *phrase* (what a facility did, for sentences):
  ``"đảo ngày và tháng sinh"`` / ``"swapped day and month"``, as in
  "CS-79-0123 đảo ngày và tháng sinh ở 412 bản ghi trong tháng 10/2021".
"""
from __future__ import annotations

from typing import Literal

__all__ = [
    "Lang",
    "LANGS",
    "ERROR_LABELS",
    "ERROR_PHRASES",
    "FIELD_LABELS",
    "STATUS_LABELS",
    "ACTION_LABELS",
    "UI_LABELS",
    "NO_CODE",
    "error_label",
    "error_phrase",
    "field_of",
    "field_label",
    "status_label",
    "action_label",
    "ui_label",
    "month_label",
    "join_phrases",
    "check_lang",
]

Lang = Literal["vi", "en"]
LANGS: tuple[str, ...] = ("vi", "en")

#: pseudo-code for a mismatch record that carries no error code (e.g. unmatched)
NO_CODE = "none"

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

_MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July",
              "August", "September", "October", "November", "December")


def check_lang(lang: str) -> str:
    """Return ``lang`` if supported, else raise :class:`ValueError`."""
    if lang not in LANGS:
        raise ValueError(f"unsupported language {lang!r}; use one of {LANGS}")
    return lang


def _lookup(table: dict[str, dict[str, str]], key: str, lang: str) -> str:
    check_lang(lang)
    entry = table.get(key)
    return entry[lang] if entry else key


def error_label(code: str, lang: str = "vi") -> str:
    """Short label of an error code; an unknown code is returned as is."""
    return _lookup(ERROR_LABELS, code or NO_CODE, lang)


def error_phrase(code: str, lang: str = "vi") -> str:
    """Verb phrase of an error code for sentences; unknown codes fall back to the code."""
    return _lookup(ERROR_PHRASES, code or NO_CODE, lang)


def field_of(code: str) -> str:
    """The field part of a code: ``"dob:day_month_swap"`` -> ``"dob"``."""
    return code.split(":", 1)[0] if code and ":" in code else NO_CODE


def field_label(field: str, lang: str = "vi") -> str:
    """Label of a field group (``id``, ``name``, ``dob``, ``sex``)."""
    return _lookup(FIELD_LABELS, field, lang)


def status_label(status: str, lang: str = "vi") -> str:
    """Label of a match status (``verified``, ``fix``, ``review``, ...)."""
    return _lookup(STATUS_LABELS, status, lang)


def action_label(action: str, lang: str = "vi") -> str:
    """Label of a ledger action (``accept`` -> ``"Duyệt"``)."""
    return _lookup(ACTION_LABELS, action, lang)


def ui_label(key: str, lang: str = "vi") -> str:
    """Shared UI word (axis titles, headings)."""
    return _lookup(UI_LABELS, key, lang)


def month_label(period: str, lang: str = "vi") -> str:
    """``"2021-10"`` -> ``"tháng 10/2021"`` (vi) or ``"October 2021"`` (en)."""
    check_lang(lang)
    try:
        year, month = period.split("-")[:2]
        m = int(month)
        if not 1 <= m <= 12:
            raise ValueError
    except (ValueError, AttributeError):
        return str(period)
    return f"tháng {m}/{year}" if lang == "vi" else f"{_MONTHS_EN[m - 1]} {year}"


def join_phrases(parts: list[str], lang: str = "vi") -> str:
    """Join phrases as a sentence list: ``a, b và c`` / ``a, b and c``."""
    check_lang(lang)
    parts = [p for p in parts if p]
    if len(parts) <= 1:
        return "".join(parts)
    conj = " và " if lang == "vi" else " and "
    return ", ".join(parts[:-1]) + conj + parts[-1]


#: citizens' feedback categories (contract: feedback.category), shared by
#: `vax report`, the feedback queue widget and `vax feedback`
FEEDBACK_CATEGORY_LABELS: dict[str, dict[str, str]] = {
    "missing_dose": {"vi": "Thiếu mũi tiêm", "en": "Missing dose"},
    "wrong_personal_info": {"vi": "Sai thông tin cá nhân", "en": "Wrong personal information"},
    "wrong_vaccine": {"vi": "Sai loại vắc xin", "en": "Wrong vaccine"},
    "duplicate_record": {"vi": "Trùng mũi tiêm", "en": "Duplicate record"},
    "other": {"vi": "Khác", "en": "Other"},
}
