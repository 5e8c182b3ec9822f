"""The 63 provincial-level units in force in 2022.

Sources:
* GSO administrative unit codes: Quyết định 124/2004/QĐ-TTg (Danh mục và mã số
  các đơn vị hành chính Việt Nam), as maintained by the General Statistics
  Office (danhmuchanhchinh.gso.gov.vn); the 2-digit code is the province code.
* CCCD province-of-birth codes: Thông tư 07/2016/TT-BCA, Phụ lục (mã tỉnh nơi
  đăng ký khai sinh): a 3-digit code equal to ``"0"`` + the GSO code
  (Hà Nội 001 … Cà Mau 096).
* Population (thousands, rounded): Kết quả Tổng điều tra Dân số và Nhà ở
  năm 2019 (GSO, 2019); used only to weight the synthetic population.

The 2025 merger of provinces (Nghị quyết 202/2025/QH15) is out of scope: the
records cleaned here date from 2021–2022.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

__all__ = ["Province", "PROVINCES", "BY_GSO", "BY_CCCD", "province_table", "slug"]


@dataclass(frozen=True)
class Province:
    gso: str  #: 2-digit GSO code
    name: str  #: Vietnamese name, NFC, with diacritics
    name_en: str  #: English/ASCII name
    population_k: int  #: 2019 census, thousands
    region: str  #: socio-economic region (GSO)

    @property
    def cccd(self) -> str:
        """3-digit province code used in the 12-digit personal ID number."""
        return "0" + self.gso


_RAW = [
    ("01", "Hà Nội", "Ha Noi", 8054, "Đồng bằng sông Hồng"),
    ("02", "Hà Giang", "Ha Giang", 854, "Trung du và miền núi phía Bắc"),
    ("04", "Cao Bằng", "Cao Bang", 530, "Trung du và miền núi phía Bắc"),
    ("06", "Bắc Kạn", "Bac Kan", 314, "Trung du và miền núi phía Bắc"),
    ("08", "Tuyên Quang", "Tuyen Quang", 785, "Trung du và miền núi phía Bắc"),
    ("10", "Lào Cai", "Lao Cai", 731, "Trung du và miền núi phía Bắc"),
    ("11", "Điện Biên", "Dien Bien", 599, "Trung du và miền núi phía Bắc"),
    ("12", "Lai Châu", "Lai Chau", 461, "Trung du và miền núi phía Bắc"),
    ("14", "Sơn La", "Son La", 1248, "Trung du và miền núi phía Bắc"),
    ("15", "Yên Bái", "Yen Bai", 822, "Trung du và miền núi phía Bắc"),
    ("17", "Hòa Bình", "Hoa Binh", 855, "Trung du và miền núi phía Bắc"),
    ("19", "Thái Nguyên", "Thai Nguyen", 1287, "Trung du và miền núi phía Bắc"),
    ("20", "Lạng Sơn", "Lang Son", 782, "Trung du và miền núi phía Bắc"),
    ("22", "Quảng Ninh", "Quang Ninh", 1320, "Đồng bằng sông Hồng"),
    ("24", "Bắc Giang", "Bac Giang", 1804, "Trung du và miền núi phía Bắc"),
    ("25", "Phú Thọ", "Phu Tho", 1464, "Trung du và miền núi phía Bắc"),
    ("26", "Vĩnh Phúc", "Vinh Phuc", 1152, "Đồng bằng sông Hồng"),
    ("27", "Bắc Ninh", "Bac Ninh", 1369, "Đồng bằng sông Hồng"),
    ("30", "Hải Dương", "Hai Duong", 1893, "Đồng bằng sông Hồng"),
    ("31", "Hải Phòng", "Hai Phong", 2029, "Đồng bằng sông Hồng"),
    ("33", "Hưng Yên", "Hung Yen", 1253, "Đồng bằng sông Hồng"),
    ("34", "Thái Bình", "Thai Binh", 1861, "Đồng bằng sông Hồng"),
    ("35", "Hà Nam", "Ha Nam", 853, "Đồng bằng sông Hồng"),
    ("36", "Nam Định", "Nam Dinh", 1781, "Đồng bằng sông Hồng"),
    ("37", "Ninh Bình", "Ninh Binh", 983, "Đồng bằng sông Hồng"),
    ("38", "Thanh Hóa", "Thanh Hoa", 3641, "Bắc Trung Bộ và duyên hải miền Trung"),
    ("40", "Nghệ An", "Nghe An", 3327, "Bắc Trung Bộ và duyên hải miền Trung"),
    ("42", "Hà Tĩnh", "Ha Tinh", 1289, "Bắc Trung Bộ và duyên hải miền Trung"),
    ("44", "Quảng Bình", "Quang Binh", 896, "Bắc Trung Bộ và duyên hải miền Trung"),
    ("45", "Quảng Trị", "Quang Tri", 633, "Bắc Trung Bộ và duyên hải miền Trung"),
    ("46", "Thừa Thiên Huế", "Thua Thien Hue", 1129, "Bắc Trung Bộ và duyên hải miền Trung"),
    ("48", "Đà Nẵng", "Da Nang", 1135, "Bắc Trung Bộ và duyên hải miền Trung"),
    ("49", "Quảng Nam", "Quang Nam", 1496, "Bắc Trung Bộ và duyên hải miền Trung"),
    ("51", "Quảng Ngãi", "Quang Ngai", 1232, "Bắc Trung Bộ và duyên hải miền Trung"),
    ("52", "Bình Định", "Binh Dinh", 1487, "Bắc Trung Bộ và duyên hải miền Trung"),
    ("54", "Phú Yên", "Phu Yen", 873, "Bắc Trung Bộ và duyên hải miền Trung"),
    ("56", "Khánh Hòa", "Khanh Hoa", 1232, "Bắc Trung Bộ và duyên hải miền Trung"),
    ("58", "Ninh Thuận", "Ninh Thuan", 591, "Bắc Trung Bộ và duyên hải miền Trung"),
    ("60", "Bình Thuận", "Binh Thuan", 1231, "Bắc Trung Bộ và duyên hải miền Trung"),
    ("62", "Kon Tum", "Kon Tum", 541, "Tây Nguyên"),
    ("64", "Gia Lai", "Gia Lai", 1514, "Tây Nguyên"),
    ("66", "Đắk Lắk", "Dak Lak", 1870, "Tây Nguyên"),
    ("67", "Đắk Nông", "Dak Nong", 623, "Tây Nguyên"),
    ("68", "Lâm Đồng", "Lam Dong", 1297, "Tây Nguyên"),
    ("70", "Bình Phước", "Binh Phuoc", 995, "Đông Nam Bộ"),
    ("72", "Tây Ninh", "Tay Ninh", 1170, "Đông Nam Bộ"),
    ("74", "Bình Dương", "Binh Duong", 2456, "Đông Nam Bộ"),
    ("75", "Đồng Nai", "Dong Nai", 3097, "Đông Nam Bộ"),
    ("77", "Bà Rịa - Vũng Tàu", "Ba Ria - Vung Tau", 1149, "Đông Nam Bộ"),
    ("79", "Hồ Chí Minh", "Ho Chi Minh City", 8993, "Đông Nam Bộ"),
    ("80", "Long An", "Long An", 1689, "Đồng bằng sông Cửu Long"),
    ("82", "Tiền Giang", "Tien Giang", 1765, "Đồng bằng sông Cửu Long"),
    ("83", "Bến Tre", "Ben Tre", 1289, "Đồng bằng sông Cửu Long"),
    ("84", "Trà Vinh", "Tra Vinh", 1010, "Đồng bằng sông Cửu Long"),
    ("86", "Vĩnh Long", "Vinh Long", 1023, "Đồng bằng sông Cửu Long"),
    ("87", "Đồng Tháp", "Dong Thap", 1600, "Đồng bằng sông Cửu Long"),
    ("89", "An Giang", "An Giang", 1908, "Đồng bằng sông Cửu Long"),
    ("91", "Kiên Giang", "Kien Giang", 1724, "Đồng bằng sông Cửu Long"),
    ("92", "Cần Thơ", "Can Tho", 1236, "Đồng bằng sông Cửu Long"),
    ("93", "Hậu Giang", "Hau Giang", 734, "Đồng bằng sông Cửu Long"),
    ("94", "Sóc Trăng", "Soc Trang", 1200, "Đồng bằng sông Cửu Long"),
    ("95", "Bạc Liêu", "Bac Lieu", 908, "Đồng bằng sông Cửu Long"),
    ("96", "Cà Mau", "Ca Mau", 1194, "Đồng bằng sông Cửu Long"),
]

PROVINCES: tuple[Province, ...] = tuple(Province(*row) for row in _RAW)
BY_GSO: dict[str, Province] = {p.gso: p for p in PROVINCES}
BY_CCCD: dict[str, Province] = {p.cccd: p for p in PROVINCES}

assert len(PROVINCES) == 63 and len(BY_GSO) == 63


def slug(gso: str) -> str:
    """ASCII file-name slug of a province: ``"79"`` -> ``"ho-chi-minh-city"``."""
    name = BY_GSO[gso].name_en.lower()
    return "-".join(part for part in "".join(c if c.isalnum() else " " for c in name).split())


def province_table() -> pd.DataFrame:
    """All 63 provinces as a DataFrame (gso, cccd, name, name_en, population_k, region)."""
    return pd.DataFrame(
        [
            {
                "gso": p.gso,
                "cccd": p.cccd,
                "name": p.name,
                "name_en": p.name_en,
                "population_k": p.population_k,
                "region": p.region,
            }
            for p in PROVINCES
        ]
    )
