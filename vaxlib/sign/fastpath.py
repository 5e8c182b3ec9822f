"""The batch signer's fast path: CWT claims assembled from pre-encoded, pre-validated CBOR fragments.

Why this is the same as :func:`~vaxlib.sign.payload.build_payload` + the full schema
-----------------------------------------------------------------------------------
A vaccination certificate of one batch differs from the next only in a few
fields: the name (``nam``), ``dob``, the product codes with ``dn``/``sd``,
the vaccination date ``dt`` and the UVCI ``ci``.  Everything else (``ver``,
``tg``, ``co``, ``is``, the CWT ``iss``/``iat``/``exp``) is fixed for the batch.

The DCC combined schema 1.3.x (``shared/dcc/schema/DCC.combined-schema.json``)
constrains each of those fields on its own: type, ``maxLength``, ``pattern``,
``minimum`` and the value sets; the only keywords relating several fields are
the top-level ``oneOf`` (exactly one of ``v``/``t``/``r`` -- fixed by our shape)
and ``person_name``'s ``anyOf`` (``fnt`` or ``gnt``, checked inside the name
fragment).  So a payload is valid exactly when the batch constants are valid
and every varying field value is valid on its own.  The encoder therefore

* validates the batch constants once, with the full schema and the value sets,
  on a template payload (:meth:`FastEncoder.__init__`);
* checks each *distinct* name, dob, date and (product, dose number) once, with
  rules read from the schema itself (:func:`field_rules`) and the value sets,
  and caches its CBOR encoding (``cbor2.dumps`` of the same dict/str, so the
  bytes are those :func:`~vaxlib.sign.payload.encode_claims` would produce);
* hands any row whose fragment fails, or is not hashable, to the reference
  path (``build_payload`` + ``validate_payload``), which raises the exact
  error the reference signer raises;
* in :mod:`vaxlib.sign.batch`, re-builds a deterministic sample of rows --
  the first row of every (product, dn, sd) shape and every
  :data:`SAMPLE_EVERY`-th row -- through the reference path with the full
  jsonschema validator, and refuses to continue if its CBOR differs by one byte.

``tests/test_sign_core.py`` checks that the fast path and the full schema agree
on generated payloads, valid and invalid, and that the bytes are identical.
"""
from __future__ import annotations

import functools
import os
import re
from datetime import date
from typing import Any, Callable, Sequence

import cbor2

from vaxlib.sign.errors import PayloadError
from vaxlib.sign.payload import (
    CLAIM_EXP, CLAIM_IAT, CLAIM_ISS, COUNTRY, HCERT_CLAIM, SCHEMA_VERSION, TG_COVID19, UVCI_CHARSET,
    DoseRecord, _load_schema, clean_dob, _nam, _product_code, build_payload, validate_payload, value_sets,
)
from vaxlib.vaccines import BY_CODE

__all__ = ["FastEncoder", "field_rules", "uvci_batch", "SAMPLE_EVERY"]

#: every SAMPLE_EVERY-th certificate of a worker is also built and fully validated the slow way
SAMPLE_EVERY = 1000
#: distinct values kept per fragment cache in a worker (a full cache is emptied: bounded memory)
CACHE_SIZE = 200_000

_d = cbor2.dumps
_INVALID = False  # cache value of a fragment that must go through the reference path


# --------------------------------------------------------------------------- schema-derived rules

def _rule(prop: dict) -> Callable[[Any], bool]:
    """A check for one schema property of type string or integer (the keywords the DCC schema uses)."""
    typ = prop.get("type")
    max_len, min_len = prop.get("maxLength"), prop.get("minLength")
    pattern = re.compile(prop["pattern"]) if "pattern" in prop else None
    minimum, maximum = prop.get("minimum"), prop.get("maximum")
    unknown = set(prop) - {"type", "maxLength", "minLength", "pattern", "minimum", "maximum", "format",
                           "title", "description", "examples", "$comment", "valueset-uri"}
    if unknown or typ not in ("string", "integer"):
        raise ValueError(f"schema property uses {sorted(unknown) or typ}: fast path not applicable")

    def check(value: Any) -> bool:
        if typ == "string":
            if not isinstance(value, str):
                return False
            if max_len is not None and len(value) > max_len:
                return False
            if min_len is not None and len(value) < min_len:
                return False
            # JSON Schema patterns are not anchored (ECMA-262 search semantics)
            return pattern is None or pattern.search(value) is not None
        if not isinstance(value, int) or isinstance(value, bool):
            return False
        return (minimum is None or value >= minimum) and (maximum is None or value <= maximum)

    return check


@functools.lru_cache(maxsize=2)
def field_rules(schema_path: str | None = None) -> dict[str, Callable[[Any], bool]]:
    """Checks for the varying fields, read from the DCC schema: ``fn fnt gn gnt dob dn sd dt is ci``."""
    schema = _load_schema(schema_path)
    defs = schema["$defs"]

    def resolve(p: dict) -> dict:
        while "$ref" in p:
            p = {**defs[p["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in p.items() if k != "$ref"}}
        return p

    rules = {k: _rule(resolve(v)) for k, v in defs["person_name"]["properties"].items()}
    rules["dob"] = _rule(resolve(schema["properties"]["dob"]))
    v = defs["vaccination_entry"]["properties"]
    for k in ("dn", "sd", "dt", "is", "ci"):
        rules[k] = _rule(resolve(v[k]))
    return rules


# --------------------------------------------------------------------------- UVCI in bulk

_N = len(UVCI_CHARSET)
_T1 = bytes(UVCI_CHARSET.index(chr(b)) if chr(b) in UVCI_CHARSET else 0 for b in range(256))
_T2 = bytes(((2 * UVCI_CHARSET.index(chr(b))) // _N + (2 * UVCI_CHARSET.index(chr(b))) % _N)
            if chr(b) in UVCI_CHARSET else 0 for b in range(256))


def uvci_batch(n: int, country: str = COUNTRY) -> list[str]:
    """``n`` new UVCIs ``URN:UVCI:01:VN:<32 hex>#<check>``, as :func:`~vaxlib.sign.payload.make_uvci`.

    128 random bits each (one ``os.urandom`` call for the batch); the Luhn mod N
    sum of the fixed prefix is computed once and the unique part's addends are
    looked up with ``bytes.translate`` (from the right: odd positions doubled).
    """
    body = f"URN:UVCI:01:{country}:"
    width = 32
    # the prefix's contribution depends only on its distance from the right end
    rev = (body + "0" * width)[::-1][width:]
    start = width  # rev index of the prefix's last character
    const = sum(_T2[ord(c)] if (start + i) % 2 == 0 else _T1[ord(c)] for i, c in enumerate(rev))
    hexes = os.urandom(16 * n).hex().upper().encode("ascii")
    out = []
    for i in range(0, 32 * n, 32):
        u = hexes[i:i + 32]
        total = const + sum(u[1::2].translate(_T2)) + sum(u[0::2].translate(_T1))
        out.append(f"{body}{u.decode()}#{UVCI_CHARSET[(_N - total % _N) % _N]}")
    return out


# --------------------------------------------------------------------------- encoder

def _remember(cache: dict, key: Any, value: Any) -> Any:
    if len(cache) >= CACHE_SIZE:
        cache.clear()
    cache[key] = value
    return value


class FastEncoder:
    """Assemble the CBOR claims of a batch from cached fragments (see the module docstring).

    Parameters
    ----------
    issuer : str
        The ``is`` field.
    pair : (int, int)
        ``(iat, exp)`` of the batch.
    """

    def __init__(self, issuer: str, pair: tuple[int, int]) -> None:
        self.issuer, self.pair = issuer, pair
        self.rules = field_rules()
        self.sets = value_sets()
        self.enabled = True
        # the batch constants, once, with the full schema and value sets
        try:
            code = next(iter(BY_CODE))
            tmpl = build_payload("Nguyễn Văn An", "1990-01-01", DoseRecord(1, "2022-01-01", BY_CODE[code].display),
                                 uvci=uvci_batch(1)[0], issuer=issuer)
            validate_payload(tmpl, fast=True)
        except Exception:  # a bad issuer: every row goes the reference way (and fails there)
            self.enabled = False
        iat, exp = pair
        self._head = b"".join((
            b"\xa4", _d(CLAIM_ISS), _d(COUNTRY), _d(CLAIM_IAT), _d(iat), _d(CLAIM_EXP), _d(exp),
            _d(HCERT_CLAIM), b"\xa1\x01\xa4", _d("ver"), _d(SCHEMA_VERSION), _d("nam")))
        self._tail = b"".join((_d("co"), _d(COUNTRY), _d("is"), _d(issuer), _d("ci")))
        self._names: dict = {}
        self._dobs: dict = {}
        self._dates: dict = {}
        self._products: dict = {}

    # fragments ---------------------------------------------------------------------------------
    def _name(self, full_name: Any):
        """``nam`` map + the ``dob`` key, or :data:`_INVALID`."""
        try:
            nam = dict(_nam(str(full_name)))
        except Exception:
            return _INVALID
        if not nam.get("fnt") and not nam.get("gnt"):
            return _INVALID
        if not all(self.rules[k](v) for k, v in nam.items()):
            return _INVALID
        return _d(nam) + _d("dob")

    def _dob(self, dob: Any):
        """``dob`` value + ``v`` up to ``tg``, or :data:`_INVALID`."""
        try:
            dob = clean_dob(dob)
        except PayloadError:
            return _INVALID
        if not self.rules["dob"](dob):
            return _INVALID
        return _d(dob) + _d("v") + b"\x81\xaa" + _d("tg") + _d(TG_COVID19)

    def _date(self, value: Any):
        """``dt`` value + the batch tail up to the ``ci`` key, or :data:`_INVALID`."""
        vdate = str(value)[:10]
        try:
            date.fromisoformat(vdate)
        except ValueError:
            return _INVALID
        if not self.rules["dt"](vdate):
            return _INVALID
        return _d(vdate) + self._tail

    def _product(self, vaccine: Any, dn: Any):
        """``vp mp ma dn sd`` + the ``dt`` key and the shape ``(mp, dn, sd)``, or :data:`_INVALID`."""
        code = _product_code(str(vaccine)) if vaccine is not None else None
        if code is None:
            return _INVALID
        product = BY_CODE[code]
        try:
            dn = int(dn)
        except (TypeError, ValueError):
            return _INVALID
        if dn < 1:
            return _INVALID
        sd = product.series_doses if dn <= product.series_doses else dn
        if not (self.rules["dn"](dn) and self.rules["sd"](sd)):
            return _INVALID
        sets = self.sets
        if product.vp not in sets.vp or product.mp not in sets.mp or product.ma not in sets.ma:
            return _INVALID
        frag = b"".join((_d("vp"), _d(product.vp), _d("mp"), _d(product.mp), _d("ma"), _d(product.ma),
                         _d("dn"), _d(dn), _d("sd"), _d(sd), _d("dt")))
        return frag, (product.mp, dn, sd)

    # assembling ----------------------------------------------------------------------------------
    def encode(self, row: Sequence, uvci: str) -> tuple[bytes, tuple] | None:
        """The claims bytes and the row's shape, or ``None``: use the reference path for this row.

        ``row`` is ``(person_id, full_name, dob, dose_number, vaccination_date, vaccine)``.
        """
        if not self.enabled:
            return None
        _, full_name, dob, dn, vdate, vaccine = row
        try:
            nam = self._names.get(full_name)
            if nam is None:
                nam = _remember(self._names, full_name, self._name(full_name))
            dobf = self._dobs.get(dob)
            if dobf is None:
                dobf = _remember(self._dobs, dob, self._dob(dob))
            dtf = self._dates.get(vdate)
            if dtf is None:
                dtf = _remember(self._dates, vdate, self._date(vdate))
            key = (vaccine, dn)
            prod = self._products.get(key)
            if prod is None:
                prod = _remember(self._products, key, self._product(vaccine, dn))
        except TypeError:  # unhashable value
            return None
        if not (nam and dobf and dtf and prod) or not self.rules["ci"](uvci):
            return None
        return b"".join((self._head, nam, dobf, prod[0], dtf, _d(uvci))), prod[1]

    def reference(self, row: Sequence, uvci: str, *, validate: bool = True, strict: bool = False) -> bytes:
        """The same claims the slow, obvious way: ``build_payload`` + the full schema + ``cbor2``.

        The full schema is checked with the compiled validator (the whole combined
        schema, see :func:`~vaxlib.sign.payload.validate_schema_fast`; importing
        jsonschema costs a worker ~2 s of CPU), or with jsonschema when ``strict``.
        Raises whatever :func:`build_payload` / :func:`validate_payload` raise.
        """
        from vaxlib.sign.payload import cwt_claims, encode_claims

        _, full_name, dob, dn, vdate, vaccine = row
        payload = build_payload(full_name, dob, DoseRecord(dn, vdate, vaccine), uvci=uvci,
                                issuer=self.issuer)
        if validate:
            validate_payload(payload, fast=not strict)
        return encode_claims(cwt_claims(payload, self.pair))
