"""Real-looking names written for the keystroke and encoding tests, and an independent
model of how Telex and VNI keys come out when the input method is off.

The names are made up by us (common family, middle and given names combined); no
third-party list is copied.
"""
from __future__ import annotations

import unicodedata

NAMES = """
Nguyễn Văn Công, Trần Thị Hồng, Lê Thông, Nông Văn Dền, Nông Thị Hoa, Khổng Minh Đức, Ông Văn Tâm,
Phạm Công Thành, Hoàng Trọng Nghĩa, Huỳnh Thị Ngọc Bích, Võ Văn Kiệt, Phan Thị Xuyên, Đặng Quốc Đại,
Bùi Thị Thư, Đỗ Văn Hưng, Hồ Thị Thủy, Ngô Quang Danh, Dương Thị Yến, Lý Văn Nhựt, Đào Thị Huệ,
Trương Công Vinh, Đinh Thị Mỹ Duyên, Lâm Văn Tông, Mai Thị Sông, Lương Văn Bông, Hà Thị Loan,
Tạ Quang Khôi, Phùng Văn Đông, Lưu Thị Nhung, Châu Văn Phước, Thái Thị Hương, Vương Đình Trọng,
Lại Thị Ngân, Quách Văn Tuấn, Tăng Thị Kim Phượng, Từ Văn Lộc, Kiều Thị Hồng Nhung, Triệu Văn Chiến,
Nguyễn Thị Mộng Tuyền, Trần Văn Tùng, Lê Thị Bông, Phạm Văn Đồng, Nguyễn Xuân Khổng, Trần Công Lộc,
Nguyễn Hữu Thông, Lê Văn Nông, Võ Thị Tường Vi, Huỳnh Văn Nhân, Trần Ngọc Ẩn, Đoàn Văn Hậu,
Nguyễn Thị Thoa, Phạm Thị Hòa, Lê Văn Khỏe, Nguyễn Thủy Tiên, Trần Quỳnh Như, Nguyễn Văn Quyết,
Đỗ Thị Ngọc Hân, Bùi Công Trứ, Lê Thị Tuyết Nhung, Phan Văn Trị, Nguyễn Thành Luân, Hồ Văn Cường,
Trịnh Thị Thu Trang, Nguyễn Đức Thắng, Trần Văn Được, Nguyễn Thị Xuân Hương, Lê Hoàng Yến,
Giang Văn Minh, Nguyễn Thị Giàu, Lê Văn Giỏi, Trần Thị Hường, Ngô Thị Ngọc Giàu, Phạm Văn Ước,
Nguyễn Văn Uông, Lê Thị Oanh, Vũ Văn Khoa, Đặng Thị Huyền, Nguyễn Quang Huy, Trần Thị Ánh Tuyết
"""

FULL_NAMES = [n.strip() for n in NAMES.replace("\n", " ").split(",") if n.strip()]

_TELEX_VOWEL = {"â": "aa", "ê": "ee", "ô": "oo", "ă": "aw", "ơ": "ow", "ư": "uw", "đ": "dd"}
_VNI_VOWEL = {"â": "a6", "ê": "e6", "ô": "o6", "ă": "a8", "ơ": "o7", "ư": "u7", "đ": "d9"}
_TELEX_TONE = {"\u0301": "s", "\u0300": "f", "\u0309": "r", "\u0303": "x", "\u0323": "j"}
_VNI_TONE = {"\u0301": "1", "\u0300": "2", "\u0309": "3", "\u0303": "4", "\u0323": "5"}


def _split(word: str) -> tuple[str, str]:
    d = unicodedata.normalize("NFD", word)
    tone = next((c for c in d if c in _TELEX_TONE), "")
    bare = unicodedata.normalize("NFC", "".join(c for c in d if c != tone))
    return bare, tone


def keys(word: str, method: str, tone_last: bool = True) -> str:
    """The keys typed for ``word`` (Telex or VNI), as they stay with the input method off.

    ``tone_last``: the tone key at the end of the word (the common habit) or right
    after the vowel carrying it.
    """
    bare, tone = _split(word)
    vowel_map = _TELEX_VOWEL if method == "telex" else _VNI_VOWEL
    tone_map = _TELEX_TONE if method == "telex" else _VNI_TONE
    out = []
    for ch in bare:
        low = ch.lower()
        k = vowel_map.get(low, low)
        if ch.isupper():
            k = k[0].upper() + k[1:]
        out.append(k)
    text = "".join(out)
    if method == "telex":
        text = text.replace("uwow", "uow")  # ươ is typed uow
    if tone:
        if tone_last:
            text += tone_map[tone]
        else:
            # after the last vowel key of the nucleus
            idx = max(i for i, c in enumerate(text) if c.lower() in "aeiouy") + 1
            while idx < len(text) and text[idx] in "wa678eo" and method == "vni" and text[idx].isdigit():
                idx += 1
            text = text[:idx] + tone_map[tone] + text[idx:]
    return text


def type_name(name: str, method: str, tone_last: bool = True) -> str:
    return " ".join(keys(w, method, tone_last) for w in name.split())


#: Foreign and minority names that must stay as typed (some look like keystroke residue).
FOREIGN = [
    "Kim Thị Mary", "Max", "Hans", "Rosa", "LEE MIN JUN", "LEE SEO YEON", "KIM JI HOON", "PARK JI HOON",
    "JOHN SMITH", "MARIA GARCIA", "Nguyễn Thị Rosa", "Trần Văn Hans", "LEE WEI", "CHEN FANG", "WONG LEI",
    "Jones", "Thomas Müller", "Sarah Lee", "Max Nguyen", "Rosa Parks", "Y Moan Êban", "H'Hen Niê",
]
