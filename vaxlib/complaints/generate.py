"""Synthetic citizens' complaints of seventeen kinds, written from the finished tables, with their truth.

The generator reads only what ``vax synth`` has already produced (the register,
the dose records as typed and their truth) and writes complaints the way
citizens write them on the portal: about a real problem of their records (or
none), in varied words, often without diacritics or in texting style, with
their own details typed loosely (typos, blank or placeholder ID numbers,
phones in nine formats).  It shares no table with the message reader
(:mod:`vaxlib.complaints.understand`): spellings, ordinals and phrasings are
written here independently, so the benchmark measures the reader, not an echo.

Kinds (``truth_feedback.kind``) and whether the data can close them
(``truth_feedback.closable``: ``if_verified`` = once every record concerned
and every record of the person is verified to its true person; ``never`` =
the data cannot answer it, a person must):

=========================  =============================  =============
kind                       what the citizen says           closable
=========================  =============================  =============
missing_dose_mistyped      dose N missing (it was typed    if_verified
                           so wrongly it did not link)
missing_dose_not_uploaded  dose N missing (never uploaded)  never
booster_not_uploaded       the booster is missing           never
dose_count_mistyped        "had 3 doses, app shows 2"       if_verified
already_present            dose N missing, but it is there  if_verified
wrong_name                 name wrong on the certificate    if_verified
wrong_dob                  date of birth wrong              if_verified
no_certificate             cannot get the certificate       if_verified
not_my_dose                someone else's dose on my ID     if_verified
child_by_parent            a parent writes for a child      if_verified
duplicate_dose             a dose shown twice               never
wrong_vaccine              the wrong product recorded       never
outsider                   person not in the register       never
outsider_namesake          not in the register, same name   never
                           and dob as a register person
vague                      "my information is wrong"        never
question                   vaccine passport, schedule, ...  never
account                    locked VNeID account, OTP        never
=========================  =============================  =============

Plus re-submissions: a complaint sent again days later (``resubmission_of``
names the first), with the first one's truth.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from vaxlib.vn.text import fold_diacritics, nfc

__all__ = ["KINDS", "CLOSABLE", "DEFAULT_KIND_WEIGHTS", "generate_complaints", "TRUTH_EXTRA"]

#: kind -> (true category, closable)
KINDS: dict[str, tuple[str, str]] = {
    "missing_dose_mistyped": ("missing_dose", "if_verified"),
    "missing_dose_not_uploaded": ("missing_dose", "never"),
    "booster_not_uploaded": ("missing_dose", "never"),
    "dose_count_mistyped": ("missing_dose", "if_verified"),
    "already_present": ("missing_dose", "if_verified"),
    "wrong_name": ("wrong_personal_info", "if_verified"),
    "wrong_dob": ("wrong_personal_info", "if_verified"),
    "no_certificate": ("wrong_personal_info", "if_verified"),
    "not_my_dose": ("wrong_personal_info", "if_verified"),
    "child_by_parent": ("wrong_personal_info", "if_verified"),
    "duplicate_dose": ("duplicate_record", "never"),
    "wrong_vaccine": ("wrong_vaccine", "never"),
    "outsider": ("missing_dose", "never"),
    "outsider_namesake": ("missing_dose", "never"),
    "vague": ("other", "never"),
    "question": ("other", "never"),
    "account": ("other", "never"),
}
CLOSABLE = {k: c for k, (_, c) in KINDS.items()}
DEFAULT_KIND_WEIGHTS: dict[str, float] = {
    "missing_dose_mistyped": 14, "missing_dose_not_uploaded": 8, "booster_not_uploaded": 4,
    "dose_count_mistyped": 5, "already_present": 6, "wrong_name": 9, "wrong_dob": 7, "no_certificate": 7,
    "not_my_dose": 3, "child_by_parent": 5, "duplicate_dose": 4, "wrong_vaccine": 4, "outsider": 4,
    "outsider_namesake": 3, "vague": 4, "question": 5, "account": 4,
}
#: truth columns beyond the contract's first five
TRUTH_EXTRA = ["kind", "closable", "subject", "resubmission_of"]

# ---------------------------------------------------------------- words, written independently of the reader
_ORDINAL_WORD = {1: ("nhất", "một", "đầu", "đầu tiên"), 2: ("hai",), 3: ("ba",), 4: ("tư", "bốn"),
                 5: ("năm",), 6: ("sáu",), 7: ("bảy",)}
_SPELLINGS = {
    "AstraZeneca": ("AstraZeneca", "Astra", "AZ", "Astra Zeneca", "Astrazenica", "astra zenneca", "Asta"),
    "Pfizer": ("Pfizer", "pfizer", "Phizer", "Pfizer BioNTech", "Pfize", "Pfizzer"),
    "Moderna": ("Moderna", "Modena", "moderna", "Mordena", "Modena"),
    "Vero Cell": ("Vero Cell", "Vero", "Verocell", "Sinopharm", "vero cell", "Sinopham"),
    "Sputnik V": ("Sputnik V", "Sputnik", "Sputnik"),
    "Abdala": ("Abdala", "Abdala", "Adbala"),
    "Hayat-Vax": ("Hayat-Vax", "Hayat Vax", "Hayat"),
}
_FIELD_WORDS = {
    "name": ("họ tên", "tên", "họ và tên", "tên của tôi"),
    "dob": ("ngày sinh", "ngày tháng năm sinh", "năm sinh"),
    "id": ("số CCCD", "số căn cước", "số CMND", "số định danh"),
}
_CHILD = ("con tôi", "con trai tôi", "con gái tôi", "bé nhà tôi", "cháu", "con em")

_TEMPLATES: dict[str, tuple[str, ...]] = {
    "missing_dose": (
        "Tôi đã tiêm {dose} vắc xin {vaccine} ngày {date} nhưng trên PC-Covid chưa có thông tin {dose_short}.",
        "Sổ sức khỏe điện tử của tôi bị thiếu {dose} (tiêm ngày {date}). Đề nghị bổ sung giúp.",
        "Em tiêm {dose} {vaccine} rồi mà app VNeID vẫn chưa cập nhật, nhờ kiểm tra giúp em.",
        "{Dose} ngày {date} tại {facility} chưa được cập nhật lên hệ thống.",
        "Chưa thấy {dose} trên ứng dụng, tôi tiêm từ {date}.",
        "Tại sao {dose} của tôi không hiển thị? Tiêm {vaccine} ngày {date}.",
    ),
    "booster": (
        "Tôi đã tiêm {booster} ngày {date} nhưng chưa được cập nhật trên PC-Covid.",
        "{Booster} ({vaccine}) của tôi chưa có trên sổ sức khỏe điện tử, nhờ bổ sung.",
        "Đã đi tiêm {booster} mà app không hiện, kiểm tra giúp.",
    ),
    "count": (
        "Tôi đã tiêm đủ {total} mũi nhưng hệ thống chỉ hiển thị {shown} mũi.",
        "Tiêm {total} mũi rồi mà trên app chỉ có {shown} mũi, thiếu mũi tiêm ngày {date}.",
        "Đã tiêm đủ {total} liều nhưng chứng nhận ghi có {shown}.",
    ),
    "wrong_field": (
        "Thông tin {field} trên chứng nhận tiêm chủng của tôi bị sai so với căn cước công dân. Đề nghị sửa lại.",
        "{Dose} ngày {date} ghi sai {field}, tôi không tải được chứng nhận tiêm chủng.",
        "Cơ sở tiêm nhập sai {field} của tôi, nhờ hỗ trợ điều chỉnh thông tin.",
        "Sai {field} trên thẻ xanh Covid, mong được sửa giúp.",
    ),
    "no_certificate": (
        "Tôi đã tiêm {total} mũi nhưng không có chứng nhận tiêm chủng trên VNeID.",
        "Không tải được chứng nhận tiêm, app báo không tìm thấy thông tin tiêm chủng.",
        "Thẻ xanh Covid của tôi không hiện, tôi đã tiêm đủ {total} mũi.",
    ),
    "not_mine": (
        "Trên hồ sơ của tôi có {dose} ngày {date} tại {facility}, nhưng tôi không hề tiêm mũi này.",
        "Có một mũi tiêm ngày {date} không phải của tôi nhưng lại gắn với số CCCD của tôi.",
        "Hệ thống ghi nhận tôi tiêm ngày {date} ở {facility}, thực tế hôm đó tôi không đi tiêm.",
    ),
    "child": (
        "{Child} tên {child_name} sinh ngày {child_dob} tiêm {dose} ngày {date} nhưng bị nhập số CCCD của tôi, "
        "nên chưa có trên hồ sơ của cháu.",
        "Tôi phản ánh giúp {child}: {child_name}, {dose} ({vaccine}) chưa cập nhật vì cơ sở tiêm ghi số định danh của bố mẹ.",
        "{Child} {child_name} ({child_dob}) chưa có thông tin mũi tiêm ngày {date}, nhờ kiểm tra.",
    ),
    "duplicate": (
        "Mũi tiêm ngày {date} bị ghi hai lần trên hệ thống, đề nghị xóa bản ghi trùng.",
        "App hiển thị {dose} hai lần cùng ngày {date}, nhờ kiểm tra lại.",
        "Bị trùng mũi tiêm ngày {date}, giờ app tính tôi tiêm {shown_plus} mũi.",
    ),
    "wrong_vaccine": (
        "{Dose} ngày {date} tôi tiêm vắc xin {true_vaccine} nhưng hệ thống ghi là {vaccine}.",
        "Loại vắc xin {dose} bị ghi nhầm thành {vaccine}, thực tế tôi tiêm {true_vaccine}.",
        "{Dose} không phải {vaccine} mà là {true_vaccine}, đề nghị sửa.",
        "Sai loại vắc xin ở {dose}: tôi tiêm {true_vaccine}, không phải {vaccine}.",
    ),
    "vague": (
        "Thông tin tiêm chủng của tôi bị sai, đề nghị kiểm tra lại.",
        "Dữ liệu tiêm của tôi có vấn đề, mong được hỗ trợ.",
        "Nhờ cán bộ xem lại hồ sơ tiêm giúp tôi.",
        "Thông tin trên app không đúng.",
    ),
    "question": (
        "Tôi muốn hỏi thủ tục cấp hộ chiếu vắc xin để đi nước ngoài.",
        "Làm thế nào để xin hộ chiếu vaccine? Tôi cần đi công tác.",
        "Xin hỏi khi nào địa phương tổ chức tiêm mũi nhắc lại?",
        "Cho hỏi trẻ 5 tuổi đăng ký tiêm ở đâu?",
        "Làm sao để đổi số điện thoại đăng ký trên ứng dụng PC-Covid?",
    ),
    "account": (
        "Tài khoản VNeID của tôi bị khóa, không đăng nhập được.",
        "Tôi không nhận được mã OTP khi đăng nhập Sổ sức khỏe điện tử.",
        "Quên mật khẩu VNeID, nhờ hỗ trợ mở khóa tài khoản.",
        "App VNeID báo tài khoản bị khoá tạm thời.",
    ),
}
_RESUBMIT = ("Tôi đã phản ánh từ hôm {date} mà chưa được giải quyết. ", "Gửi lại lần 2: ",
             "Phản ánh lần nữa vì chưa thấy xử lý. ", "")
_TEXTING = (("không", "ko"), ("được", "dc"), ("chưa", "chua"), ("mũi", "m"), ("của", "cua"), ("rồi", "r"),
            ("tôi", "e"), ("Tôi", "E"), ("với", "vs"), ("thông tin", "tt"), ("giúp", "jup"), ("gì", "j"),
            ("vắc xin", "vx"), ("nhưng", "nhg"), ("ngày", "ng"))


# ---------------------------------------------------------------- text pieces
def _dose_text(rng: np.random.Generator, n: int) -> str:
    forms = [f"mũi {n}", f"mũi thứ {n}", f"liều {n}", f"M{n}", f"mũi số {n}", f"lần tiêm thứ {n}"]
    words = _ORDINAL_WORD.get(n, ())
    forms += [f"mũi thứ {w}" for w in words if w not in ("một", "đầu", "đầu tiên")]
    forms += [f"mũi {w}" for w in words if w not in ("nhất", "tư")]
    return forms[int(rng.integers(len(forms)))]


def _booster_text(rng: np.random.Generator) -> str:
    return ("mũi nhắc lại", "mũi tăng cường", "mũi nhắc", "mũi booster")[int(rng.integers(4))]


def _date_text(rng: np.random.Generator, iso: str) -> str:
    y, m, d = int(iso[:4]), int(iso[5:7]), int(iso[8:10])
    forms = (f"{d:02d}/{m:02d}/{y}", f"{d}/{m}/{y}", f"{d:02d}-{m:02d}-{y}", f"{d:02d}.{m:02d}.{y}",
             f"{d} tháng {m} năm {y}", f"{d}/{m}", f"{d:02d}/{m:02d}/{y % 100:02d}", iso)
    return forms[int(rng.choice(len(forms), p=[.3, .2, .08, .06, .12, .12, .06, .06]))]


def _spell(rng: np.random.Generator, display: str) -> str:
    opts = _SPELLINGS.get(display, (display,))
    return opts[int(rng.integers(len(opts)))]


def _style(rng: np.random.Generator, text: str, no_diacritics: float, texting: float) -> str:
    u = rng.random()
    if u < texting:
        for a, b in _TEXTING:
            if rng.random() < 0.7:
                text = text.replace(a, b)
        text = text.lower() if rng.random() < 0.5 else text
        return fold_diacritics(text) if rng.random() < 0.6 else text
    if u < texting + no_diacritics:
        return fold_diacritics(text)
    return text


def _typo_name(rng: np.random.Generator, name: str) -> str:
    parts = name.split()
    u = rng.random()
    if u < 0.4 and len(parts) > 1:  # one syllable without its marks
        i = int(rng.integers(len(parts)))
        parts[i] = fold_diacritics(parts[i])
        return " ".join(parts)
    if u < 0.6:
        return name.upper()
    if u < 0.8:
        return fold_diacritics(name).lower()
    i = int(rng.integers(1, max(2, len(name) - 1)))
    return name[:i] + name[i + 1:] if name[i:i + 1].isalpha() else name


def _dob_text(rng: np.random.Generator, iso: str, typo: bool) -> str:
    if len(iso) < 10:
        return iso if len(iso) == 4 else f"{iso[5:7]}/{iso[:4]}"
    y, m, d = int(iso[:4]), int(iso[5:7]), int(iso[8:10])
    if typo and d <= 28:
        d = d + 1 if d < 28 else d - 1
    forms = (f"{d:02d}/{m:02d}/{y}", f"{d}/{m}/{y}", f"{y}-{m:02d}-{d:02d}", f"{d:02d}-{m:02d}-{y}",
             f"{d:02d}{m:02d}{y}", f"{d:02d}.{m:02d}.{y}")
    return forms[int(rng.choice(len(forms), p=[.5, .2, .1, .08, .06, .06]))]


def _phone_text(rng: np.random.Generator, phone: str | None) -> str | None:
    """Nine ways citizens type a mobile number (0912345678)."""
    if not phone or len(phone) != 10:
        return phone
    p = phone
    forms = (p, f"{p[:4]} {p[4:7]} {p[7:]}", f"{p[:4]}.{p[4:7]}.{p[7:]}", "+84" + p[1:], "84" + p[1:],
             f"+84 {p[1:4]} {p[4:7]} {p[7:]}", p[1:], f"({p[:3]}) {p[3:]}", f"{p[:4]}-{p[4:7]}-{p[7:]}")
    return forms[int(rng.integers(len(forms)))]


def _id_text(rng: np.random.Generator, pid: str | None, old: str | None, blank: float) -> str | None:
    u = rng.random()
    if u < blank or not pid:
        return None
    u = (u - blank) / (1 - blank)
    if u < 0.04:
        return ("0", "000000000000", "không có", "123456789")[int(rng.integers(4))]
    if u < 0.08 and old:
        return old
    if u < 0.11 and pid.isdigit():  # one digit wrong
        i = int(rng.integers(len(pid)))
        return pid[:i] + str((int(pid[i]) + 1) % 10) + pid[i + 1:]
    if u < 0.16:
        return f"{pid[:3]} {pid[3:6]} {pid[6:9]} {pid[9:]}" if len(pid) == 12 else pid
    return pid


def _timestamp(rng: np.random.Generator, day: np.datetime64, forms: Mapping[str, float]) -> str:
    secs = int(rng.integers(6 * 3600, 23 * 3600))
    hh, mm, ss = secs // 3600, secs % 3600 // 60, secs % 60
    iso = str(day)
    y, m, d = iso[:4], iso[5:7], iso[8:10]
    text = {
        "iso_zone": f"{iso}T{hh:02d}:{mm:02d}:{ss:02d}+07:00",
        "iso_utc": str((np.datetime64(f"{iso}T{hh:02d}:{mm:02d}:{ss:02d}") - np.timedelta64(7, "h"))) + "Z",
        "iso_local": f"{iso} {hh:02d}:{mm:02d}:{ss:02d}",
        "date_only": iso,
        "dmy": f"{d}/{m}/{y}",
        "dmy_time": f"{d}/{m}/{y} {hh:02d}:{mm:02d}",
    }
    keys = list(forms)
    w = np.array([float(forms[k]) for k in keys])
    return text[keys[int(rng.choice(len(keys), p=w / w.sum()))]]


# ---------------------------------------------------------------- selection
def _pick(rng: np.random.Generator, pool: np.ndarray, k: int, used: set) -> list:
    pool = np.array([x for x in pool if x not in used], dtype=object)
    if k <= 0 or not len(pool):
        return []
    return list(rng.choice(pool, min(k, len(pool)), replace=False))


def generate_complaints(tables: Mapping[str, pd.DataFrame], rng: np.random.Generator,
                        settings: Mapping[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Complaints about the generated records, and their truth.

    Parameters
    ----------
    tables
        ``registry``, ``vaccinations``, ``truth_vaccinations`` (with
        ``true_vaccine`` and ``duplicate_of``) and ``truth_persons`` of
        :func:`vaxlib.synth.generate`.
    rng
        The feedback stream.
    settings
        The profile's ``feedback`` section: ``complaints_per_person``,
        ``kind_weights``, ``category_as_problem``, ``blank_id``,
        ``no_diacritics``, ``texting``, ``resubmission``, ``timestamp_forms``.

    Returns
    -------
    feedback, truth
        Contract feedback table; truth with ``feedback_id, human_id,
        person_id, problem, record_ids`` and :data:`TRUTH_EXTRA`.
    """
    from vaxlib.schema import FEEDBACK_CATEGORIES, TRUTH_FEEDBACK, columns
    from vaxlib.vaccines import normalise_vaccine

    v = tables["vaccinations"]
    tv = tables["truth_vaccinations"]
    tp = tables["truth_persons"].set_index("human_id", drop=False)
    rec = pd.DataFrame({
        "record_id": v["record_id"].astype(object).to_numpy(), "id_typed": v["id_number"].astype(object).to_numpy(),
        "dose": pd.to_numeric(v["dose_number"], errors="coerce").fillna(0).astype(int).to_numpy(),
        "date": v["vaccination_date"].astype(object).to_numpy(), "facility": v["facility_id"].astype(object).to_numpy(),
        "vaccine": v["vaccine"].astype(object).to_numpy(),
        "human": tv["human_id"].astype(object).to_numpy(), "codes": tv["error_codes"].fillna("").astype(str).to_numpy(),
        "true_vaccine": tv["true_vaccine"].astype(object).to_numpy(),
        "dup_of": tv["duplicate_of"].astype(object).to_numpy(),
    })
    rec["in_reg"] = rec["human"].map(tp["in_registry"]).fillna(False).astype(bool).to_numpy()
    positions = rec.groupby("human", sort=False).indices

    class _ByHuman(dict):
        def __missing__(self, h: str) -> pd.DataFrame:
            self[h] = rec.iloc[positions[h]]
            return self[h]

        def __contains__(self, h: object) -> bool:
            return h in positions

    by_h = _ByHuman()
    product = {t: normalise_vaccine(t) for t in pd.unique(pd.concat([rec["vaccine"], rec["true_vaccine"]]))}
    wrongv = rec["vaccine"].map(product) != rec["true_vaccine"].map(product)
    owner_of_id = dict(zip(tp["id_number"].astype(str), tp["human_id"]))
    codes = rec["codes"]
    unusable = codes.str.contains("id:missing|id:malformed|id:unknown|id:other_person|id:passport")
    n_fields = sum(codes.str.contains(f + ":").astype(int) for f in ("id", "name", "dob", "sex"))
    cosmetic = codes.isin(["", "name:unicode_form", "dob:format", "name:unicode_form;dob:format"])
    n_reg = int(tp["in_registry"].sum())
    total = int(round(float(settings.get("complaints_per_person", 0.01)) * n_reg))
    weights = {**DEFAULT_KIND_WEIGHTS, **(settings.get("kind_weights") or {})}
    wsum = sum(weights.values())
    want = {k: int(round(total * w / wsum)) for k, w in weights.items()}

    reg_rec = rec[rec["in_reg"]]
    bad = (rec["codes"] != "") | rec["dup_of"].notna() | wrongv
    per_h = pd.DataFrame({"human": rec["human"], "bad": bad, "in_reg": rec["in_reg"], "dose": rec["dose"]}) \
        .groupby("human", sort=True).agg(bad=("bad", "any"), in_reg=("in_reg", "first"), max_dose=("dose", "max"))
    clean_h = set(per_h.index[per_h["in_reg"] & ~per_h["bad"]])
    used: set = set()  # one complaint per person (before re-submissions)
    out: list[dict] = []

    def add(kind: str, human: str, records: list[str], msg: str, earliest: str, complainant: str | None = None,
            extra: dict | None = None) -> None:
        used.add(human)
        if complainant:
            used.add(complainant)
        out.append({"kind": kind, "human": human, "complainant": complainant or human, "records": records,
                    "message": msg, "earliest": earliest, **(extra or {})})

    def fmt(tmpl: str, **kw: Any) -> str:
        kw.setdefault("facility", "cơ sở tiêm")
        for key in ("dose", "booster", "child"):
            if key in kw:
                kw[key.capitalize()] = kw[key][:1].upper() + kw[key][1:]
        kw.setdefault("dose_short", "mũi này")
        return tmpl.format(**kw)

    def choose(key: str) -> str:
        t = _TEMPLATES[key]
        return t[int(rng.integers(len(t)))]

    # a dose typed so wrongly it did not link
    for r in _pick(rng, reg_rec.index[(unusable | (n_fields >= 2))[reg_rec.index]].to_numpy(),
                   want["missing_dose_mistyped"], set()):
        row = rec.loc[r]
        if row["human"] in used:
            continue
        add("missing_dose_mistyped", row["human"], [row["record_id"]],
            fmt(choose("missing_dose"), dose=_dose_text(rng, int(row["dose"])), vaccine=_spell(rng, row["true_vaccine"]),
                date=_date_text(rng, row["date"]), facility=row["facility"]), row["date"])
    for r in _pick(rng, reg_rec.index[(unusable | (n_fields >= 2))[reg_rec.index]].to_numpy(),
                   want["dose_count_mistyped"], set()):
        row = rec.loc[r]
        g = by_h[row["human"]]
        if row["human"] in used or len(g) < 2:
            continue
        add("dose_count_mistyped", row["human"], [row["record_id"]],
            fmt(choose("count"), total=len(g), shown=len(g) - 1, date=_date_text(rng, row["date"])), row["date"])
    # never uploaded: a dose after the last one in the data
    humans_reg = per_h.index[per_h["in_reg"]].to_numpy(dtype=object)
    for hmn in _pick(rng, humans_reg, want["missing_dose_not_uploaded"], used):
        g = by_h[hmn]
        n = int(g["dose"].max()) + 1
        last = str(g["date"].max())
        day = str(np.datetime64(last) + int(rng.integers(30, 120)))
        if day > "2022-04-25":
            continue
        add("missing_dose_not_uploaded", hmn, [],
            fmt(choose("missing_dose"), dose=_dose_text(rng, n), vaccine=_spell(rng, g["true_vaccine"].iloc[-1]),
                date=_date_text(rng, day)), day)
    two = per_h.index[per_h["in_reg"] & per_h["max_dose"].eq(2)].to_numpy(dtype=object)
    for hmn in _pick(rng, two, want["booster_not_uploaded"], used):
        g = by_h[hmn]
        day = str(np.datetime64(str(g["date"].max())) + int(rng.integers(90, 150)))
        if day > "2022-04-25":
            continue
        add("booster_not_uploaded", hmn, [],
            fmt(choose("booster"), booster=_booster_text(rng), vaccine=_spell(rng, "Pfizer"),
                date=_date_text(rng, day)), day)
    # the dose is there and always was
    for hmn in _pick(rng, np.array(sorted(clean_h), dtype=object), want["already_present"], used):
        g = by_h[hmn]
        row = g.iloc[int(rng.integers(len(g)))]
        add("already_present", hmn, [row["record_id"]],
            fmt(choose("missing_dose"), dose=_dose_text(rng, int(row["dose"])), vaccine=_spell(rng, row["true_vaccine"]),
                date=_date_text(rng, row["date"])), row["date"])
    # wrong personal details
    for kind, pat, word in (("wrong_name", r"name:(?!unicode_form)", "name"), ("wrong_dob", r"dob:(?!format)", "dob")):
        mask = codes.str.contains(pat) & ~unusable & rec["in_reg"]
        for r in _pick(rng, rec.index[mask].to_numpy(), want[kind], set()):
            row = rec.loc[r]
            if row["human"] in used:
                continue
            g = by_h[row["human"]]
            concerned = list(g.loc[g["codes"].str.contains(pat), "record_id"])
            fw = _FIELD_WORDS[word]
            add(kind, row["human"], concerned,
                fmt(choose("wrong_field"), field=fw[int(rng.integers(len(fw)))], dose=_dose_text(rng, int(row["dose"])),
                    date=_date_text(rng, row["date"])), row["date"])
    for r in _pick(rng, rec.index[~cosmetic & rec["in_reg"]].to_numpy(), want["no_certificate"], set()):
        row = rec.loc[r]
        if row["human"] in used:
            continue
        g = by_h[row["human"]]
        add("no_certificate", row["human"], list(g.loc[~g["codes"].isin(["", "name:unicode_form", "dob:format"]),
                                                         "record_id"]),
            fmt(choose("no_certificate"), total=len(g)), row["date"])
    # another person's number on a dose record: the owner complains, or a parent writes for a child
    other = np.array(rec.index[codes.str.contains("id:other_person") & rec["in_reg"]])  # writable: permuted below
    nd_ = 0
    ch_ = 0
    for r in rng.permutation(other):
        row = rec.loc[r]
        digits = "".join(c for c in str(row["id_typed"]) if c.isdigit())
        owner = owner_of_id.get(digits)
        if owner is None or owner == row["human"] or owner in used or row["human"] in used:
            continue
        child_parent = tp.at[row["human"], "parent_human_id"]
        if isinstance(child_parent, str) and child_parent == owner:
            if ch_ >= want["child_by_parent"]:
                continue
            ch_ += 1
            g = by_h[row["human"]]
            concerned = list(g.loc[g["codes"].str.contains("id:other_person"), "record_id"])
            child = tp.loc[row["human"]]
            add("child_by_parent", row["human"], concerned,
                fmt(choose("child"), child=_CHILD[int(rng.integers(len(_CHILD)))], child_name=child["full_name"],
                    child_dob=_dob_text(rng, str(child["dob"]), False), dose=_dose_text(rng, int(row["dose"])),
                    vaccine=_spell(rng, row["true_vaccine"]), date=_date_text(rng, row["date"])),
                row["date"], complainant=owner)
        else:
            if nd_ >= want["not_my_dose"] or not tp.at[owner, "in_registry"]:
                continue
            nd_ += 1
            add("not_my_dose", owner, [row["record_id"]],
                fmt(choose("not_mine"), dose=_dose_text(rng, int(row["dose"])), date=_date_text(rng, row["date"]),
                    facility=row["facility"]), row["date"])
    # a dose entered twice; the wrong product
    for r in _pick(rng, rec.index[rec["dup_of"].notna() & rec["in_reg"]].to_numpy(), want["duplicate_dose"], set()):
        row = rec.loc[r]
        if row["human"] in used:
            continue
        add("duplicate_dose", row["human"], [row["dup_of"], row["record_id"]],
            fmt(choose("duplicate"), dose=_dose_text(rng, int(row["dose"])), date=_date_text(rng, row["date"]),
                shown_plus=len(by_h[row["human"]])), row["date"])
    for r in _pick(rng, rec.index[wrongv & rec["in_reg"]].to_numpy(), want["wrong_vaccine"], set()):
        row = rec.loc[r]
        if row["human"] in used:
            continue
        add("wrong_vaccine", row["human"], [row["record_id"]],
            fmt(choose("wrong_vaccine"), dose=_dose_text(rng, int(row["dose"])), date=_date_text(rng, row["date"]),
                vaccine=_spell(rng, str(row["vaccine"])) if str(row["vaccine"]) in _SPELLINGS else row["vaccine"],
                true_vaccine=_spell(rng, row["true_vaccine"])), row["date"])
    # people outside the register (with dose records), some sharing name and dob with a register person
    outside = tp[~tp["in_registry"].astype(bool) & tp["human_id"].isin(list(positions))]
    namesake = outside["namesake_kind"].fillna("").eq("not_in_register") | outside["namesake_of"].notna()
    for kind, pool in (("outsider_namesake", outside.index[namesake]), ("outsider", outside.index[~namesake])):
        for hmn in _pick(rng, pool.to_numpy(), want[kind], used):
            g = by_h[hmn]
            row = g.iloc[-1]
            add(kind, hmn, list(g["record_id"]),
                fmt(choose("missing_dose"),
                    dose=_dose_text(rng, int(row["dose"])), vaccine=_spell(rng, row["true_vaccine"]),
                    date=_date_text(rng, row["date"]), total=len(g)), row["date"])
    # no data question
    for kind, key in (("vague", "vague"), ("question", "question"), ("account", "account")):
        for hmn in _pick(rng, humans_reg, want[kind], used):
            add(kind, hmn, [], choose(key), "2022-03-01")

    if not out:
        return (pd.DataFrame({c: pd.Series(dtype="str") for c in columns("feedback")}),
                pd.DataFrame({c: pd.Series(dtype="str") for c in TRUTH_FEEDBACK}))
    out = [out[i] for i in rng.permutation(len(out))]
    # submission day: after the dose concerned, 1/3-30/4/2022
    for o in out:
        earliest = max(np.datetime64(str(o["earliest"])[:10]) + 1, np.datetime64("2022-03-01"))
        span = max(1, int((np.datetime64("2022-04-30") - earliest).astype(int)) + 1)
        o["day"] = min(earliest + int(rng.integers(span)), np.datetime64("2022-04-30"))
    # re-submissions: the same complaint again, a few days later
    n_re = int(round(float(settings.get("resubmission", 0.04)) * len(out)))
    for i in rng.choice(len(out), min(n_re, len(out)), replace=False):
        first = out[int(i)]
        day = first["day"] + int(rng.integers(2, 8))
        if day > np.datetime64("2022-04-30"):
            continue
        lead = _RESUBMIT[int(rng.integers(len(_RESUBMIT)))].format(date=_date_text(rng, str(first["day"])))
        out.append({**first, "message": lead + first["message"], "day": day, "resubmission_of": int(i)})

    n = len(out)
    fb_ids = [f"PA{i:07d}" for i in range(1, n + 1)]
    forms = settings.get("timestamp_forms") or {"iso_zone": 1.0}
    blank = float(settings.get("blank_id", 0.15))
    nodia, texting = float(settings.get("no_diacritics", 0.12)), float(settings.get("texting", 0.08))
    as_problem = float(settings.get("category_as_problem", 0.85))
    f_rows, t_rows = [], []
    for i, o in enumerate(out):
        c = tp.loc[o["complainant"]]
        subj = tp.loc[o["human"]]
        problem, closable = KINDS[o["kind"]]
        typo = rng.random() < 0.15
        name = _typo_name(rng, str(c["full_name"])) if typo and rng.random() < 0.5 else str(c["full_name"])
        if rng.random() < nodia:
            name = fold_diacritics(name)
        phone = _phone_text(rng, c["phone"] if isinstance(c["phone"], str) else None)
        if rng.random() < 0.08:
            phone = None
        cat = problem if rng.random() < as_problem else FEEDBACK_CATEGORIES[int(rng.integers(len(FEEDBACK_CATEGORIES)))]
        f_rows.append({
            "feedback_id": fb_ids[i], "submitted_at": _timestamp(rng, o["day"], forms),
            "full_name": nfc(name), "dob": _dob_text(rng, str(c["dob"]), typo and rng.random() < 0.4),
            "sex": ("Nữ" if c["sex"] == "F" else "Nam") if rng.random() < 0.9 else None,
            "id_number": _id_text(rng, c["id_number"] if c["in_registry"] or rng.random() < 0.7 else None,
                                  c["old_id"] if isinstance(c["old_id"], str) else None, blank),
            "phone": phone, "category": cat, "message": nfc(_style(rng, o["message"], nodia, texting)),
        })
        re_of = o.get("resubmission_of")
        t_rows.append({
            "feedback_id": fb_ids[i], "human_id": o["human"],
            "person_id": subj["person_id"] if bool(subj["in_registry"]) else None,
            "problem": problem, "record_ids": ";".join(o["records"]) or None, "kind": o["kind"],
            "closable": closable, "subject": "child" if o["complainant"] != o["human"] else "self",
            "resubmission_of": fb_ids[int(re_of)] if re_of is not None else None,
        })
    feedback = pd.DataFrame(f_rows, columns=columns("feedback")).astype(object)
    truth = pd.DataFrame(t_rows, columns=TRUTH_FEEDBACK).astype(object)
    return feedback, truth
