"""Vietnamese name lists used by the synthetic population (:mod:`vaxlib.synth`).

Family names
    The fourteen commonest family names with their shares of the population
    come from Lê Trung Hoa, *Họ và tên người Việt Nam* (NXB Khoa học Xã hội,
    2005), the figures reproduced in Wikipedia's "Vietnamese name" article
    (Nguyễn 38.4 %, Trần 12.1 %, Lê 9.5 %, Phạm 7.0 %, Hoàng/Huỳnh 5.1 %,
    Phan 4.5 %, Vũ/Võ 3.9 %, Đặng 2.1 %, Bùi 2.0 %, Đỗ 1.4 %, Hồ 1.3 %,
    Ngô 1.3 %, Dương 1.0 %, Lý 0.5 %).  The remaining 9.9 % are spread over
    the other family names listed in the same sources (Đào, Đoàn, Trịnh,
    Trương, ...) with weights falling off by rank; the split among them is
    our assumption, not a measured figure.

Hoàng / Huỳnh and Vũ / Võ
    The same family names written differently north and south: in Đàng Trong
    (the southern realm of the Nguyễn lords) "Hoàng" was avoided as the
    personal name of Lord Nguyễn Hoàng and "Vũ" as that of Lord Nguyễn Phúc
    Khoát (Võ Vương), a naming taboo (kiêng húy) still visible in the
    distribution of the two spellings (Lê Trung Hoa 2005, ch. 2).
    :data:`SOUTH_SPELLING_SHARE` gives the share of the southern spelling by
    region of birth; the figures are our assumption.

Middle and given names
    Lists and cohort tilts are drawn from the common names in the same book and
    from the analysis of names of Vietnamese pupils and students by birth
    decade in Phạm Tất Thắng, "Về tên người Việt" (Ngôn ngữ & Đời sống, 2013)
    and public lists of the most frequent names (e.g. the 2022 Zing/VnExpress
    round-ups of names in exam registrations).  Weights are relative and
    approximate; what matters for the generator is that common names
    (Hùng, Dũng, Lan, Hương, Anh, Linh ...) collide realistically and that the
    mix moves with the birth cohort (Thị falls, Văn falls, Anh/Minh/Ngọc rise).

Names with an open ``oa``/``oe``/``uy`` tone syllable (Hòa, Thủy, Thúy, Khỏe,
Hòe, Thụy, Thùy) are included so that the
``name:tone_placement`` error can be generated and tested.  Every string here
is NFC and written in the *old* tone style (hòa, thủy); the generator rewrites
a share of register names in the new style (hoà, thuỷ) since both are used.
"""
from __future__ import annotations

__all__ = [
    "FAMILY_NAMES",
    "SOUTH_SPELLING_SHARE",
    "MIDDLE_NAMES",
    "SECOND_MIDDLE_NAMES",
    "GIVEN_NAMES",
    "COHORTS",
    "cohort_of",
    "FOREIGN_FAMILY",
    "FOREIGN_GIVEN",
]

#: Birth cohorts used to tilt the middle- and given-name mixes: born before
#: 1965, 1965–1989, 1990 and later.
COHORTS = ("old", "mid", "young")


def cohort_of(birth_year: int) -> int:
    """Index into :data:`COHORTS` for a birth year."""
    return 0 if birth_year < 1965 else (1 if birth_year < 1990 else 2)


# Shares in percent. "Hoàng" and "Vũ" stand for the north/south pairs; the
# generator splits them by region (see SOUTH_SPELLING_SHARE).
_TOP_FAMILY: tuple[tuple[str, float], ...] = (
    ("Nguyễn", 38.4), ("Trần", 12.1), ("Lê", 9.5), ("Phạm", 7.0), ("Hoàng", 5.1),
    ("Phan", 4.5), ("Vũ", 3.9), ("Đặng", 2.1), ("Bùi", 2.0), ("Đỗ", 1.4),
    ("Hồ", 1.3), ("Ngô", 1.3), ("Dương", 1.0), ("Lý", 0.5),
)

# The rest, roughly by frequency (commonest first).
_OTHER_FAMILY = (
    "Đào", "Đoàn", "Trịnh", "Trương", "Đinh", "Lâm", "Mai", "Lương", "Hà", "Cao",
    "Tô", "Tạ", "Phùng", "Lưu", "Châu", "Thái", "Vương", "Lại", "Quách", "Tăng",
    "Từ", "Kiều", "Hứa", "Triệu", "Chu", "Nông", "Khổng", "Mạc", "Thân", "La",
    "Âu", "Đàm", "Tôn", "Giang", "Đồng", "Lục", "Kim", "Khúc", "Ông", "Quan",
    "Tống", "Vi", "Ninh", "Diệp", "Doãn", "Hàn", "Lã", "Phí", "Trình", "Nghiêm",
    "Đậu", "Thạch", "Danh", "Sơn", "Lò", "Hầu", "Ứng", "Văn", "Lam", "Viên",
)


def _family_table() -> tuple[tuple[str, float], ...]:
    rest = 100.0 - sum(s for _, s in _TOP_FAMILY)
    raw = [1.0 / (rank + 3) for rank in range(len(_OTHER_FAMILY))]
    scale = rest / sum(raw)
    return _TOP_FAMILY + tuple((n, round(w * scale, 4)) for n, w in zip(_OTHER_FAMILY, raw))


#: (family name, share in percent); sums to 100.
FAMILY_NAMES: tuple[tuple[str, float], ...] = _family_table()

#: Southern spelling for the north/south pairs and its share by birth region
#: ("north" = provinces up to Thừa Thiên Huế, "south" = Đà Nẵng and beyond).
SOUTH_SPELLING_SHARE: dict[str, tuple[str, dict[str, float]]] = {
    "Hoàng": ("Huỳnh", {"north": 0.03, "south": 0.85}),
    "Vũ": ("Võ", {"north": 0.05, "south": 0.80}),
}


def _parse(spec: str) -> tuple[tuple[str, tuple[float, float, float]], ...]:
    """``"Hùng 5 4 2, Lan 3 3 1"`` -> ((name, (old, mid, young)), ...)."""
    out = []
    for item in spec.replace("\n", " ").split(","):
        item = item.strip()
        if not item:
            continue
        *words, a, b, c = item.split()
        out.append((" ".join(words), (float(a), float(b), float(c))))
    return tuple(out)


#: First middle name by sex, weights per cohort (old, mid, young). "" = none.
MIDDLE_NAMES: dict[str, tuple[tuple[str, tuple[float, float, float]], ...]] = {
    "M": _parse("""
        Văn 60 42 18, Hữu 6 6 4, Đức 5 7 9, Minh 3 6 12, Quốc 2 4 6, Thanh 4 5 4,
        Công 4 4 3, Quang 3 4 5, Xuân 4 4 3, Đình 5 4 2, Ngọc 2 3 4, Hoàng 1 2 5,
        Gia 0.2 1 6, Anh 1 2 4, Trung 1 2 3, Bá 3 2 1, Tiến 1 2 2, Thành 1 2 3,
        Duy 0.5 2 4, Nhật 0.2 1 4, Đăng 0.5 1 3, Khánh 0.5 1 3, Tấn 3 3 2,
        Trọng 2 2 2, Mạnh 1 2 2, Viết 2 1 0.5, Thế 2 2 2, Kim 1 1 0.5,
        Phúc 0.5 1 2, Bảo 0.2 1 4, Thái 1 1 1, Chí 1 1 2, Hải 0.5 1 2,
         0.7 0.5 0.3
    """),
    "F": _parse("""
        Thị 85 65 35, Ngọc 3 6 10, Thanh 2 4 5, Thu 2 4 4, Minh 0.5 2 6,
        Phương 0.5 1 4, Thùy 0.5 2 5, Khánh 0.2 1 4, Bảo 0.1 1 5, Hồng 1 2 2,
        Kim 2 2 2, Mỹ 1 2 3, Thúy 1 2 2, Quỳnh 0.2 1 3, Hoài 0.3 1 2,
        Diệu 0.3 0.5 2, Hải 0.2 1 3, Tuyết 1 1 0.5, Bích 1 1 0.5, Lan 0.3 1 2,
        Cẩm 0.5 1 1, Xuân 1 1 1, Hoàng 0.2 0.5 2, Thủy 0.3 0.5 0.5, Hà 0.2 1 2,
         0.2 0.2 0.3
    """),
}

#: Optional second middle name (e.g. Nguyễn Thị **Thu** Hà), by sex.
SECOND_MIDDLE_NAMES: dict[str, tuple[tuple[str, tuple[float, float, float]], ...]] = {
    "M": _parse("""
        Minh 3 4 5, Quang 2 3 3, Thanh 2 2 2, Anh 1 2 4, Hoàng 1 2 3, Ngọc 2 2 2,
        Đức 2 2 2, Hữu 1 1 1, Gia 0.5 1 3, Nhật 0.3 1 3, Bảo 0.3 1 3, Xuân 1 1 1
    """),
    "F": _parse("""
        Thu 4 4 3, Thanh 3 3 3, Ngọc 3 4 4, Kim 3 2 1, Minh 1 2 3, Hồng 3 2 1,
        Mỹ 2 2 2, Phương 1 2 3, Thùy 1 2 3, Bích 2 2 1, Thúy 2 2 2, Diệu 0.5 1 2,
        Bảo 0.2 1 3, Khánh 0.2 1 3, Hoài 0.5 1 2, Tuyết 1 1 0.5, Cẩm 1 1 1,
        Xuân 1 1 1, Hải 0.5 1 2, Quỳnh 0.5 1 2, Thủy 0.5 0.5 0.5
    """),
}

#: Given names by sex, weights per cohort (old, mid, young).
GIVEN_NAMES: dict[str, tuple[tuple[str, tuple[float, float, float]], ...]] = {
    "M": _parse("""
        Hùng 6 6 3, Dũng 5 6 3, Tuấn 3 6 5, Minh 3 5 8, Hải 4 5 4, Nam 4 5 5,
        Long 3 4 4, Thắng 4 4 2, Cường 4 4 2, Sơn 4 4 2, Hiếu 1 3 5, Trung 4 4 3,
        Quang 3 3 3, Thành 5 4 3, Huy 1 3 7, Phong 2 3 4, Đức 3 3 4, Tùng 2 4 3,
        Tú 1 3 3, Vinh 3 3 2, Việt 2 3 3, Khoa 0.5 2 5, Hoàng 1 2 4, Kiên 1 3 3,
        Lâm 1 2 3, Hưng 3 3 3, Bình 5 4 2, Phúc 2 2 4, Quân 1 2 5, Toàn 3 3 2,
        Thịnh 2 3 3, Hòa 4 3 1, Thủy 1 0.3 0.1, Thụy 0.5 0.5 0.5, Khỏe 0.6 0.2 0.05,
        Bảo 0.5 1 5, An 1 2 5, Anh 2 4 8, Khánh 1 2 4, Đạt 1 3 6, Duy 1 2 4,
        Hiệp 2 3 2, Hậu 2 3 2, Lợi 3 3 1, Lực 2 2 1, Mạnh 2 3 3, Nghĩa 3 3 2,
        Nhân 2 2 3, Phát 1 2 4, Phú 3 3 2, Phương 3 2 1, Quý 3 2 1, Quyết 2 2 1,
        Sang 2 2 2, Tài 3 3 2, Tâm 3 3 3, Tân 3 2 1, Thái 2 2 2, Thanh 4 3 1,
        Thiện 1 2 3, Thuận 3 2 1, Tiến 3 3 3, Toản 1 1 0.5, Trí 1 2 3, Trọng 2 2 2,
        Trường 2 3 3, Tuyên 2 1 0.5, Vũ 1 2 4, Vương 1 1 2, Xuân 3 2 1, Chiến 3 3 1,
        Công 2 2 1, Cảnh 2 1 1, Chính 3 2 1, Dương 1 2 3, Đông 2 2 2, Giang 2 2 2,
        Hạnh 2 1 0.5, Hào 1 2 2, Hiển 2 2 1, Hoan 2 1 0.5, Hợp 2 1 0.5, Huấn 2 2 1,
        Khải 1 1 2, Khang 0.2 1 4, Khôi 0.2 1 4, Lân 2 1 1, Linh 1 1 2, Luân 1 2 2,
        Lương 2 2 1, Ngọc 2 2 1, Nguyên 1 2 3, Nhật 0.3 1 3,
        Ninh 2 2 1, Phi 1 1 2, Quế 2 1 0.3, Quốc 1 2 2, Sinh 2 1 1, Sỹ 2 1 0.5,
        Tấn 2 2 1, Thạch 1 1 0.5, Thiên 0.5 1 2, Thông 2 2 1, Thư 0.3 0.3 0.5,
        Tiệp 0.5 1 1, Tín 1 2 2, Tình 2 2 1, Trực 1 1 0.5, Tuệ 0.2 0.5 1,
        Tường 1 1 1, Văn 2 1 0.3, Vĩnh 1 1 1, Vỹ 0.5 1 2, Bằng 2 2 1, Cần 2 1 0.3,
        Chung 2 1 1, Dân 2 1 0.3, Diệu 1 0.5 0.3, Điệp 1 1 1, Định 2 2 1, Được 2 1 0.3,
        Hà 2 1 1, Hạ 1 0.5 0.3, Hội 2 1 0.3, Huân 1 1 1, Khiêm 1 1 1, Kỳ 1 1 1,
        Lạc 1 0.5 0.3, Lập 1 1 1, Lộc 2 2 3, Mão 1 0.3 0.1, Nhất 1 1 1, Phước 2 2 2,
        Quảng 1 1 0.3, Tạo 1 0.5 0.2, Thức 2 1 0.5, Tuân 2 1 0.5,
        Uy 0.5 0.5 0.5, Vận 1 0.5 0.2, Xuyên 0.5 0.5 0.3, Yên 1 0.5 0.3, Hòe 0.5 0.2 0.05,
        Thoại 1 1 0.5, Hoạt 1 0.5 0.2, Khoái 0.5 0.3 0.1, Hoạch 0.5 0.3 0.1, Đoàn 1 1 0.5
    """),
    "F": _parse("""
        Lan 6 5 2, Hương 5 6 3, Hoa 5 4 2, Hà 3 5 5, Linh 1 4 9, Anh 1 4 10,
        Trang 1 5 7, Thảo 1 4 6, Ngọc 2 4 5, Hằng 3 5 3, Nga 4 4 2, Mai 4 4 3,
        Phương 3 4 4, Hạnh 4 4 2, Huyền 2 4 5, Dung 4 4 2, Yến 3 4 3, Thủy 5 4 2,
        Thúy 4 4 2, Hòa 4 2 0.5, Hồng 5 3 1, Loan 4 3 1, Liên 4 2 1, Nhung 3 3 2,
        Oanh 3 3 2, Tuyết 4 2 1, Vân 3 3 3, Xuân 4 3 1, Cúc 4 1 0.2, Đào 3 1 0.3,
        Hiền 3 3 3, Hoài 2 2 2, Hường 3 2 1,
        Khánh 0.5 1 3, Lệ 3 2 1, Liễu 3 1 0.3, Lý 3 2 1, My 0.2 1 4, Ngân 1 2 4,
        Nguyệt 3 2 1, Nhi 0.3 1 5, Như 0.5 1 4, Phượng 3 3 1, Quyên 1 2 3,
        Quỳnh 1 3 5, Sen 3 1 0.3, Tâm 2 2 2, Thanh 3 3 2,
        Thơ 2 2 2, Thu 4 3 2, Thùy 1 2 3, Thư 0.5 1 5, Trâm 0.5 2 4, Trinh 2 3 3,
        Tú 1 2 2, Uyên 0.3 2 5, Vy 0.2 1 6, Yên 1 0.5 0.3, Ánh 2 2 3, Bích 3 2 1,
        Châu 2 2 3, Chi 1 2 5, Diệp 1 1 2, Diệu 1 1 2, Điệp 2 1 1, Duyên 2 3 4,
        Gấm 3 1 0.2, Giang 2 3 3, Hải 1 1 2, Hạ 1 1 2, Hân 0.2 1 4, Hậu 2 2 1,
        Hiên 1 1 1, Hiếu 1 1 1, Hoan 2 1 0.5, Huệ 4 3 1, Kiều 2 2 1, Kim 2 1 1,
        Lài 2 1 0.2, Lành 2 1 0.3, Lụa 2 1 0.3, Luyến 2 2 1,
        Mến 2 1 0.3, Minh 1 1 2, Mơ 2 1 0.3, Mỹ 2 2 2, Nương 2 1 0.3, Nhàn 3 2 1,
        Nhị 1 0.5 0.2, Ninh 1 1 1, Nở 2 0.5 0.1, Phúc 1 1 1, Phụng 2 1 0.5,
        Quế 2 1 0.5, Quyến 1 1 0.5, Sương 2 2 1, Tám 2 0.5 0.1, Thắm 3 2 1,
        Thêu 1 0.5 0.2, Thi 1 1 2, Thoa 3 3 1, Thoan 1 0.5 0.2, Thục 1 1 1,
        Thuận 2 2 1, Thương 2 2 2, Tiên 1 2 4, Tình 2 2 1, Toan 0.5 0.3 0.1,
        Trà 1 2 3, Tuyền 1 2 2, Tươi 2 2 1, Uyển 0.5 1 1, Vi 0.5 1 3, Việt 1 1 1,
        Xoan 2 1 0.3, Xuyến 2 2 1, Ý 0.5 1 2, Diễm 2 2 2,
        Đông 1 1 1, Hảo 2 2 1, Hòe 1 0.3 0.1, Khỏe 0.3 0.1 0.05,
        Thụy 0.5 0.5 1, Tuệ 0.2 0.5 2, Thoại 0.5 0.5 0.5, Ngoan 2 1 0.3, Hoán 0.3 0.2 0.1
    """),
}


#: Names for foreign residents vaccinated in Viet Nam (as in their passports,
#: upper case ASCII): Korean, Chinese, Japanese and Western names.
FOREIGN_FAMILY = (
    "KIM", "LEE", "PARK", "CHOI", "JUNG", "ZHANG", "WANG", "LI", "LIU", "CHEN",
    "TANAKA", "SATO", "SUZUKI", "SMITH", "JOHNSON", "BROWN", "MUELLER", "MARTIN",
    "GARCIA", "NGUYEN", "TRAN", "LIM", "TAN", "WONG",
)
FOREIGN_GIVEN = (
    "MIN JUN", "SEO YEON", "JI HOON", "HYUN WOO", "WEI", "FANG", "JING", "LEI",
    "HIROSHI", "YUKI", "KENJI", "JOHN", "MICHAEL", "DAVID", "SARAH", "EMMA",
    "THOMAS", "ANNA", "PETER", "MARIA", "JAMES", "DANIEL", "LAURA", "KEVIN",
)
