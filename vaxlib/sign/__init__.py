"""EU Digital COVID Certificates (HCERT / DCC) for verified people: keys, signing, QR, verification.

Modules
-------
errors   specific exceptions, one per rejection reason (``BadPrefix`` ... ``Revoked``)
hc1      ``HC1:`` + Base45 + zlib transport encoding
cose     COSE_Sign1 with ES256 / PS256
payload  DCC 1.3.x payload, ICAO 9303 names, UVCI with Luhn mod N, CWT claims, schema/value sets
keys     CSCA and DSC certificates, encrypted private keys, trust list, rotation
verify   :class:`~vaxlib.sign.verify.Verifier` and input readers (HC1 text, files, tables, QR images)
ledger   signing ledger and the UVCI-hash revocation list
qr       QR images (error correction Q, alphanumeric mode)
batch    ``vax sign`` in bulk (all-verified people only, process pool, streamed Parquet)
fastpath the batch signer's claims from cached, schema-checked CBOR fragments (sampled against payload)
cli      ``vax keys``, ``vax sign``, ``vax verify``

Submodules are imported on use so that ``vax --help`` stays fast.
"""
