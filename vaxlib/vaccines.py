"""COVID-19 vaccine products used in Viet Nam, mapped to the EU DCC value sets.

Products: those approved for emergency use by the Ministry of Health in
2021–2022 (AstraZeneca, Comirnaty/Pfizer-BioNTech, Spikevax/Moderna,
Vero Cell/Sinopharm, Sputnik V, Abdala, Hayat-Vax).  Codes come from the value
sets in ``shared/dcc/valuesets`` (ehn-dcc-valuesets release 2.12.0):
``vaccine-medicinal-product.json`` (mp), ``vaccine-mah-manf.json`` (ma) and
``vaccine-prophylaxis.json`` (vp; the SNOMED CT codes that replaced the
deprecated ATC J07BX03).  Primary-series lengths follow the products'
WHO EUL / national authorisations (Abdala is a 3-dose series).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from vaxlib.vn.text import fold_key

__all__ = ["Product", "PRODUCTS", "BY_CODE", "normalise_vaccine"]


@dataclass(frozen=True)
class Product:
    code: str  #: our short code
    display: str  #: name as the platform shows it
    mp: str  #: DCC medicinal product
    ma: str  #: DCC marketing authorisation holder / manufacturer
    vp: str  #: DCC vaccine or prophylaxis (SNOMED CT)
    series_doses: int  #: doses in the primary series
    interval_days: tuple[int, int]  #: usual min/max days between primary doses
    aliases: tuple[str, ...]  #: spellings seen at facilities (folded, lower case)


PRODUCTS: tuple[Product, ...] = (
    Product("AZ", "AstraZeneca", "EU/1/21/1529", "ORG-100001699", "29061000087103", 2, (56, 84),
            ("astrazeneca", "astra zeneca", "astra", "az", "vaxzevria", "covishield", "chadox1")),
    Product("PF", "Pfizer", "EU/1/20/1528", "ORG-100030215", "1119349007", 2, (21, 28),
            ("pfizer", "pfizer biontech", "pfizer-biontech", "comirnaty", "biontech", "pfizer/biontech")),
    Product("MO", "Moderna", "EU/1/20/1507", "ORG-100031184", "1119349007", 2, (28, 35),
            ("moderna", "spikevax", "mrna-1273")),
    Product("VC", "Vero Cell", "BBIBP-CorV", "ORG-100020693", "1157024006", 2, (21, 28),
            ("vero cell", "verocell", "vero-cell", "sinopharm", "bbibp-corv", "vero")),
    Product("SV", "Sputnik V", "Sputnik-V", "Gamaleya-Research-Institute", "29061000087103", 2, (21, 28),
            ("sputnik v", "sputnik", "sputnik-v", "gam-covid-vac")),
    Product("AB", "Abdala", "Abdala", "CIGB", "1162643001", 3, (14, 28),
            ("abdala", "cigb-66")),
    Product("HV", "Hayat-Vax", "Hayat-Vax", "ORG-100023050", "1157024006", 2, (21, 28),
            ("hayat-vax", "hayat vax", "hayatvax", "hayat")),
)

BY_CODE: dict[str, Product] = {p.code: p for p in PRODUCTS}
_ALIAS: dict[str, str] = {a: p.code for p in PRODUCTS for a in p.aliases}
_PREFIX_RE = re.compile(r"^(vac\s*xin|vaccine|vacxin|vx)\s+")


def normalise_vaccine(typed: str | None) -> str | None:
    """Map a product name as typed to a :data:`PRODUCTS` code, or ``None``.

    >>> normalise_vaccine("Vắc xin AstraZeneca")
    'AZ'
    >>> normalise_vaccine("Pfizer-BioNTech")
    'PF'
    """
    if typed is None:
        return None
    key = _PREFIX_RE.sub("", fold_key(str(typed)))
    if key in _ALIAS:
        return _ALIAS[key]
    squeezed = key.replace(" ", "").replace("-", "")
    for alias, code in _ALIAS.items():
        if alias.replace(" ", "").replace("-", "") == squeezed:
            return code
    return None
