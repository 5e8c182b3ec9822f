"""The data contract's tables, their columns, and the platform's Vietnamese headers.

One definition serves both directions: :mod:`vaxlib.synth` writes CSV/xlsx
files with ``Column.vi`` as the header (as the national platform exports
them), and :mod:`vaxlib.io` maps any of ``Column.header_aliases`` back onto
the contract name.  The contract itself is ``shared/spec/data-contract.md``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Column",
    "TABLES",
    "columns",
    "EXTRA_COLUMNS",
    "extra_columns",
    "vi_headers",
    "TRUTH_VACCINATIONS",
    "TRUTH_FEEDBACK",
    "ERROR_CODES",
    "ERROR_CODE_INFO",
    "FEEDBACK_CATEGORIES",
    "MATCH_STATUSES",
    "OUTPUT_TABLES",
]


@dataclass(frozen=True)
class Column:
    name: str  #: contract column name
    vi: str  #: header in the platform's Vietnamese export
    required: bool = True  #: a file without it cannot be imported
    aliases: tuple[str, ...] = field(default_factory=tuple)  #: other headers seen in the wild
    en: str = ""  #: English label for reports and widgets

    @property
    def header_aliases(self) -> tuple[str, ...]:
        return (self.name, self.vi, *self.aliases)


TABLES: dict[str, tuple[Column, ...]] = {
    "registry": (
        Column("person_id", "Số định danh cá nhân", aliases=("Số CCCD", "Số ĐDCN", "Mã định danh"), en="Personal ID number"),
        Column("full_name", "Họ và tên", aliases=("Họ tên", "Ho va ten", "Họ và tên công dân"), en="Full name"),
        Column("dob", "Ngày sinh", aliases=("Ngày tháng năm sinh", "Ngay sinh"), en="Date of birth"),
        Column("sex", "Giới tính", aliases=("Gioi tinh",), en="Sex"),
        Column("old_id", "Số CMND cũ", required=False, aliases=("Số CMND", "CMND cũ"), en="Former ID (CMND)"),
        Column("province_code", "Mã tỉnh thường trú", required=False,
               aliases=("Tỉnh/Thành phố", "Mã tỉnh", "Tỉnh thường trú"), en="Province of residence"),
    ),
    "vaccinations": (
        Column("record_id", "Mã bản ghi", aliases=("Mã mũi tiêm", "ID", "STT bản ghi"), en="Record ID"),
        Column("full_name", "Họ và tên", aliases=("Họ tên", "Ho va ten", "Họ và tên người tiêm"), en="Full name"),
        Column("dob", "Ngày sinh", aliases=("Ngày tháng năm sinh", "Ngay sinh", "Năm sinh"), en="Date of birth"),
        Column("sex", "Giới tính", required=False, aliases=("Gioi tinh",), en="Sex"),
        Column("id_number", "Số CMND/CCCD", required=False,
               aliases=("Số CMND/CCCD/HC", "Số CCCD/CMND", "CMND/CCCD", "Số giấy tờ tùy thân", "Số định danh"),
               en="ID number"),
        Column("phone", "Số điện thoại", required=False, aliases=("SĐT", "Điện thoại", "So dien thoai"), en="Phone"),
        Column("province_code", "Tỉnh/Thành phố", required=False,
               aliases=("Mã tỉnh", "Mã tỉnh/thành phố", "Tỉnh thường trú"), en="Province of residence"),
        Column("facility_id", "Cơ sở tiêm", aliases=("Mã cơ sở tiêm", "Cơ sở tiêm chủng"), en="Facility"),
        Column("facility_province", "Tỉnh của cơ sở tiêm", required=False,
               aliases=("Mã tỉnh cơ sở tiêm",), en="Facility province"),
        Column("dose_number", "Mũi tiêm", aliases=("Mũi số", "Mũi tiêm thứ", "Mui tiem"), en="Dose number"),
        Column("vaccination_date", "Ngày tiêm", aliases=("Ngay tiem", "Ngày tiêm chủng"), en="Vaccination date"),
        Column("vaccine", "Loại vắc xin", aliases=("Tên vắc xin", "Vắc xin", "Loai vac xin"), en="Vaccine"),
        Column("lot_number", "Số lô", required=False, aliases=("Lô vắc xin", "So lo"), en="Lot number"),
    ),
    "feedback": (
        Column("feedback_id", "Mã phản ánh", aliases=("ID phản ánh",), en="Feedback ID"),
        Column("submitted_at", "Thời gian gửi", aliases=("Thời gian phản ánh", "Ngày gửi"), en="Submitted at"),
        Column("full_name", "Họ và tên", aliases=("Họ tên",), en="Full name"),
        Column("dob", "Ngày sinh", required=False, en="Date of birth"),
        Column("sex", "Giới tính", required=False, en="Sex"),
        Column("id_number", "Số CMND/CCCD", required=False, aliases=("Số CMND/CCCD/HC", "Số CCCD/CMND"), en="ID number"),
        Column("phone", "Số điện thoại", required=False, aliases=("SĐT",), en="Phone"),
        Column("category", "Loại phản ánh", aliases=("Nhóm phản ánh",), en="Category"),
        Column("message", "Nội dung phản ánh", required=False, aliases=("Nội dung",), en="Message"),
    ),
}


#: Columns that are not in the contract (which defines no optional columns) but that
#: vaxlib carries from input to output when a file has them: ``io.read_table`` keeps
#: them after the contract's columns and ``io.write_table`` writes them back.  The
#: platform's export names the facility beside its code; reports show the name.
EXTRA_COLUMNS: dict[str, tuple[Column, ...]] = {
    "registry": (),
    "vaccinations": (
        Column("facility_name", "Tên cơ sở tiêm", required=False,
               aliases=("Tên cơ sở tiêm chủng", "Tên cơ sở", "Ten co so tiem"), en="Facility name"),
    ),
    "feedback": (),
}


def columns(table: str) -> list[str]:
    """Contract column names of ``table`` in contract order."""
    return [c.name for c in TABLES[table]]


def extra_columns(table: str) -> list[str]:
    """Names of the :data:`EXTRA_COLUMNS` vaxlib carries for ``table`` (never contract columns)."""
    return [c.name for c in EXTRA_COLUMNS[table]]


def vi_headers(table: str) -> dict[str, str]:
    """contract name -> Vietnamese export header for ``table``."""
    return {c.name: c.vi for c in TABLES[table]}


#: Truth written by ``vax synth`` for every dose record (not part of the contract).
TRUTH_VACCINATIONS = [
    "record_id",
    "human_id",  # the true human (register person or not); person_key truth
    "person_id",  # the true register person, or null when not in the register
    "error_codes",  # ;-separated taxonomy codes injected into this record
    "true_full_name",
    "true_dob",
    "true_sex",
    "true_id_number",
]

#: Truth for every feedback item.
#: truth of a synthetic complaint; ``kind``/``closable``/``subject``/``resubmission_of``: see
#: :mod:`vaxlib.complaints.generate`
TRUTH_FEEDBACK = ["feedback_id", "human_id", "person_id", "problem", "record_ids",
                  "kind", "closable", "subject", "resubmission_of"]

_CLS = "vaxlib.match.classify.id_codes"
_NAMES = "vaxlib.vn.names.compare_names"
_DOB = "vaxlib.vn.dates.compare_dob"
_LINKS = "vaxlib.match.classify.classify_links"

#: The contract's error taxonomy: code -> (one-line meaning, the function that emits it).
#: How codes combine (additive; see ``shared/spec/data-contract.md``) is tested in
#: ``tests/test_taxonomy.py``.  Records without a linked person get the codes visible
#: in the record alone from ``classify.unlinked_codes`` / ``classify.intrinsic_codes``.
ERROR_CODE_INFO: dict[str, tuple[str, str]] = {
    "id:missing": ("no ID typed, or a placeholder (0, -, không có)", _CLS),
    "id:malformed": ("separators, padding or stray characters in an otherwise readable number "
                     "(079 123 456 789, '079123456789, O for 0), or a number cut short; "
                     "added to the codes of what is wrong with the digits", _CLS),
    "id:passport": ("a passport number instead of the CCCD/CMND", _CLS),
    "id:old_cmnd": ("the person's former 9-digit CMND instead of the 12-digit CCCD", _CLS),
    "id:lost_leading_zero": ("a spreadsheet dropped the leading zero(s) of the number", _CLS),
    "id:excel_mangled": ("Excel rewrote the number (7.91235E+10, 79123456789.0)", _CLS),
    "id:typo": ("one digit substituted, inserted or deleted, also when the result breaks the CCCD structure",
                _CLS),
    "id:transposition": ("two adjacent digits swapped (also at the start of the number)", _CLS),
    "id:other_person": ("the number of another register person (often a parent's)", _CLS),
    "id:unknown": ("a well-formed CCCD/CMND that no register person holds", _CLS),
    "name:unicode_form": ("invisible code-point difference: not NFC, or a look-alike letter (Ð for Đ)", _NAMES),
    "name:case_spacing": ("letter case or white space differs (NGUYỄN, extra or missing spaces)", _NAMES),
    "name:no_diacritics": ("typed without any diacritics where the register has them", _NAMES),
    "name:tone_placement": ("the other tone-mark convention of open oa/oe/uy (hoà/hòa, thuỷ/thủy)", _NAMES),
    "name:diacritic_error": ("same letters, some tone or vowel mark wrong or missing (not all)", _NAMES),
    "name:typo": ("a keystroke slip of one or two letters, or Telex/VNI keystroke residue (Nguyeenx, Nguye64n)",
                  _NAMES),
    "name:order": ("the same words in another order (given name first)", _NAMES),
    "name:missing_part": ("a word of the register name left out (a middle name dropped)", _NAMES),
    "name:other": ("anything else: another name, an extra word, an empty name", _NAMES),
    "dob:format": ("the text is not in the register's ISO layout (dd/mm/yyyy, d/m/yy, an Excel serial); "
                   "added to dob:day_month_swap, dob:year_only_default and dob:typo", _DOB),
    "dob:day_month_swap": ("day and month exchanged", _DOB),
    "dob:year_only_default": ("01/01 of the right year typed for an unknown day and month", _DOB),
    "dob:partial": ("only the year, or year and month, where the other side has more (never with dob:format)",
                    _DOB),
    "dob:typo": ("one digit of the date changed, or two adjacent digits swapped", _DOB),
    "dob:other": ("any other date, or an empty or unreadable one", _DOB),
    "sex:mismatch": ("the typed sex is the other value (Nam/Nữ, M/F, 1/0 are spellings, not errors)", _LINKS),
    "sex:missing": ("no sex typed", _LINKS),
}

ERROR_CODES: tuple[str, ...] = tuple(ERROR_CODE_INFO)

FEEDBACK_CATEGORIES = ("missing_dose", "wrong_personal_info", "wrong_vaccine", "duplicate_record", "other")

MATCH_STATUSES = ("verified", "fix", "review", "unmatched", "invalid")


#: Tables vaxlib itself writes (Parquet, contract column names): kind -> columns every file of the kind
#: must hold, in order (more may follow).  ``vaxlib.io.read_output`` checks them; matches and
#: certificates are the contract's own tables.
OUTPUT_TABLES: dict[str, tuple[str, ...]] = {
    "matches": ("record_id", "status", "person_id", "match_probability", "error_codes",
                "corrected_full_name", "corrected_dob", "corrected_sex", "corrected_id_number", "person_key"),
    "candidates": ("record_id", "person_id", "rank", "match_probability"),
    "certificates": ("person_id", "uvci", "hc1", "kid", "issued_at", "expires_at"),
    "quarantine": ("file", "row", "column", "reason", "raw"),
    "changes": ("record_id",),
    "feedback_status": ("feedback_id",),
    "feedback_queue": ("feedback_id",),
    "feedback_links": ("feedback_id",),
    "truth_vaccinations": ("record_id", "person_id"),
    "table": (),  #: any other table vaxlib wrote (report aggregates, ...): no column check
}
