"""Vietnamese name lists used by the synthetic population (:mod:`vaxlib.synth`).

Family names
    Shares of the commonest family names: Nguyễn at 31 %, the share measured
    in recent large public lists of real full names (the measurement behind
    issue #16: 30–32 %; the 38.4 % of Lê Trung Hoa, *Họ và tên người Việt
    Nam*, NXB Khoa học Xã hội 2005, reproduced in Wikipedia's "Vietnamese
    name", comes from older material), then Trần, Lê, Phạm, Hoàng/Huỳnh,
    Phan, Vũ/Võ, Đặng, Bùi, Đỗ, Hồ, Ngô, Dương, Lý at the ranks and roughly
    the shares of the same sources.  The rest (about 18 %) is spread over
    some 280 other family names (Kinh, Tày, Thái, Mường, Hmông, Dao, Khmer,
    Hoa and Chăm family names, a list of our own), falling off by rank (a
    Zipf tail, so that about 190 distinct family names appear among 8,700
    people as in real samples); the split among the tail is an assumption.

Hoàng / Huỳnh and Vũ / Võ
    The same family names written differently north and south: in Đàng Trong
    (the southern realm of the Nguyễn lords) "Hoàng" was avoided as the
    personal name of Lord Nguyễn Hoàng and "Vũ" as that of Lord Nguyễn Phúc
    Khoát (Võ Vương), a naming taboo (kiêng húy) still visible in the
    distribution of the two spellings (Lê Trung Hoa 2005, ch. 2).
    :data:`SOUTH_SPELLING_SHARE` gives the share of the southern spelling by
    region of birth: 53–59 % among people born from Đà Nẵng southwards and a
    few percent in the north, as measured on real name lists with places of
    birth (issue #16); :data:`REGION_FAMILY_FACTOR` tilts Trần (commoner in
    the north) and Phan (commonest from Nghệ An – Hà Tĩnh down the centre).

Middle and given names
    Lists and cohort tilts are drawn from the common names in the same book and
    from the analysis of names of Vietnamese pupils and students by birth
    decade in Phạm Tất Thắng, "Về tên người Việt" (Ngôn ngữ & Đời sống, 2013)
    and public lists of the most frequent names (e.g. the 2022 Zing/VnExpress
    round-ups of names in exam registrations).  Weights are relative and
    approximate; what matters for the generator is that common names
    (Hùng, Dũng, Lan, Hương, Anh, Linh ...) collide realistically and that the
    mix moves with the birth cohort (Thị falls, Văn falls, Anh/Minh/Ngọc rise).
    Behind the common names comes a long tail of rarer given names
    (:data:`_TAIL_GIVEN`, written by us: Danh, Đại, Kiệt, Nhựt, Trị, Giàu …),
    weighted by rank so that about 720 distinct given names appear among
    8,700 people born 1988–2000, as in real samples (issue #16).  Sex by
    given name is a probability, not a rule: a name appears in both lists
    with the weights of each sex (Xuyên mostly female, Hải, Hà, Anh mixed).

Age and sex
    :data:`AGE_GROUPS` gives the five-year age groups of the population with
    their share and the share of women, rounded from the 2019 census
    (Tổng cục Thống kê, *Kết quả toàn bộ Tổng điều tra Dân số và Nhà ở năm
    2019*, NXB Thống kê 2020: population by age group and sex): people 65
    and over about 9.5 % of those aged 15 and over, 61 % of them women.

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
    "REGION_FAMILY_FACTOR",
    "REGIONS",
    "region_of",
    "AGE_GROUPS",
    "syllable_shares",
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
    ("Nguyễn", 31.0), ("Trần", 11.0), ("Lê", 9.5), ("Phạm", 6.6), ("Hoàng", 5.6),
    ("Phan", 4.4), ("Vũ", 4.0), ("Đặng", 2.1), ("Bùi", 2.0), ("Đỗ", 1.6),
    ("Hồ", 1.5), ("Ngô", 1.4), ("Dương", 1.1), ("Lý", 0.6),
)

# The rest, roughly by frequency (commonest first); Kinh names, then those of the
# Tày, Nùng, Thái, Mường, Hmông and Dao, of the Khmer and Hoa of the south and of the Chăm.
_OTHER_FAMILY = """
Đào Đoàn Trịnh Trương Đinh Lâm Mai Lương Hà Cao Tô Tạ Phùng Lưu Châu Thái Vương Lại Quách Tăng
Từ Kiều Hứa Triệu Chu Nông Khổng Mạc Thân La Âu Đàm Tôn Giang Đồng Lục Kim Khúc Ông Quan
Tống Vi Ninh Diệp Doãn Hàn Lã Phí Trình Nghiêm Đậu Thạch Danh Sơn Lò Hầu Ứng Văn Lam Viên
Mã Bạch Bế Biện Cam Cấn Cù Cung Chế Chung Chử Dư Điêu Đới Đường Giáp Hạ Hàm Hình Hoa Khuất
Khương Khưu Kha Lạc Lăng Liêu Lỗ Lữ Lường Mẫn Mông Ngụy Nhâm Nhữ Phó Phương Quản Quang Quàng
Sầm Sử Tất Thiều Tiêu Tòng Trà Trang Trầm Tường Vòng Xa Yên Bành Bồ Cái Cát Chiêm Chúc Cổ
Công Diêm Du Đan Đàng Địch Điền Đổng Giản Hạng Hồng Hùng Kiểu Khiếu Lai Liên Liễu Long Mạch
Mâu Nghê Ngũ Nhan Ôn Phong Phù Quảng Sái Tào Thang Thi Thiệu Thịnh Tiết Trác Trọng Uông Vinh
Ân Bạc Bàn Cà Cầm Chảo Chẩu Dã Diêu Đái Đèo Đồ Giàng Hướng Khà Lầu Lèo Lô Lộc Lù Ma Mang
Mùa Ngạc Nịnh Sùng Tẩy Thào Tráng Vàng Vì Vy Sằm Hờ Thèn Ngọ Đầu Ngân Lộ Mạnh Quế Đạo
Trưng Hy Tiền Bá Sa Khâu Nguyên Chương Bảo Thôi Mộc Kỳ Tưởng Đinh Phương Âu Dương Lư Lạng
"""


def _other_family() -> tuple[str, ...]:
    top = {n for n, _ in _TOP_FAMILY} | {"Huỳnh", "Võ"}
    out: list[str] = []
    for name in _OTHER_FAMILY.split():
        if name not in top and name not in out:
            out.append(name)
    return tuple(out)


def _family_table() -> tuple[tuple[str, float], ...]:
    others = _other_family()
    rest = 100.0 - sum(s for _, s in _TOP_FAMILY)
    raw = [1.0 / (rank + 4) ** 1.4 for rank in range(len(others))]
    scale = rest / sum(raw)
    return _TOP_FAMILY + tuple((n, round(w * scale, 5)) for n, w in zip(others, raw))


#: (family name, share in percent); sums to 100.
FAMILY_NAMES: tuple[tuple[str, float], ...] = _family_table()

#: Southern spelling for the north/south pairs and its share by birth region
#: ("north" = provinces up to Thừa Thiên Huế, "south" = Đà Nẵng and beyond).
SOUTH_SPELLING_SHARE: dict[str, tuple[str, dict[str, float]]] = {
    "Hoàng": ("Huỳnh", {"north": 0.03, "south": 0.56}),
    "Vũ": ("Võ", {"north": 0.05, "south": 0.57}),
}

#: Regions of birth for the regional family-name mix: GSO codes 01–37 (the north,
#: Hà Nội to Ninh Bình), 38–68 (Thanh Hóa to Lâm Đồng: the centre and the highlands),
#: 70–96 (the south-east and the Mekong delta).
REGIONS = ("north", "centre", "south")


def region_of(gso: str) -> int:
    """Index into :data:`REGIONS` for a two-digit GSO province code."""
    return 0 if gso < "38" else (1 if gso < "70" else 2)


#: Multipliers of a family name's share by region of birth (north, centre, south);
#: shares are renormalised per region.  Trần is commoner in the north, Phan in the
#: centre (Nghệ An, Hà Tĩnh, Quảng Nam) and less so in the north (issue #16's
#: measurement on real lists with places of birth; factors rounded).
REGION_FAMILY_FACTOR: dict[str, tuple[float, float, float]] = {
    "Trần": (1.15, 0.95, 0.9),
    "Phan": (0.55, 1.6, 1.1),
    "Hồ": (0.6, 1.5, 1.0),
    "Lâm": (0.5, 0.8, 1.8),
    "Thạch": (0.1, 0.3, 2.6),
    "Danh": (0.1, 0.3, 2.6),
    "Sơn": (0.3, 0.5, 2.2),
    "Nông": (2.6, 0.2, 0.2),
    "Lò": (2.6, 0.2, 0.2),
    "Hứa": (0.5, 0.6, 1.9),
}

#: Five-year age groups (lowest age, share of the whole population in percent,
#: share of women) after the 2019 census, rounded; 85 stands for 85–95.
AGE_GROUPS: tuple[tuple[int, float, float], ...] = (
    (10, 7.7, 0.48), (15, 6.8, 0.48), (20, 6.9, 0.49), (25, 8.0, 0.50), (30, 8.4, 0.50),
    (35, 7.8, 0.50), (40, 7.2, 0.50), (45, 6.6, 0.50), (50, 6.0, 0.51), (55, 5.2, 0.52),
    (60, 4.2, 0.53), (65, 2.9, 0.56), (70, 1.7, 0.60), (75, 1.1, 0.64), (80, 0.8, 0.69),
    (85, 0.7, 0.74),
)


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
        Uy 0.5 0.5 0.5, Vận 1 0.5 0.2, Xuyên 0.15 0.1 0.05, Yên 1 0.5 0.3, Hòe 0.5 0.2 0.05,
        Thoại 1 1 0.5, Hoạt 1 0.5 0.2, Khoái 0.5 0.3 0.1, Hoạch 0.5 0.3 0.1, Đoàn 1 1 0.5,
        Danh 1 1 1, Đại 1 1.5 2, Kiệt 0.5 1.5 3, Nhựt 1.5 1 0.5, Trị 1 0.5 0.3, Tài 2 2 1
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
        Thụy 0.5 0.5 1, Tuệ 0.2 0.5 2, Thoại 0.5 0.5 0.5, Ngoan 2 1 0.3, Hoán 0.3 0.2 0.1,
        Xuyên 1 1 0.8, Giàu 1 0.5 0.2
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


def syllable_shares() -> dict[str, dict[str, float]]:
    """Name syllables (lower case, old tone style) -> share, by role: ``"family"``,
    ``"middle"``, ``"given"`` (all cohorts and both sexes pooled), and ``"any"``
    (the largest of the three).

    Used by :func:`vaxlib.vn.keystrokes.repair_keystrokes` to judge whether a
    reading of typed keys is a plausible name in its place.
    """
    from vaxlib.vn.text import tone_key

    out: dict[str, dict[str, float]] = {"family": {}, "middle": {}, "given": {}, "any": {}}

    def add(role: str, pairs) -> None:
        total = sum(w for _, w in pairs) or 1.0
        for name, w in pairs:
            for word in name.split():
                key = tone_key(word)
                for r in (role, "any"):
                    out[r][key] = max(out[r].get(key, 0.0), w / total)

    family = dict(FAMILY_NAMES)
    for north, (south, _) in SOUTH_SPELLING_SHARE.items():
        family[south] = family.get(north, 0.0)
    add("family", list(family.items()))
    add("middle", [(n, sum(w)) for table in (MIDDLE_NAMES, SECOND_MIDDLE_NAMES)
                   for rows in table.values() for n, w in rows if n])
    add("given", [(n, sum(w)) for rows in GIVEN_NAMES.values() for n, w in rows if n])
    return out


# Rarer given names behind the common ones, written by us.  "M" mostly men's, "F"
# mostly women's, "X" given to both.  Each gets a rank weight (Zipf) in the lists of
# the sexes that bear it.
_TAIL_GIVEN = {
    "M": """
        Danh Đại Kiệt Nhựt Trị Giỏi Tài Lực Báu Bửu Cang Cầu Chánh Chấn Chinh Chức Chương Cơ Củng
        Cương Cửu Dậu Diên Doanh Dụng Duẩn Dực Đạm Đán Đảng Đạo Đắc Đằng Đẳng Đậu Điền Điển Đính
        Đỉnh Độ Đôn Đồng Đởm Đường Giáp Hàm Hãn Hạo Hiến Hiệu Hinh Hoạn Hoàn Hoành Học Huề Hùng
        Hướng Hữu Huyên Kế Khả Khai Khâm Khanh Khiết Khoát Khôn Khởi Khương Kính Lai Lãm Lãng Lễ
        Liêm Liệu Lĩnh Lũy Lượng Lưu Mẫn Mậu Mưu Năng Nghị Nghiêm Nghinh Ngôn Ngũ Nguyện Nhẫn
        Nhượng Nhơn Nông Phái Pháp Phán Phẩm Phổ Quả Quán Quát Quyền Sáng Sâm Sắc Sĩ Sính Soạn
        Sửu Sự Tá Tản Tánh Thạc Thản Thao Thăng Thân Thập Thế Thể Thiêm Thiệp Thìn Thọ Thống Thuần
        Thường Thưởng Tích Tiêu Tịnh Tỉnh Toại Tôn Tông Trác Trãi Trạch Tráng Triết Triều Triệu
        Trình Trụ Trưởng Tuất Tuyến Tước Ưng Vạn Vĩ Viễn Vịnh Võ Vượng Xứng Bách Bạch Bản Bang
        Biên Biển Bính Bổn Cẩn Cao Chuẩn Công Cư Diệm Doãn Đẩu Đệ Đích Đoan Giới Hãn Hiệp Hòa
        Khoái Khuyến Kiểm Kỷ Lãnh Lăng Lẫm Liễn Lịch Luận Luật Mãi Mẫu Mỹ Ngạn Nghiệp Ngữ Nhạc
        Nhiệm Phấn Phiên Phòng Phục Quang Quỳ Sách Sản Sỹ Tạ Tẩy Thạnh Thiều Thuyết Tiển Toán
        Triển Trung Truyền Tuệ Tùy Uẩn Vân Viện Vỹ Xuyên Lũ Tứ Út Ba Bốn Năm Sáu Bảy Tám Chín Mười
        Tý Sửu Mùi Thân Dần Ngọ Đực Tèo Tí Cu Bờm Hổ Báo Sói Lâm Tuân Nhàn Nhơn Khiêm Toán Tiềm
        Hiếu Thảo Ngoạn Bội Phiêu Đệ Hiện Hoành Lâu Vĩnh Huấn Quyết Đoán Kháng Tặng
        Ẩn Bằng Bảng Bật Biền Bổng Bút Cảm Cán Canh Càn Cấp Chấp Châm Chân Chất Chế Chiêu Chỉnh
        Chư Chử Cối Cống Cừ Cước Dạng Dĩ Diện Diễn Dịch Dõng Duật Duệ Dưỡng Đa Đàn Đản Đáng Đảo
        Đầu Đề Địch Điềm Điểu Đình Đoái Đổ Đốc Đối Đốn Đống Độc Đua Đương Giả Giai Giám Giảng
        Giáo Hàn Hành Hạp Hãnh Hệ Hịch Hiểu Hoằng Hợi Hồi Hưởng Hựu Khắc Khẩn Khiển Khuông Khúc
        Kiến Kiêm Kình Lãi Lạp Lệnh Liệt Lịnh Lộ Luyện Lữ Miện Nại Nạp Nghệ Ngư Nhạ Nhiếp Nội
        Oai Phác Phan Phạn Phồn Phụ Phủ Quan Quản Quýnh San Sảng Soái Sở Sung Sưởng Tác Tạc Tấn
        Tập Tề Thặng Thâm Thẩm Thận Thệ Thiết Thỉnh Thuật Thụ Thực Thước Tiếp Tiết Tiễn Tĩnh
        Tộ Tốn Trạc Trai Trắc Triêm Triệt Trù Trứ Truật Tục Tuyển Tượng Vệ Vọng Yết Cẩm Chỉ Chuyên
        Đạc Đăng Điệu Hách Hân Hoạt Hội Khiêm Kiên Kỉnh Lân Liên Lĩnh Luyến Mạnh Nguyên Nhuệ
        Phiệt Quới Sang Sanh Sum Thạch Thành Thịnh Thông Thụy Tịch Tính Trọng Tú Tuấn Tụng Ước
        Vang Vượt Xương Yểng Hồ Giác Hợp Khiết Lộc Nhã Nhiên Phương Quyến Thành Thiết Thuyên
    """,
    "F": """
        Giàu Ái Ảnh Bé Bông Bưởi Cầm Chanh Chúc Dạ Dao Di Dịu Đan Đoan Hạc Hằng Hoan Kha Khuê
        Lài Lam Lựu Ly Mận Mẫn Mị Miên Mộng Mùi Muội Na Nàng Ngà Ngát Nghi Nhạn Nhã Nhiên Nhu
        Nhuận Nữ Phấn Sa Si Son Thơm Thường Trầm Trúc Tố Vàng Vui Xinh Đẹp Ngọt Nhài Nụ Pha Út Hai
        Gái Thy Trân Lê Mây Đài Nhứt Hương Thắm Sim Mùa Liên Lụa Mến Nết Đượm Huyền Thúy Hồng Duyên
        Thêu Thoa Cúc Diễm Kiều Lệ Ngần Nguyên Quyên Tuyền Uyển Vân Xuân Yến Hoa Hạnh Mai Nga Nhung
        Phượng Quế Sương Thục Thùy Trà Trang Trinh Tươi Vy Ý Hiền Hà Ngân Ngọc Huệ Diệp Điệp Châu
        Hân Trâm Khánh Mỹ Như Thi Thơ Yên Ánh Oanh Loan Quỳnh Tuyết Liễu Nguyệt Dung Xuyên Xuyến
        Bình Tình Tâm Lành Lộc Phúc Quý Sen Hoài Hảo Nhàn Nhi Minh Đào Tiên Trúc Thảo Thanh Bích
        Nhạn Mơ Hậu Hiên Giao Giang Hòa Hạ Lan Linh My Vi Uyên Sang Thu Thư Thương Ngoan Thắng
        Ba Bạch Bội Búp Cát Chăm Chân Chiêu Chinh Chuyên Dâng Diệu Dinh Doan Dưng Đang Đậm Đăng
        Đóa Gấm Giai Hài Hàm Hiệp Hóa Hoàn Hồi Huân Hường Huyên Khai Khiết Khoa Khương Lãm Lạc
        Lân Lễ Liệu Lĩnh Luyện Lương Lượng Mịn Nghĩa Ngọ Ngữ Nhật Nhẫn Nhị Nhụy Nhường Niệm
        Phẩm Phi Phước Phụng Quy Sáng Sinh Sớm Tấm Tần Thạch Thám Thẩm Thái Thiều Thông Thụy
        Tịnh Trắng Trọng Tư Uyển Viên Vinh Xoan Yêu Lịch Nhuần Nhiều Hợp Kiểm Liễn Loát Lũy Mạ
        Miến Mừng Ngàn Ngãi Ngời Nhãn Nhớ Nhuỵ Nhượng Nương Oanh Phận Phiến Quyển Sáo Sậu Sử
        Sửu Tạc Tài Tảo Thắng Thẳng Thiết Thoại Thư Thức Thướt Tiến Tĩnh Tràng Trăng Trọn Trúc
        Tuyến Uyển Vẹn Viện Vương Xanh Yên Diệu Diễm Đoan Giáng Hạnh Hằng Hoài Huyền Khuyên Kiều
        Lài Liên Lụa Mai Mẫn Mộng Nguyệt Nhiễu Phấn Phượng Quyên Sâm Sương Thoa Thục Thúy Trầm
    """,
    "X": """
        An Anh Bảo Bình Châu Chi Dương Giang Hà Hải Hạnh Hiếu Hòa Hồng Huy Khánh Khuê Kim Lâm Linh
        Lộc Long Minh Mỹ Nam Ngọc Nguyên Nhân Nhật Phúc Phương Quân Quỳnh Sơn Tâm Thanh Thảo Thiên
        Thu Thư Thuận Tiên Trang Trí Trung Tú Tuấn Tường Uyên Vân Việt Vinh Xuân Yên Đông Hưng
        Thịnh Ân Duy Gia Kỳ Luân Nghi Phong Quang Thiện Tín Trúc Tuệ Vĩnh Vũ Đan Hoàng Khải Khang
    """,
}

#: Share of women among the bearers of a mixed ("X") tail name, and of the tail
#: names of each list.
_TAIL_FEMALE_SHARE = {"M": 0.04, "F": 0.96, "X": 0.45}
#: Weight of the whole tail against the common names of the same sex (cohort-neutral),
#: and its Zipf exponent.
_TAIL_WEIGHT = 0.6
_TAIL_EXPONENT = 0.75


def _with_tail(table: dict[str, tuple[tuple[str, tuple[float, float, float]], ...]]):
    """The given-name lists with the tail added to each sex that bears it."""
    from vaxlib.vn.text import nfc, set_tone_style

    out = {}
    for sex in ("M", "F"):
        rows = dict(table[sex])
        base = sum(sum(w) for w in rows.values()) / 3
        tail: list[tuple[str, float]] = []
        seen = set()
        for kind in ("M", "F", "X"):
            share = _TAIL_FEMALE_SHARE[kind] if sex == "F" else 1 - _TAIL_FEMALE_SHARE[kind]
            for rank, name in enumerate(_TAIL_GIVEN[kind].split()):
                name = set_tone_style(nfc(name), "old")
                if (name, kind) in seen:
                    continue
                seen.add((name, kind))
                tail.append((name, share / (rank + 10) ** _TAIL_EXPONENT))
        total = sum(w for _, w in tail)
        for name, w in tail:
            add = base * _TAIL_WEIGHT * w / total
            old = rows.get(name, (0.0, 0.0, 0.0))
            rows[name] = tuple(round(o + add, 5) for o in old)
        out[sex] = tuple(rows.items())
    return out


GIVEN_NAMES = _with_tail(GIVEN_NAMES)
