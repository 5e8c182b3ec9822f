"""Names of vaccination facilities for the synthetic data: commune and ward health stations,
district health centres and hospitals, named after common Vietnamese ward, commune and district names.

Data, not wording: these names are what a facility is called in the records (``facility_name``), so they
stay Vietnamese in every language of the interface.
"""
from __future__ import annotations

__all__ = ["PLACE_NAMES", "URBAN_PROVINCES", "facility_names"]

# Place names for facilities (our own list of common ward, commune and district names).
_PLACES = """
An Bình, An Phú, An Khánh, An Lạc, An Hòa, An Thới, Bình An, Bình Hưng, Bình Thạnh, Bình Trị, Bình Chánh,
Cầu Kho, Cát Lái, Cô Giang, Đa Kao, Đông Hưng, Đông Hòa, Hiệp Bình, Hiệp Phước, Hòa Bình, Hòa Hiệp,
Hòa Khánh, Hòa Thạnh, Hưng Long, Khánh Hội, Linh Trung, Linh Xuân, Long Bình, Long Phước, Long Thạnh,
Minh Khai, Mỹ Hòa, Mỹ Thạnh, Nghĩa Đô, Ngọc Hà, Nhân Chính, Phú Hữu, Phú Lâm, Phú Mỹ, Phú Thạnh,
Phú Thọ, Phúc Xá, Phước Long, Phước Bình, Quang Trung, Quảng An, Tam Bình, Tam Hiệp, Tân Bình,
Tân Định, Tân Hưng, Tân Kiểng, Tân Phong, Tân Phú, Tân Quy, Tân Sơn, Tân Thuận, Tân Tạo, Thạnh Lộc,
Thạnh Mỹ, Thanh Xuân, Thảo Điền, Thới An, Thủ Thiêm, Trung Hòa, Trường Thọ, Văn Miếu, Vĩnh Hưng,
Vĩnh Lộc, Vĩnh Phúc, Xuân Đỉnh, Xuân La, Yên Hòa, Yên Phụ, Đồng Tâm, Đại Kim, Định Công, Hoàng Liệt,
Kim Liên, Kim Mã, Láng Hạ, Liễu Giai, Mai Dịch, Phương Liên, Quỳnh Mai, Thịnh Liệt, Trung Liệt,
Tương Mai, Vĩnh Tuy, Hải Châu, Hòa Cường, Thanh Khê, Sơn Trà, Ngũ Hành Sơn, Cẩm Lệ, Liên Chiểu,
Tân Lập, Tân Thịnh, Quyết Thắng, Hợp Thành, Đức Thắng, Thắng Lợi, Nam Sơn, Bắc Sơn, Đông Sơn,
Tây Sơn, Trung Sơn, Hồng Phong, Hồng Thái, Quang Minh, Tiến Thành, Thanh Bình, Phú Lợi, Phú Hòa
"""
PLACE_NAMES = tuple(p.strip() for p in _PLACES.replace("\n", " ").split(",") if p.strip())
URBAN_PROVINCES = frozenset({"01", "79", "48", "31", "92"})  # the five centrally-run cities: quận/phường


def facility_names(province: str, count: int) -> list[str]:
    """Names of a province's ``count`` facilities, unique within the province: mostly
    commune/ward health stations, some district health centres and hospitals."""
    urban = province in URBAN_PROVINCES
    district, ward = ("quận", "phường") if urban else ("huyện", "xã")
    start = int(province) * 7
    names: list[str] = []
    seen: set[str] = set()
    for k in range(count):
        place = PLACE_NAMES[(start + k * 13) % len(PLACE_NAMES)]
        if k % 12 == 0:
            name = f"Trung tâm Y tế {district} {place}"
        elif k % 12 == 6:
            name = f"Bệnh viện {district} {place}"
        else:
            name = f"Trạm Y tế {ward} {place}"
        if name in seen:
            name = f"{name} {k // len(PLACE_NAMES) + 1}"
        seen.add(name)
        names.append(name)
    return names
