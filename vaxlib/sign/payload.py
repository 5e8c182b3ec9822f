"""The HCERT payload (EU DCC schema 1.3.x) and its CWT claims.

Sources
-------
* eHealth Network, *Guidelines on Technical Specifications for EU Digital COVID
  Certificates, Volume 3: Interoperable 2D Code* and the DCC JSON schema 1.3.x
  (``shared/dcc/schema/DCC.combined-schema.json``, ehn-dcc-schema 1.3.3).
* Value sets: ``shared/dcc/valuesets`` (ehn-dcc-valuesets 2.12.0).
* Names: ICAO Doc 9303 Part 3 (8th ed.), section 6: the machine-readable name
  uses only A–Z and the filler ``<`` (which replaces spaces and hyphens);
  national characters are transliterated (Vietnamese: diacritics dropped,
  Đ -> D); apostrophes and other punctuation are omitted.
* UVCI: eHealth Network, *Guidelines on verifiable vaccination certificates –
  basic interoperability elements*, Release 2 (2021), Annex 2: ``URN:UVCI:``,
  version ``01``, country, an opaque unique part, then ``#`` and a Luhn mod N
  check character over the charset ``A–Z 0–9 / :`` (N = 38), as implemented
  by e.g. DIGG's dgc-java ``UVCIChecksumCalculator``.
* Validity: Quyết định 5772/QĐ-BYT (29/12/2021) — the certificate is valid
  12 months from issue; CWT claim keys per RFC 8392 (iss 1, exp 4, iat 6) and
  the HCERT claim -260 holding ``{1: payload}``.
"""
from __future__ import annotations

import functools
import json
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import cbor2

from vaxlib.config import dcc_dir
from vaxlib.sign.errors import PayloadError, SchemaInvalid, ValueSetInvalid
from vaxlib.vaccines import BY_CODE, normalise_vaccine
from vaxlib.vn.text import clean_spacing, fold_diacritics, nfc

__all__ = [
    "SCHEMA_VERSION", "COUNTRY", "ISSUER", "TG_COVID19", "ValueSets", "value_sets",
    "split_name", "icao_transliterate", "clean_dob", "luhn_mod_n", "uvci_is_valid", "make_uvci",
    "DoseRecord", "build_payload", "add_months", "validity", "cwt_claims", "encode_claims",
    "validate_schema", "validate_schema_fast", "validate_value_sets", "value_set_findings",
    "validate_payload", "HCERT_CLAIM",
]

SCHEMA_VERSION = "1.3.0"
COUNTRY = "VN"
ISSUER = {"vi": "Bộ Y tế Việt Nam", "en": "Ministry of Health of Viet Nam"}
TG_COVID19 = "840539006"  # SNOMED CT: COVID-19 (value set disease-agent-targeted)
HCERT_CLAIM = -260
CLAIM_ISS, CLAIM_EXP, CLAIM_IAT = 1, 4, 6
VALIDITY_MONTHS = 12  # 5772/QĐ-BYT

UVCI_CHARSET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/:"
_UVCI_INDEX = {c: i for i, c in enumerate(UVCI_CHARSET)}
_ICAO_KEEP = re.compile(r"[^A-Z<]")
_ICAO_FILLER = re.compile(r"[\s\-]+")
_DOB_RE = re.compile(r"^(19|20)\d\d(-\d\d){0,2}$")


# --------------------------------------------------------------------------- names

def split_name(full_name: str) -> tuple[str, str]:
    """Split a Vietnamese full name into (family name, given names).

    Vietnamese order is family name first: ``"Nguyễn Bảo Duy"`` ->
    ``("Nguyễn", "Bảo Duy")``.  A one-word name is all family name.
    """
    words = clean_spacing(nfc(str(full_name))).split(" ")
    if not words or words == [""]:
        return "", ""
    return words[0], " ".join(words[1:])


@functools.lru_cache(maxsize=65536)  # names repeat a lot; this is on the signing hot path
def icao_transliterate(name: str, max_len: int = 80) -> str:
    """ICAO 9303 machine-readable form: ``"Đặng Thị Huệ"`` -> ``"DANG<THI<HUE"``.

    Only A–Z and ``<``; spaces and hyphens become ``<``; other characters are
    dropped; at most ``max_len`` characters (the schema's limit), cut at the
    end as ICAO truncation does.
    """
    folded = fold_diacritics(nfc(str(name))).upper()
    folded = _ICAO_FILLER.sub("<", folded.strip())
    out = _ICAO_KEEP.sub("", folded).strip("<")
    out = re.sub("<{2,}", "<", out)
    return out[:max_len]


# --------------------------------------------------------------------------- UVCI

# per character: its Luhn addend with factor 2 and with factor 1 (digits summed in base N)
_N = len(UVCI_CHARSET)
_ADD2 = {c: (2 * i) // _N + (2 * i) % _N for i, c in enumerate(UVCI_CHARSET)}
_ADD1 = {c: i for i, c in enumerate(UVCI_CHARSET)}


def luhn_mod_n(text: str) -> str:
    """Luhn mod N check character of ``text`` over :data:`UVCI_CHARSET` (N = 38).

    From the right, code points are alternately doubled (starting with the
    rightmost) and the base-N digits of each addend summed; the check
    character brings the total to a multiple of N.

    Raises
    ------
    ValueError
        If ``text`` has a character outside the charset.
    """
    rev = text[::-1]
    try:
        total = sum(map(_ADD2.__getitem__, rev[0::2])) + sum(map(_ADD1.__getitem__, rev[1::2]))
    except KeyError as exc:
        raise ValueError(f"character {exc.args[0]!r} not allowed in a UVCI") from None
    return UVCI_CHARSET[(_N - total % _N) % _N]


def uvci_is_valid(uvci: str) -> bool:
    """True if ``uvci`` ends in ``#`` + the correct Luhn mod N character."""
    if not isinstance(uvci, str) or len(uvci) < 3 or uvci[-2] != "#":
        return False
    try:
        return luhn_mod_n(uvci[:-2]) == uvci[-1]
    except ValueError:
        return False


def make_uvci(unique: str | None = None, country: str = COUNTRY) -> str:
    """A new UVCI ``URN:UVCI:01:VN:<unique>#<check>``.

    The unique part is 128 random bits in upper-case hex (as in Viet Nam's
    production certificates) unless given; it carries no personal data.
    """
    if unique is None:
        unique = secrets.token_hex(16).upper()
    body = f"URN:UVCI:01:{country}:{unique}"
    return f"{body}#{luhn_mod_n(body)}"


# --------------------------------------------------------------------------- value sets

@dataclass(frozen=True)
class ValueSets:
    """The DCC value sets we check against (code -> active flag)."""

    tg: dict[str, bool]
    vp: dict[str, bool]
    mp: dict[str, bool]
    ma: dict[str, bool]
    co: dict[str, bool]

    @classmethod
    def load(cls, folder: str | Path | None = None) -> "ValueSets":
        folder = Path(folder) if folder else dcc_dir() / "valuesets"

        def read(name: str) -> dict[str, bool]:
            with open(folder / name, encoding="utf-8") as fh:
                values = json.load(fh)["valueSetValues"]
            return {code: bool(v.get("active", True)) for code, v in values.items()}

        return cls(tg=read("disease-agent-targeted.json"), vp=read("vaccine-prophylaxis.json"),
                   mp=read("vaccine-medicinal-product.json"), ma=read("vaccine-mah-manf.json"),
                   co=read("country-2-codes.json"))


@functools.lru_cache(maxsize=4)
def value_sets(folder: str | None = None) -> ValueSets:
    """Cached :class:`ValueSets` from ``folder`` (default ``dcc_dir()/valuesets``)."""
    return ValueSets.load(folder)


def _load_schema(schema_path: str | None = None) -> dict:
    path = Path(schema_path) if schema_path else dcc_dir() / "schema" / "DCC.combined-schema.json"
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


@functools.lru_cache(maxsize=4)
def _validator(schema_path: str | None = None):
    """jsonschema validator of the combined schema.

    ``format`` is an annotation only, as JSON Schema 2020-12 specifies by
    default: the schema's own ``test/valid`` set contains date-times such as
    ``2021-06-11T17:30:00+02`` that a strict RFC 3339 check would refuse.
    """
    import jsonschema

    schema = _load_schema(schema_path)
    return jsonschema.validators.validator_for(schema)(schema)


@functools.lru_cache(maxsize=4)
def _fast_validator(schema_path: str | None = None):
    """A compiled validator (fastjsonschema, ~15x faster) for the batch signer, or ``None``.

    fastjsonschema (a dependency of nbformat, so present with Jupyter) knows
    drafts 4–7; the combined schema uses only keywords those drafts share
    with 2020-12, and ``tests/test_sign_payload.py`` checks that both
    validators agree on the schema's own valid and invalid examples.
    """
    try:
        import fastjsonschema
    except ImportError:  # pragma: no cover - optional speed-up
        return None
    schema = dict(_load_schema(schema_path))
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    # The top-level oneOf of {ver, nam, dob} + exactly one of v/t/r is rewritten as
    # "required ver, nam, dob" with the one-group rule checked by _one_group():
    # the same constraint, without two exceptions raised per payload.
    if schema.get("oneOf") == [{"required": ["ver", "nam", "dob", g]} for g in ("v", "t", "r")]:
        del schema["oneOf"]
        schema["required"] = ["ver", "nam", "dob"]
    anything = lambda value: True  # noqa: E731 - formats are annotations (see _validator)
    return fastjsonschema.compile(schema, formats={"date": anything, "date-time": anything})


def _one_group(payload: dict) -> None:
    if sum(k in payload for k in ("v", "t", "r")) != 1:
        raise SchemaInvalid("more than one of v/t/r")


def validate_schema(payload: dict) -> None:
    """Validate ``payload`` against the DCC combined schema; :class:`SchemaInvalid` names the field.

    Like the EU reference tests, a payload must also carry exactly one of
    the ``v``/``t``/``r`` groups.
    """
    if not isinstance(payload, dict):
        raise SchemaInvalid("payload is not a map")
    try:
        errors = sorted(_validator().iter_errors(payload), key=lambda e: [str(p) for p in e.absolute_path])
    except Exception as exc:  # odd types from hostile CBOR (bytes, tags, ...)
        raise SchemaInvalid(type(exc).__name__) from None
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "(root)"
        raise SchemaInvalid(f"{where}: {errors[0].validator}")
    _one_group(payload)


def validate_schema_fast(payload: dict) -> None:
    """Same contract as :func:`validate_schema`, compiled (used when signing in bulk)."""
    fast = _fast_validator()
    if fast is None:  # pragma: no cover
        return validate_schema(payload)
    try:
        fast(payload)
    except Exception as exc:
        where = getattr(exc, "path", None) or getattr(exc, "name", "") or "(root)"
        raise SchemaInvalid(str(where)) from None
    _one_group(payload)


def value_set_findings(payload: dict, sets: ValueSets | None = None) -> list[str]:
    """Every coded field not in its DCC value set, as ``group/index/field`` paths (empty: all fine).

    Vaccination entries: tg, vp, mp, ma, co.  Test and recovery entries: tg and co
    (their test value sets are not in ``shared/dcc/valuesets``).  No DCC schema
    version enforces value sets: they are business rules, so a verifier reports
    these (:class:`~vaxlib.sign.verify.Verifier`) and rejects only when strict;
    the signer refuses them (:func:`validate_value_sets`).
    """
    sets = sets or value_sets()
    out = []
    for group in ("v", "t", "r"):
        for i, entry in enumerate(payload.get(group) or []):
            if not isinstance(entry, dict):
                out.append(f"{group}/{i}")
                continue
            fields = ("tg", "vp", "mp", "ma", "co") if group == "v" else ("tg", "co")
            for f in fields:
                code = entry.get(f)
                if not isinstance(code, str) or code not in getattr(sets, f):
                    out.append(f"{group}/{i}/{f}")
    return out


def validate_value_sets(payload: dict, sets: ValueSets | None = None) -> None:
    """Check the coded fields against the value sets; :class:`ValueSetInvalid` names the first field."""
    found = value_set_findings(payload, sets)
    if found:
        raise ValueSetInvalid(found[0])


def validate_payload(payload: dict, *, fast: bool = False) -> None:
    """Schema and value sets, as done before every signature (``fast``: compiled schema check)."""
    (validate_schema_fast if fast else validate_schema)(payload)
    validate_value_sets(payload)


# --------------------------------------------------------------------------- payload

@dataclass(frozen=True)
class DoseRecord:
    """The latest dose of a person, as needed for the ``v`` entry."""

    dose_number: int
    vaccination_date: str  # YYYY-MM-DD
    vaccine: str  # as typed; normalised with vaxlib.vaccines


@functools.lru_cache(maxsize=256)
def _product_code(typed: str) -> str | None:
    return normalise_vaccine(typed)


@functools.lru_cache(maxsize=65536)
def _nam(full_name: str) -> tuple[tuple[str, str], ...]:
    fn, gn = split_name(full_name)
    nam: list[tuple[str, str]] = []
    if fn:
        nam += [("fn", fn), ("fnt", icao_transliterate(fn))]
    if gn:
        nam += [("gn", gn), ("gnt", icao_transliterate(gn))]
    return tuple((k, v) for k, v in nam if v or k in ("fn", "gn"))


def clean_dob(dob: Any) -> str:
    """The register's dob as the ``dob`` field: ``YYYY-MM-DD``, ``YYYY-MM``, ``YYYY`` or ``""``.

    The schema's pattern only checks digits; a month or day that does not
    exist (``1983-13-45``) is refused too, since the field is an ISO 8601 date.

    Raises
    ------
    PayloadError
        Anything else.
    """
    dob = "" if dob is None else str(dob).strip()
    if dob and not _DOB_RE.match(dob):
        raise PayloadError("dob: not YYYY[-MM[-DD]]")
    try:
        if len(dob) == 10:
            date.fromisoformat(dob)
        elif len(dob) == 7:
            date.fromisoformat(dob + "-01")
    except ValueError:
        raise PayloadError("dob: no such date") from None
    return dob


def build_payload(full_name: str, dob: str, dose: DoseRecord, *, uvci: str | None = None,
                  issuer: str = ISSUER["vi"]) -> dict[str, Any]:
    """The DCC payload (schema 1.3.x) for one person's latest dose.

    Parameters
    ----------
    full_name, dob : str
        As in the register (dob ``YYYY-MM-DD``, ``YYYY-MM`` or ``YYYY``).
    dose : DoseRecord
        The latest dose; ``dn`` = its dose number, ``sd`` = the product's
        primary series length, or ``dn`` for doses beyond the primary series
        (the common EU encoding of boosters, e.g. 3/3).
    uvci : str, optional
        A fresh one from :func:`make_uvci` if not given.

    Raises
    ------
    PayloadError
        Unknown vaccine product, no usable name, or a bad dose number or date.
    """
    code = _product_code(str(dose.vaccine)) if dose.vaccine is not None else None
    if code is None:
        raise PayloadError("vaccine: unknown product")
    product = BY_CODE[code]
    try:
        dn = int(dose.dose_number)
    except (TypeError, ValueError):
        raise PayloadError("dose_number: not a number") from None
    if dn < 1:
        raise PayloadError("dose_number: below 1")
    sd = product.series_doses if dn <= product.series_doses else dn
    nam = dict(_nam(str(full_name)))
    if not nam.get("fnt") and not nam.get("gnt"):
        raise PayloadError("full_name: nothing transliterable")
    vdate = str(dose.vaccination_date)[:10]
    try:
        date.fromisoformat(vdate)  # the schema's "format": "date" is only an annotation
    except ValueError:
        raise PayloadError("vaccination_date: not a YYYY-MM-DD date") from None
    dob = clean_dob(dob)
    return {
        "ver": SCHEMA_VERSION,
        "nam": nam,
        "dob": dob,
        "v": [{
            "tg": TG_COVID19,
            "vp": product.vp,
            "mp": product.mp,
            "ma": product.ma,
            "dn": dn,
            "sd": sd,
            "dt": vdate,
            "co": COUNTRY,
            "is": issuer,
            "ci": uvci or make_uvci(),
        }],
    }


def add_months(ts: datetime, months: int) -> datetime:
    """``ts`` plus calendar months (31 Jan + 1 month = 28/29 Feb)."""
    import calendar

    y, m = divmod(ts.month - 1 + months, 12)
    year, month = ts.year + y, m + 1
    day = min(ts.day, calendar.monthrange(year, month)[1])
    return ts.replace(year=year, month=month, day=day)


def validity(issued_at: datetime, months: int = VALIDITY_MONTHS) -> tuple[int, int]:
    """(iat, exp) as CWT NumericDates: exp = iat + ``months`` calendar months."""
    if issued_at.tzinfo is None:
        issued_at = issued_at.replace(tzinfo=timezone.utc)
    issued_at = issued_at.replace(microsecond=0)
    return int(issued_at.timestamp()), int(add_months(issued_at, months).timestamp())


def cwt_claims(payload: dict, issued_at: datetime | tuple[int, int], *, months: int = VALIDITY_MONTHS,
               issuer: str = COUNTRY) -> dict[int, Any]:
    """CWT claims ``{iss, iat, exp, -260: {1: payload}}`` with exp = iat + ``months``.

    ``issued_at`` may be a ready ``(iat, exp)`` pair from :func:`validity`
    (computed once per batch).
    """
    iat, exp = issued_at if isinstance(issued_at, tuple) else validity(issued_at, months)
    return {CLAIM_ISS: issuer, CLAIM_IAT: iat, CLAIM_EXP: exp, HCERT_CLAIM: {1: payload}}


def encode_claims(claims: dict) -> bytes:
    """CBOR-encode the claims (deterministic map order is not required by the spec)."""
    return cbor2.dumps(claims)
