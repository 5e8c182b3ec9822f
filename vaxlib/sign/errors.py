"""Exceptions of the signing and verification chain.

One class per reason a verifier can reject a certificate, in the order the
checks run (the itsdangerous habit: a specific, documented exception that
says what went wrong).  Every class has a short machine ``reason`` code and
a Vietnamese and an English message; nothing personal is ever put in them.
"""
from __future__ import annotations

from vaxlib.errors import Worded

__all__ = [
    "SignError", "PassphraseMissing", "KeyStoreError", "PayloadError", "NotVerified",
    "VerificationError", "BadPrefix", "BadBase45", "BadCompression", "BadCose",
    "BadCwt", "UnknownKid", "UnsupportedAlgorithm", "BadSignature", "KeyUsageMismatch",
    "Expired", "NotYetValid", "SignerNotValid", "SchemaInvalid", "ValueSetInvalid",
    "Revoked", "QrUnreadable", "AlgNotProtected", "TooLarge", "REASONS",
]


class SignError(Worded, Exception):
    """Base class of everything that stops us from issuing a certificate (worded in
    :mod:`vaxlib.i18n` when raised with :meth:`~vaxlib.errors.Worded.say`)."""


class PassphraseMissing(SignError):
    """``VAX_KEY_PASSPHRASE`` is not set (or empty): private keys cannot be opened or written."""


class KeyStoreError(SignError):
    """The key folder is missing a file, or a key cannot be decrypted (wrong passphrase)."""


class PayloadError(SignError):
    """A payload we built does not validate against the DCC schema or value sets (never signed)."""


class NotVerified(SignError):
    """A person whose dose records are not all ``verified`` was asked to be signed."""


class VerificationError(Exception):
    """Base class of every rejection by the verifier.

    Attributes
    ----------
    reason : str
        Stable machine code (``bad_prefix``, ``expired``, ...).
    """

    reason = "invalid"
    vi = "Chứng nhận không hợp lệ"
    en = "invalid certificate"

    def __init__(self, detail: str = "") -> None:
        self.detail = detail
        super().__init__(f"{self.reason}: {self.en}" + (f" ({detail})" if detail else ""))

    def message(self, lang: str = "vi") -> str:
        """Human message in Vietnamese (``"vi"``, default) or English (``"en"``)."""
        text = self.vi if lang == "vi" else self.en
        return text + (f" ({self.detail})" if self.detail else "")


class BadPrefix(VerificationError):
    reason, vi, en = "bad_prefix", "Thiếu tiền tố HC1:", "missing or unsupported context prefix (expected HC1:)"


class BadBase45(VerificationError):
    reason, vi, en = "bad_base45", "Mã Base45 hỏng", "not valid Base45 text"


class BadCompression(VerificationError):
    reason, vi, en = "bad_compression", "Dữ liệu nén zlib hỏng", "not valid zlib data"


class BadCose(VerificationError):
    reason, vi, en = "bad_cose", "Cấu trúc COSE_Sign1 không hợp lệ", "not a valid COSE_Sign1 structure"


class BadCwt(VerificationError):
    reason, vi, en = "bad_cwt", "Nội dung CWT/HCERT không hợp lệ", "payload is not a valid CWT with an HCERT claim"


class UnknownKid(VerificationError):
    reason, vi, en = "unknown_kid", "Khoá ký không có trong danh sách tin cậy", "signing key (kid) not in the trust list"


class UnsupportedAlgorithm(VerificationError):
    reason, vi, en = "unsupported_alg", "Thuật toán ký không được hỗ trợ", "signature algorithm not supported (ES256, PS256)"


class AlgNotProtected(VerificationError):
    reason, vi, en = ("alg_unprotected", "Thuật toán ký (alg) không nằm trong phần tiêu đề được bảo vệ",
                      "signature algorithm (alg) is not in the protected header")


class BadSignature(VerificationError):
    reason, vi, en = "bad_signature", "Chữ ký không hợp lệ", "signature does not verify"


class KeyUsageMismatch(VerificationError):
    reason, vi, en = "key_usage", "Chứng thư ký không được phép ký loại chứng nhận này", "signer certificate not allowed for this certificate type"


class Expired(VerificationError):
    reason, vi, en = "expired", "Chứng nhận đã hết hạn", "certificate has expired"


class NotYetValid(VerificationError):
    reason, vi, en = "not_yet_valid", "Chứng nhận chưa có hiệu lực", "certificate is not valid yet (issued in the future)"


class SignerNotValid(VerificationError):
    reason, vi, en = "signer_not_valid", "Chứng thư ký (DSC) không có hiệu lực vào thời điểm ký", "signer certificate (DSC) not valid when the certificate was issued"


class SchemaInvalid(VerificationError):
    reason, vi, en = "schema_invalid", "Nội dung không đúng lược đồ DCC", "payload does not match the DCC schema"


class ValueSetInvalid(VerificationError):
    reason, vi, en = "value_set_invalid", "Mã không có trong bộ giá trị DCC", "a code is not in the DCC value sets"


class Revoked(VerificationError):
    reason, vi, en = "revoked", "Chứng nhận đã bị thu hồi", "certificate has been revoked"


class QrUnreadable(VerificationError):
    reason, vi, en = "qr_unreadable", "Không đọc được mã QR", "no readable QR code in the image"


class TooLarge(VerificationError):
    reason, vi, en = "too_large", "Đầu vào quá lớn để là một chứng nhận", "input too large to be a certificate"


#: reason code -> exception class, for reports and tests
REASONS: dict[str, type[VerificationError]] = {
    cls.reason: cls
    for cls in (BadPrefix, BadBase45, BadCompression, BadCose, BadCwt, UnknownKid,
                UnsupportedAlgorithm, AlgNotProtected, BadSignature, KeyUsageMismatch, Expired, NotYetValid,
                SignerNotValid, SchemaInvalid, ValueSetInvalid, Revoked, QrUnreadable, TooLarge)
}
